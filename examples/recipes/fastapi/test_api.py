"""Coursely's server events with no browser: FastAPI's ``TestClient`` runs the app (and its
``AsyncPosthog``) on its own event loop; the plugin records the client's httpx requests."""

from __future__ import annotations

from app import create_app
from fastapi.testclient import TestClient

from pytest_hybrid_analytics import (
    Analytics,
    AnalyticsFactory,
    assert_no_duplicates,
    assert_person_properties,
)


def test_a_purchase_is_tracked_on_the_server_at_once(
    analytics: Analytics, analytics_factory: AnalyticsFactory, client: TestClient
) -> None:
    email = analytics_factory.user().email
    answer = client.post("/api/enrollments", json={"course_id": "python-101", "email": email})
    order = answer.json()
    # The app flushes after a purchase's response: no waiting for AsyncPosthog's 5 s batch.
    [purchase] = analytics.wait_for(
        "course_purchased", source="server", order_id=order["order_id"], amount=49.0
    )

    assert purchase.distinct_id == order["customer_id"]
    assert purchase.transport == "httpx"  # AsyncPosthog's road
    assert_no_duplicates(analytics)
    assert_person_properties(
        analytics, order["customer_id"], email=email, first_course="python-101"
    )


def test_events_still_queued_are_sent_when_the_app_shuts_down(
    analytics: Analytics, analytics_factory: AnalyticsFactory
) -> None:
    """The plugin cannot flush an ``AsyncPosthog`` (it belongs to the app's event loop): the
    app's lifespan must, or the batch dies with the loop."""
    email = analytics_factory.user().email
    with TestClient(create_app()) as client:
        client.post("/api/newsletter", json={"email": email})
    # Leaving the block ran the lifespan's end, ``await posthog.shutdown()``.
    [subscribed] = analytics.wait_for("newsletter_subscribed", source="server")

    assert subscribed.properties["topic"] == "new-courses"
    assert_person_properties(analytics, subscribed.distinct_id, newsletter=True)
