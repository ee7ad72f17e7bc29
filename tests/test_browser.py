"""The browser road: the published posthog-js in real Chromium, pages unchanged.

Every page calls ``posthog.init('phc_web_project', {api_host: 'https://us.i.posthog.com'})``
with default options, loading posthog-js as the snippet, a script tag, or an npm ES module.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from web_app import WebApp

from pytest_hybrid_analytics import (
    Analytics,
    assert_no_duplicates,
    assert_same_person,
    assert_single_distinct_id,
)

STYLES = ["snippet.html", "script-tag.html", "module.html"]


@pytest.mark.parametrize("style", STYLES)
def test_an_unchanged_page_delivers_every_kind_of_event(
    analytics: Analytics, page: Page, web_app: WebApp, style: str
) -> None:
    page.goto(f"{web_app.url}/{style}")
    [pageview] = analytics.wait_for("$pageview", source="client")
    anon = pageview.distinct_id
    assert (pageview.api_key, pageview.lib, pageview.transport) == (
        "phc_web_project",
        "web",
        "browser",
    )
    assert pageview.properties["$current_url"] == f"{web_app.url}/{style}"

    page.click("#buy")
    analytics.wait_for("purchase_clicked", plan="pro", price=29.99, distinct_id=anon)
    [click] = analytics.wait_for("$autocapture", **{"$event_type": "click"})
    assert 'text="Buy now"' in click.properties["$elements_chain"]

    page.click("#login")
    [identify] = analytics.wait_for("$identify", distinct_id="user-42")
    assert identify.properties["$anon_distinct_id"] == anon
    assert identify.set == {"email": "user42@example.com"}

    # Empty posthog-js's queue first, so no batch timer armed by the clicks above can fire
    # between the next capture and the navigation: a batch it sends then is lost by posthog-js
    # mid-gzip (README, 'Browser'). What is left in the queue at pagehide goes by beacon.
    analytics.flush()
    page.click("#leave")  # two captures, then the page navigates away at once
    page.wait_for_url("**/next.html")
    for name in ("queued_one", "queued_two", "$pageleave"):
        analytics.wait_for(name, distinct_id="user-42")
    assert analytics.find("$pageleave")[0].properties["$current_url"].endswith(style)

    assert_same_person(analytics)
    assert_no_duplicates(analytics)
    assert analytics.rejected == []


def test_flags_set_in_the_test_are_what_the_page_is_told(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    analytics.flags.set("new-checkout", "test", payload={"color": "blue"})
    page.goto(f"{web_app.url}/snippet.html")
    expect(page.locator("#flag")).to_have_text("test")
    assert page.evaluate("posthog.isFeatureEnabled('new-checkout')") is True
    assert page.evaluate("posthog.getFeatureFlagPayload('new-checkout')") == {"color": "blue"}
    assert page.evaluate("posthog.getFeatureFlag('never-set')") in (None, False)
    called = analytics.wait_for(
        "$feature_flag_called", source="client", **{"$feature_flag": "new-checkout"}
    )
    assert called[0].properties["$feature_flag_response"] == "test"


def test_the_npm_bundle_instance_is_reachable(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    analytics.flags.set("new-checkout", "test")
    page.goto(f"{web_app.url}/module.html")
    expect(page.locator("#flag")).to_have_text("test")
    distinct_id = page.evaluate("window.__hybridAnalytics.instances[0].get_distinct_id()")
    assert analytics.wait_for("$pageview")[0].distinct_id == distinct_id


@pytest.mark.parametrize(
    ("query", "config", "encoding"),
    [
        ("", {}, "gzip"),
        ("?disable_compression=1", {}, "json"),
        ("", {"supportedCompression": ["base64"]}, "base64"),
        ("?api_transport=XHR", {}, "gzip"),
    ],
    ids=["gzip-fetch", "json", "base64", "xhr"],
)
def test_every_encoding_and_transport_decodes(
    analytics: Analytics,
    page: Page,
    web_app: WebApp,
    query: str,
    config: dict[str, Any],
    encoding: str,
) -> None:
    analytics.api.remote_config.update(config)
    page.goto(f"{web_app.url}/options.html{query}")
    analytics.wait_for("$pageview")
    page.click("#buy")
    [event] = analytics.wait_for("purchase_clicked")
    assert event.encoding == encoding
    page.click("#next")  # the unload beacon: gzip, or base64 when the SDK has no compression
    [leave] = analytics.wait_for("$pageleave")
    assert leave.encoding in ("gzip", "base64")


def test_approach_1_the_client_passes_its_distinct_id(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    page.goto(f"{web_app.url}/identity.html")
    page.click("#subscribe")
    expect(page.locator("#status")).to_have_text("subscribed")
    analytics.wait_for("subscription_created", source="server", plan="pro")
    analytics.wait_for("subscribe_clicked", source="client")
    assert_single_distinct_id(analytics.find(lambda name: not name.startswith("$feature")))


def test_approach_2_both_sides_use_the_user_id(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    page.goto(f"{web_app.url}/identity.html")
    anon = analytics.wait_for("$pageview")[0].distinct_id
    page.click("#identify-and-buy")
    expect(page.locator("#status")).to_have_text("bought")
    analytics.wait_for("purchase_completed", source="server", distinct_id="user_123")
    analytics.wait_for("checkout_clicked", source="client")
    after_login = [e for e in analytics.events if e.distinct_id != anon]
    assert assert_single_distinct_id(after_login, expected="user_123") == "user_123"
    [identify] = analytics.find("$identify")
    assert identify.properties["$anon_distinct_id"] == anon
    assert assert_same_person(analytics) == "user_123"


def test_approach_3_the_login_cookie(analytics: Analytics, page: Page, web_app: WebApp) -> None:
    page.goto(f"{web_app.url}/identity.html")
    page.click("#cookie-login")
    expect(page.locator("#status")).to_have_text("logged in")
    analytics.wait_for("user_logged_in", source="server")
    analytics.wait_for("dashboard_viewed", source="client")
    logged_in = analytics.find(
        lambda name: name in ("user_logged_in", "$identify", "dashboard_viewed")
    )
    assert assert_single_distinct_id(logged_in, expected="user_456") == "user_456"
    assert assert_same_person(analytics) == "user_456"


def test_two_users_in_two_contexts_made_by_hand(
    analytics: Analytics, browser: Browser, web_app: WebApp
) -> None:
    alice, bob = browser.new_context(), browser.new_context()
    try:
        for context in (alice, bob):
            analytics.attach(context)
            context.new_page().goto(f"{web_app.url}/snippet.html")
        pageviews = analytics.wait_for("$pageview", count=2)
        assert len({e.distinct_id for e in pageviews}) == 2
        # Anonymous under posthog-js's default person_profiles 'identified_only': no person
        # until one of them is identified.
        assert analytics.persons == []
        assert {e.properties["$process_person_profile"] for e in pageviews} == {False}
        for number, context in enumerate((alice, bob), start=1):
            context.pages[0].evaluate(f"posthog.identify('user-{number}')")
        analytics.wait_for("$identify", count=2)
        assert [p.distinct_ids for p in analytics.persons] == [
            (e.distinct_id, f"user-{n}") for n, e in enumerate(pageviews, start=1)
        ]
    finally:
        alice.close()
        bob.close()


def test_attach_outside_the_fixture_is_refused() -> None:
    with pytest.raises(RuntimeError, match="attach\\(\\) needs a running harness"):
        Analytics().attach(object())


def test_recordings_surveys_and_lazy_scripts_are_answered(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    analytics.api.remote_config.update({"sessionRecording": {"endpoint": "/s/"}, "surveys": True})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{web_app.url}/snippet.html")
    page.click("#buy")
    snapshots = analytics.wait_for("$snapshot", source="client")
    assert snapshots[0].endpoint == "/s/"
    assert any("lazy-recorder.js" in url for url in requests)
    assert any("/api/surveys" in url for url in requests)
    assert all(
        url.startswith(("http://127.0.0.1", "https://us-assets.i.posthog.com")) for url in requests
    ), requests
    assert analytics.rejected == []


def test_when_posthog_js_drops_events_the_failure_says_why(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    page.goto(f"{web_app.url}/burst.html")
    analytics.wait_for("$pageview")
    page.click("#burst")
    analytics.wait_for("burst_event", count=90)
    with pytest.raises(AssertionError) as failure:
        analytics.wait_for("burst_event", n=149, timeout=1)
    message = str(failure.value)
    assert "posthog-js said in the browser console:" in message
    assert "client rate limiting" in message


def test_a_page_navigated_to_while_the_test_waits_gets_its_posthog_js(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    """A click that navigates, then straight into wait_for: the new page's snippet loads
    posthog-js while the test is blocked (no Playwright call runs route handlers then)."""
    page.goto(f"{web_app.url}/snippet.html")
    analytics.wait_for("$pageview")
    page.evaluate("location.href = '/snippet.html?second=1'")
    second = analytics.wait_for("$pageview", count=2, timeout=10)[1]
    assert second.properties["$current_url"].endswith("/snippet.html?second=1")
