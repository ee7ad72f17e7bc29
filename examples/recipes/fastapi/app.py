"""Coursely: a small FastAPI app with product analytics on both sides.

- In the browser, posthog-js (the snippet in ``templates/course.html``): page views, autocapture,
  and ``posthog.identify(customer_id)`` once the visitor has bought a course.
- On the server, posthog's async client ``AsyncPosthog``, made in the app's lifespan (it belongs
  to the event loop that serves the app) and shut down with it: ``course_viewed`` and
  ``course_purchased`` (the money: server side), under the customer's id.

``AsyncPosthog`` sends its batch every 5 s, from its own tasks on the app's loop. Nothing
outside that loop can flush it, so the app does: right after the response of a purchase (a
background task), and at shutdown. Run it by hand with ``uvicorn app:app``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from posthog import AsyncPosthog
from pydantic import BaseModel

POSTHOG_KEY = os.environ.get("POSTHOG_KEY", "phc_Tz3vB8nQ1mK6wR4pY9xL2cH5dG7sJ0fA3eUoWi")
POSTHOG_HOST = os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com")

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    summary: str
    price: float


COURSES = {
    course.id: course
    for course in [
        Course("python-101", "Python 101", "From zero to scripts in six weeks.", 49.0),
        Course("sql-deep-dive", "SQL Deep Dive", "Window functions without fear.", 79.0),
    ]
}


class Enrollment(BaseModel):
    course_id: str
    email: str


class Subscription(BaseModel):
    email: str
    topic: str = "new-courses"


def customer_id_for(email: str) -> str:
    """The customer's id (stable per email, like a primary key)."""
    return "cus_" + hashlib.sha256(email.lower().encode()).hexdigest()[:12]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.posthog = AsyncPosthog(POSTHOG_KEY, host=POSTHOG_HOST)
    yield
    await app.state.posthog.shutdown()  # flushes what is still queued


def posthog_client(request: Request) -> AsyncPosthog:
    return request.app.state.posthog


PostHogClient = Annotated[AsyncPosthog, Depends(posthog_client)]


def create_app() -> FastAPI:
    app = FastAPI(title="Coursely", lifespan=lifespan)

    @app.get("/courses/{course_id}", response_class=HTMLResponse)
    async def course_page(request: Request, course_id: str) -> HTMLResponse:
        course = COURSES.get(course_id)
        if course is None:
            raise HTTPException(404, "no such course")
        context = {"course": course, "posthog_key": POSTHOG_KEY, "posthog_host": POSTHOG_HOST}
        return templates.TemplateResponse(request, "course.html", context)

    @app.post("/api/enrollments")
    async def enroll(
        enrollment: Enrollment,
        background: BackgroundTasks,
        posthog: PostHogClient,
    ) -> dict[str, str]:
        course = COURSES.get(enrollment.course_id)
        if course is None:
            raise HTTPException(404, "no such course")
        customer_id = customer_id_for(enrollment.email)
        order_id = "ord_" + secrets.token_hex(6)
        posthog.capture(
            "course_purchased",
            distinct_id=customer_id,
            properties={
                "course_id": course.id,
                "order_id": order_id,
                "amount": course.price,
                "currency": "USD",
                "$set": {"email": enrollment.email},
                "$set_once": {"first_course": course.id},
            },
        )
        # A purchase should reach PostHog now, not with the next batch: flush once the
        # response is sent (the request does not wait for PostHog).
        background.add_task(posthog.flush)
        return {"order_id": order_id, "customer_id": customer_id}

    @app.post("/api/newsletter")
    async def subscribe(
        subscription: Subscription,
        posthog: PostHogClient,
    ) -> dict[str, bool]:
        # Not urgent: it goes with the client's next batch (within 5 s, or at shutdown).
        posthog.capture(
            "newsletter_subscribed",
            distinct_id=customer_id_for(subscription.email),
            properties={"topic": subscription.topic, "$set": {"newsletter": True}},
        )
        return {"subscribed": True}

    return app


app = create_app()
