"""The guide's validation procedure, one test per step, against the Hoodie Shop.

"Client-side vs server-side tracking" ends in six validation steps and a checklist; each step
is a test here, written as a user of pytest-hybrid-analytics would write it: real posthog-js in
Chromium, the real ``posthog`` SDK on the server, no fixed sleeps, no app changes.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from playwright.sync_api import Browser, Page, expect
from shop import Shop, user_id_for

from pytest_hybrid_analytics import (
    Analytics,
    assert_flag_exposures,
    assert_flags_consistent,
    assert_identified_before,
    assert_no_duplicates,
    assert_no_ingestion_warnings,
    assert_no_pii,
    assert_same_api_key,
    assert_same_person,
    assert_same_user_journey,
    assert_session_linked,
    assert_single_distinct_id,
    assert_utc_timestamps,
)

CARD = "4242 4242 4242 4242"


def test_step_1_client_side_setup(analytics: Analytics, page: Page, shop: Shop) -> None:
    """The SDK loaded and initialised; autocapture, recording and flags available."""
    analytics.flags.set("new-checkout", "test")
    page.goto(shop.url)
    setup = page.evaluate(
        """() => new Promise(done => posthog.onFeatureFlags(() => done({
            loaded: posthog.__loaded === true,
            distinctId: posthog.get_distinct_id(),
            apiHost: posthog.config.api_host,
            autocapture: posthog.config.autocapture,
            recording: !posthog.config.disable_session_recording,
            flag: posthog.getFeatureFlag('new-checkout'),
        })))"""
    )
    assert setup["loaded"]
    assert setup["apiHost"] == "https://us.i.posthog.com"
    assert setup["autocapture"] is not False
    assert setup["recording"]
    assert setup["flag"] == "test"
    [pageview] = analytics.wait_for("$pageview", source="client")
    assert pageview.distinct_id == setup["distinctId"]
    page.click("#add-to-cart")
    analytics.wait_for("$autocapture", source="client")  # autocapture really is on
    print(
        f"client SDK {pageview.properties['$lib_version']} loaded, distinct id "
        f"{setup['distinctId']}, autocapture on, flags available"
    )


def test_step_2_server_side_setup(analytics: Analytics, shop: Shop) -> None:
    """The server SDK captures, identifies, and delivers without waiting for process exit."""
    answer = requests.post(
        f"{shop.url}/api/test/server-event",
        timeout=10,
        json={"distinct_id": "validation_user", "event_name": "server_test"},
    )
    assert answer.json() == {"event_name": "server_test", "distinct_id": "validation_user"}
    [event] = analytics.wait_for(
        "server_test", source="server", distinct_id="validation_user", timeout=2
    )
    assert event.lib == "posthog-python"
    login = requests.post(f"{shop.url}/api/login", json={"email": "ops@example.com"}, timeout=10)
    user = login.json()["user_id"]
    [person] = analytics.wait_for("$set", source="server", distinct_id=user)
    # (posthog-python adds the request context's $context_tags to a $set made inside one)
    assert {k: v for k, v in person.set.items() if not k.startswith("$")} == {
        "email": "ops@example.com",
        "name": "Ops",
    }


def test_step_3_identity_consistency(analytics: Analytics, page: Page, shop: Shop) -> None:
    """The guide's three approaches each end in one distinct id for client and server."""
    page.goto(f"{shop.url}/account")
    anon = analytics.wait_for("$pageview")[0].distinct_id
    # Approach 1: the client passes posthog.get_distinct_id() to the server.
    page.click("#subscribe")
    expect(page.locator("#status")).to_have_text("subscribed to pro")
    analytics.wait_for("subscription_created", source="server")
    assert_single_distinct_id(analytics, expected=anon)

    # Approaches 2 and 3: the login sets a ph_distinct_id cookie, the client identifies with
    # it, and the server uses the same user id.
    page.goto(f"{shop.url}/login")
    page.click("#login-button")
    expect(page.locator("#welcome")).to_be_visible()
    user = user_id_for("jane@example.com")
    analytics.wait_for("$identify", source="client", distinct_id=user)
    page.goto(f"{shop.url}/account")
    page.click("#subscribe-team")
    analytics.wait_for("subscription_created", source="server", distinct_id=user, plan="team")
    after_login = [e for e in analytics.events if e.distinct_id != anon]
    assert_single_distinct_id(after_login, expected=user)
    # ... and the anonymous visitor and the user are one person, known from the login on: no
    # event of theirs left under the anonymous id after it.
    assert assert_same_person(analytics) == user
    assert_identified_before(analytics, "user_logged_in")


def test_step_4_event_attribution(analytics: Analytics, page: Page, shop: Shop) -> None:
    """A full journey (page view, button click, server purchase) is one person's, one key."""
    page.goto(shop.url)
    page.click("#add-to-cart")
    analytics.wait_for("add_to_cart", source="client")
    page.goto(f"{shop.url}/checkout")
    page.fill("#card-number", CARD)
    page.click("#submit-payment")
    analytics.wait_for("purchase_completed", source="server")
    assert_same_user_journey(
        analytics,
        [
            "$pageview",
            ("add_to_cart", "client"),
            {
                "event": "purchase_completed",
                "source": "server",
                "properties": {"amount": 59.0, "currency": "EUR"},
            },
        ],
    )
    assert_single_distinct_id(analytics)
    assert_same_api_key(analytics)


