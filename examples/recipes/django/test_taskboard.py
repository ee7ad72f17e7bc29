"""Taskboard's analytics, as a team would test them: the site under pytest-django's
``live_server``, a real browser journey with the real posthog-js, the server's events from the
``posthog`` SDK through ``PosthogContextMiddleware``, one timeline, one person."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pytest_hybrid_analytics import (
    Analytics,
    AnalyticsFactory,
    assert_no_duplicates,
    assert_no_pii,
    assert_person_properties,
    assert_same_person,
    assert_same_user_journey,
)

PASSWORD = "correct horse battery staple"


def test_a_visitor_who_signs_up_and_creates_a_project_is_one_person(
    analytics: Analytics, analytics_factory: AnalyticsFactory, page: Page, live_server: LiveServer
) -> None:
    email = analytics_factory.user().email
    page.goto(live_server.url)
    anon = analytics.wait_for("$pageview", source="client")[0].distinct_id
    page.click("#get-started")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#create-account")
    # A click that navigates: the test waits for the page it lands on, as a user would.
    page.wait_for_url("**/projects/")
    [identify] = analytics.wait_for("$identify", source="client", **{"$anon_distinct_id": anon})
    user_id = identify.distinct_id
    page.fill("input[name=name]", "Launch plan")
    page.click("#create-project")
    expect(page.locator("#projects")).to_have_text("Launch plan")
    [created] = analytics.wait_for("project_created", source="server", distinct_id=user_id)

    assert created.properties["$request_path"] == "/projects/"  # from the middleware
    assert assert_same_person(analytics) == user_id
    assert_same_user_journey(
        analytics, ["$pageview", "user_signed_up", ("$identify", "client"), "project_created"]
    )
    assert_no_duplicates(analytics)
    assert_no_pii(analytics)  # the password typed into the form is in no event
    assert_person_properties(analytics, user_id, email=email, plan="free", has_projects=True)


def test_a_returning_user_who_logs_in_is_joined_to_their_account(
    analytics: Analytics,
    analytics_factory: AnalyticsFactory,
    page: Page,
    live_server: LiveServer,
    django_user_model: type[User],
) -> None:
    # ORM work in the test, while Playwright runs: see conftest.py for why this is allowed.
    email = analytics_factory.user().email
    user = django_user_model.objects.create_user(username=email, email=email, password=PASSWORD)

    page.goto(f"{live_server.url}/login/")
    anon = analytics.wait_for("$pageview", source="client")[0].distinct_id
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#log-in")
    page.wait_for_url("**/projects/")
    analytics.wait_for("$identify", distinct_id=str(user.pk), **{"$anon_distinct_id": anon})
    analytics.wait_for("user_logged_in", source="server", distinct_id=str(user.pk))

    assert assert_same_person(analytics) == str(user.pk)
    assert_no_duplicates(analytics)
    assert_no_pii(analytics)


@pytest.mark.django_db
def test_signup_and_projects_are_tracked_on_the_server(
    analytics: Analytics, analytics_factory: AnalyticsFactory, client: Client
) -> None:
    """No browser: Django's test client drives the views; the plugin records the server SDK."""
    email = analytics_factory.user().email
    client.post("/signup/", {"email": email, "password": PASSWORD})
    [signup] = analytics.wait_for("user_signed_up", source="server")
    client.post("/projects/", {"name": "Q3 roadmap"})
    [created] = analytics.wait_for("project_created", source="server")

    assert created.distinct_id == signup.distinct_id  # the middleware's id: the user's pk
    assert created.lib == "posthog-python"
    assert_no_duplicates(analytics)
    assert_person_properties(analytics, signup.distinct_id, email=email, has_projects=True)
