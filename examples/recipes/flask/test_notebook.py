"""Notebook's analytics, as a team would test them: a real browser journey with the real
posthog-js, the server's events from the real ``posthog`` SDK, one timeline, one person."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect

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


def sign_up_and_upgrade(page: Page, url: str, email: str, analytics: Analytics) -> str:
    """A new visitor lands, signs up and upgrades; returns the user id the browser identified
    with."""
    page.goto(url)
    anon = analytics.wait_for("$pageview", source="client")[0].distinct_id
    page.click("#get-started")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#create-account")
    # A click that navigates: the test waits for the page it lands on, as a user would.
    page.wait_for_url("**/notes")
    # The page after sign-up identifies: the anonymous visitor becomes the user.
    [identify] = analytics.wait_for("$identify", source="client", **{"$anon_distinct_id": anon})
    page.click("#upgrade")
    expect(page.locator("#plan")).to_have_text("pro")
    analytics.wait_for("plan_upgraded", source="server", distinct_id=identify.distinct_id)
    return identify.distinct_id


def test_a_visitor_who_signs_up_and_upgrades_is_one_person(
    analytics: Analytics, analytics_factory: AnalyticsFactory, page: Page, live_url: str
) -> None:
    email = analytics_factory.user().email
    user_id = sign_up_and_upgrade(page, live_url, email, analytics)

    assert assert_same_person(analytics) == user_id  # the anonymous visitor == the paying user
    assert_same_user_journey(
        analytics,
        ["$pageview", ("user_signed_up", "server"), ("$identify", "client"), "plan_upgraded"],
    )
    assert_no_duplicates(analytics)  # the upgrade is tracked once, by the server
    assert_no_pii(analytics)  # the password typed into the form is in no event
    assert_person_properties(analytics, user_id, email=email, plan="pro")


def test_a_returning_user_who_logs_in_is_joined_to_their_account(
    analytics: Analytics,
    analytics_factory: AnalyticsFactory,
    page: Page,
    live_url: str,
    app: Flask,
) -> None:
    email = analytics_factory.user().email
    app.test_client().post("/signup", data={"email": email, "password": PASSWORD})
    [signup] = analytics.wait_for("user_signed_up", source="server")

    page.goto(f"{live_url}/login")  # a new browser: a new anonymous id
    anon = analytics.wait_for("$pageview", source="client")[0].distinct_id
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#log-in")
    page.wait_for_url("**/notes")
    analytics.wait_for("$identify", distinct_id=signup.distinct_id, **{"$anon_distinct_id": anon})
    analytics.wait_for("user_logged_in", source="server", distinct_id=signup.distinct_id)

    assert assert_same_person(analytics) == signup.distinct_id
    assert_no_duplicates(analytics)
    assert_no_pii(analytics)


def test_signup_and_upgrade_are_tracked_on_the_server(
    analytics: Analytics, analytics_factory: AnalyticsFactory, app: Flask
) -> None:
    """No browser: Flask's test client drives the views; the plugin records the server SDK."""
    email = analytics_factory.user().email
    client = app.test_client()
    client.post("/signup", data={"email": email, "password": PASSWORD})
    [signup] = analytics.wait_for("user_signed_up", source="server", signup_method="email")
    assert client.post("/api/upgrade").json == {"plan": "pro"}
    [upgrade] = analytics.wait_for("plan_upgraded", source="server", price=8.0)

    assert upgrade.distinct_id == signup.distinct_id
    assert upgrade.lib == "posthog-python"
    assert_no_duplicates(analytics)
    assert_person_properties(analytics, signup.distinct_id, email=email, plan="pro")


def test_the_app_in_its_own_process_uses_one_host_for_both_sides(
    analytics: Analytics, analytics_factory: AnalyticsFactory, page: Page, app_process: str
) -> None:
    """``POSTHOG_HOST`` set to ``analytics.host``: the server SDK sends there, and the pages'
    posthog-js loads from and sends to it, as with a self-hosted PostHog or a reverse proxy."""
    email = analytics_factory.user().email
    user_id = sign_up_and_upgrade(page, app_process, email, analytics)

    assert page.evaluate("posthog.config.api_host") == analytics.host
    assert {e.transport for e in analytics.find(source="server")} == {"collector"}
    assert assert_same_person(analytics) == user_id
    assert_no_duplicates(analytics)
    assert_no_pii(analytics)
    assert_person_properties(analytics, user_id, email=email, plan="pro")