def test_step_5_performance(
    analytics: Analytics, page: Page, shop: Shop, record_property: Callable[[str, object], None]
) -> None:
    """Capture cost per event on each side (printed, never asserted: CI machines vary)."""
    page.goto(shop.url)
    analytics.wait_for("$pageview")
    client_ms = page.evaluate("""() => {
        const start = performance.now();
        for (let i = 0; i < 50; i++) posthog.capture('performance_test_event', {iteration: i});
        return performance.now() - start;
    }""")
    visitor = page.evaluate("posthog.get_distinct_id()")
    server = requests.post(
        f"{shop.url}/api/test/performance",
        json={"iterations": 50, "distinct_id": visitor},
        timeout=30,
    ).json()
    assert len(analytics.wait_for("performance_test_event", source="client", count=50)) == 50
    assert len(analytics.wait_for("server_performance_test", source="server", count=50)) == 50
    print(
        f"client: {client_ms / 50:.3f} ms per capture; server: "
        f"{server['processing_ms'] / 50:.3f} ms per capture (50 events each)"
    )


def test_step_6_end_to_end_purchase_flow(analytics: Analytics, page: Page, shop: Shop) -> None:
    """The guide's integration test, with the checks it wished it had."""
    analytics.flags.set("new-checkout", "test")  # the checkout flag, read on both sides
    page.goto(shop.url)
    initial = page.evaluate("posthog.get_distinct_id()")
    page.click("#add-to-cart")
    analytics.wait_for("add_to_cart", price=59.0)
    page.click("#go-to-cart")
    # As a user would: the cart page is there (its posthog-js loaded, its $pageview sent)
    # before the click; a click on the snippet's stub is lost with the page it leaves.
    analytics.wait_for("$pageview", source="client", count=2)
    page.click("#checkout")
    page.wait_for_url("**/checkout")
    page.fill("#card-number", CARD)
    page.click("#submit-payment")
    expect(page.locator("#confirmation")).to_be_visible()
    assert page.evaluate("posthog.get_distinct_id()") == initial

    analytics.wait_for("purchase_completed", source="server", distinct_id=initial)
    analytics.flush()  # what posthog-js still holds in its batch, recorded before the checks
    assert_same_user_journey(
        analytics,
        [
            "$pageview",
            "add_to_cart",
            "checkout_started",
            "payment_submitted",
            ("purchase_completed", "server"),
        ],
        distinct_id=initial,
    )
    assert_no_duplicates(analytics)
    assert_no_pii(analytics)
    # One user, one story: the server's purchase is in the browser's session (posthog-js's
    # tracing headers, read by the server SDK's context), and the checkout flag had one value
    # for the shopper on both sides, each exposure reported once.
    assert_session_linked(analytics)
    expect(page.locator("#checkout-variant")).to_have_text("test")
    assert_flags_consistent(analytics)
    assert_flag_exposures(analytics, "new-checkout")


def test_a_returning_user_on_a_second_device_is_one_person(
    analytics: Analytics, page: Page, browser: Browser, shop: Shop
) -> None:
    """The guide's "Anonymous users not merging": a visitor subscribes anonymously, then logs
    in, on two devices; PostHog must count one person, as its merge rules decide."""
    second = analytics.attach(browser.new_context()).new_page()
    user = user_id_for("jane@example.com")
    for device, plan in ((page, "pro"), (second, "team")):
        device.goto(f"{shop.url}/account")
        device.click("#subscribe" if plan == "pro" else "#subscribe-team")
        expect(device.locator("#status")).to_have_text(f"subscribed to {plan}")
        # As a user would: the click's event is on its way before the page is left (posthog-js
        # loses a batch a navigation catches in its gzip; README, 'Browser').
        analytics.wait_for("subscribe_clicked", source="client", plan=plan)
        device.goto(f"{shop.url}/login")
        device.click("#login-button")
        expect(device.locator("#welcome")).to_be_visible()
    analytics.wait_for("subscription_created", source="server", count=2)
    analytics.wait_for("user_logged_in", source="server", distinct_id=user, count=2)
    analytics.flush()
    assert assert_same_person(analytics) == user
    assert_no_ingestion_warnings(analytics)
    second.context.close()


def test_background_job_is_tracked_server_side(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    """The data export runs in the background and reports success or the error."""
    page.goto(f"{shop.url}/account")
    page.click("#export")
    [done] = analytics.wait_for(
        "data_export_completed", source="server", duration_ms=lambda ms: ms >= 0, file_size_mb=float
    )
    page.click("#export-broken")
    [failed] = analytics.wait_for("data_export_failed", source="server")
    assert failed.properties["error_message"] == "disk quota exceeded while writing the archive"
    assert done.distinct_id == failed.distinct_id == page.evaluate("posthog.get_distinct_id()")
    assert not [note for note in analytics.client_notes if "never shut down" in note.problem]


def test_billing_webhook_is_tracked_server_side(analytics: Analytics, shop: Shop) -> None:
    """A third-party webhook becomes a server event (sent by hand-rolled HTTP) for the customer
    it names, timestamped in UTC."""
    answer = requests.post(
        f"{shop.url}/webhooks/billing",
        timeout=10,
        json={
            "type": "invoice.paid",
            "customer_id": "user_42",
            "subscription_id": "sub_1",
            "amount": 29.99,
            "renewal_count": 3,
        },
    )
    assert answer.json() == {"received": True}
    [renewal] = analytics.wait_for("subscription_renewed", source="server", renewal_count=3)
    assert renewal.distinct_id == "user_42"
    assert_utc_timestamps(analytics)
    assert (
        requests.post(f"{shop.url}/webhooks/billing", json={"type": "nope"}, timeout=10).status_code
        == 400
    )
