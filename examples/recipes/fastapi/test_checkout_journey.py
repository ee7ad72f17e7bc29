"""Coursely's checkout, as a team would test it: a real browser with the real posthog-js, the
server's purchase from ``AsyncPosthog`` under uvicorn, one timeline, one person."""

from __future__ import annotations

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


def test_a_visitor_who_buys_a_course_is_one_person(
    analytics: Analytics, analytics_factory: AnalyticsFactory, page: Page, live_url: str
) -> None:
    email = analytics_factory.user().email
    page.goto(f"{live_url}/courses/python-101")
    anon = analytics.wait_for("$pageview", source="client")[0].distinct_id
    page.fill("input[name=email]", email)
    page.click("#buy")
    expect(page.locator("#status")).to_contain_text("Enrolled")
    [purchase] = analytics.wait_for("course_purchased", source="server", course_id="python-101")
    customer = purchase.distinct_id
    analytics.wait_for("$identify", distinct_id=customer, **{"$anon_distinct_id": anon})

    assert assert_same_person(analytics) == customer  # the anonymous visitor == the customer
    assert_same_user_journey(
        analytics, ["$pageview", ("$autocapture", "client"), ("course_purchased", "server")]
    )
    assert_no_duplicates(analytics)  # the purchase is tracked once, by the server
    assert_no_pii(analytics)
    assert_person_properties(analytics, customer, email=email, first_course="python-101")
