"""The guide's Validation Checklist judged from a run: each line's verdict and evidence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from support import make_event

from pytest_hybrid_analytics import (
    CapturedEvent,
    ClientNote,
    Finding,
    TrackingPlan,
    find_duplicates,
)
from pytest_hybrid_analytics._model.events import event_from_wire
from pytest_hybrid_analytics._reports.audit import (
    ANONYMOUS,
    CHECKLIST,
    CLIENT_SDK,
    CRITICAL,
    ID_PASSED,
    IDENTITY,
    NETWORK_FAILURES,
    NO_DUPLICATES,
    SAME_KEY,
    SERVER_ERRORS,
    SERVER_SDK,
    SHUTDOWN,
    USER_PROPERTIES,
    UTC_TIMES,
    Audit,
    audit,
    looks_critical,
)
from pytest_hybrid_analytics._reports.records import RecordedTest

KEY = "phc_shopkey_1234567890ab"


def client(name: str, distinct_id: str, at: float, **properties: Any) -> CapturedEvent:
    return make_event(name, distinct_id, source="client", at=at, token=KEY, **properties)


def server(
    name: str,
    distinct_id: str,
    at: float,
    *,
    key: str = KEY,
    transport: str = "requests",
    **properties: Any,
) -> CapturedEvent:
    event = make_event(name, distinct_id, source="server", at=at, **properties)
    return replace(event, api_key=key, transport=transport)


def checkout(nodeid: str = "tests/test_shop.py::test_checkout", **changes: Any) -> RecordedTest:
    """The guide's purchase flow done right: anonymous visit, login, server-side purchase."""
    events = [
        client("$pageview", "anon-1", 0, **{"$is_identified": False}),
        client("$identify", "user-1", 1, **{"$anon_distinct_id": "anon-1", "$is_identified": True}),
        server("purchase_completed", "user-1", 2, amount=9.99),
    ]
    outcome = changes.pop("outcome", "passed")
    return RecordedTest(nodeid, outcome, events=changes.pop("events", events), **changes)


def line(result: Audit, check: str) -> tuple[str, tuple[str, ...]]:
    found = result.line(check)
    return found.verdict, found.evidence


def test_a_good_run_passes_every_line_it_can_judge() -> None:
    renewal = RecordedTest(
        "tests/test_billing.py::test_renewal",
        events=[server("subscription_renewed", "user-2", 0, plan="pro")],
    )
    empty = RecordedTest("tests/test_home.py::test_static_page")
    result = audit([checkout(), renewal, empty])
    assert not result.failed
    assert result.render() == (
        "Analytics audit: the guide's Validation Checklist, judged from 3 tests and 4 events\n"
        "  PASS          Client-side SDK loaded and initialized\n"
        "                2 client events from web (2) in 1 test: "
        "tests/test_shop.py::test_checkout\n"
        "  PASS          Server-side SDK initialized in application\n"
        "                2 server events from posthog-python (2) in 2 tests: "
        "tests/test_shop.py::test_checkout, tests/test_billing.py::test_renewal\n"
        "  PASS          Same API key used for both client and server\n"
        "                phc_…90ab on both sides (1 test with both sides)\n"
        "  PASS          Distinct ID passed from client to server\n"
        "                in 1 test with both sides the server used a distinct id the client "
        "sent: tests/test_shop.py::test_checkout\n"
        "  PASS          Identity consistency verified across tracking methods\n"
        "                the 1 server event in 1 test with both sides belongs to a person the "
        "client tracked (following $identify and aliases)\n"
        "  PASS          No duplicate events tracked\n"
        "                no duplicate among 4 events of 2 tests (window 10 s)\n"
        "  PASS          Critical events tracked server-side for reliability\n"
        "                tracked by the server: 'purchase_completed', 'subscription_renewed'\n"
        "  PASS          Server-side SDK shutdown on process exit\n"
        "                every posthog client created in the tests' process was shut down, in 2 "
        "tests with server events: tests/test_shop.py::test_checkout, "
        "tests/test_billing.py::test_renewal\n"
        "  PASS          Anonymous to identified user flow working\n"
        "                tests/test_shop.py::test_checkout: 'anon-1' -> 'user-1' by $identify "
        "(client)\n"
        "  CANNOT JUDGE  User properties synced between client and server\n"
        "                no person had a property set by both the client and the server\n"
        "  PASS          Timestamps in UTC\n"
        "                4 timestamps carry a time zone\n"
        "  CANNOT JUDGE  Server error handling implemented\n"
        "                no test ran with PostHog answering errors: add a test with `with "
        "analytics.faults.outage(): (or faults.fail(503)) around the app's request` that asserts "
        "the app still answers (README, 'When PostHog is down')\n"
        "  CANNOT JUDGE  Network failure handling implemented\n"
        "                no test ran with PostHog's connection dropped or slow: add a test with "
        "`analytics.faults.drop() or faults.delay(seconds) before the app's request` that asserts "
        "the app still answers (README, 'When PostHog is down')\n"
        "Not judged from a capture (check by hand): Cross-browser testing completed; Client-side "
        "fallbacks in place; Performance tested under load; Debug logging available for "
        "troubleshooting; Documentation updated for team; Monitoring and alerts configured.\n"
        "10 pass, 0 fail, 3 cannot judge."
    )


def test_a_run_with_nothing_captured_cannot_judge_anything() -> None:
    result = audit([RecordedTest("tests/test_a.py::test_a")])
    assert [line.verdict for line in result.lines] == ["cannot judge"] * len(CHECKLIST)
    assert [line.check for line in result.lines] == list(CHECKLIST)
    assert [line.evidence[0] for line in result.lines] == [
        "no test captured a client-side event: the run does not exercise the client SDK",
        "no test captured a server-side event: the run does not exercise the server SDK",
        "no client-side event carried an API key",
        "no test captured events from both the client and the server",
        "no test captured events from both the client and the server",
        "no test captured any event",
        "no test captured events whose names say a payment, an order or a subscription",
        "no test captured a server-side event",
        "no test captured an $identify or alias, nor an anonymous visitor who logged in",
        "no person had a property set by both the client and the server",
        "no event was sent with a timestamp",
        "no test ran with PostHog answering errors: add a test with `with "
        "analytics.faults.outage(): (or faults.fail(503)) around the app's request` that asserts "
        "the app still answers (README, 'When PostHog is down')",
        "no test ran with PostHog's connection dropped or slow: add a test with "
        "`analytics.faults.drop() or faults.delay(seconds) before the app's request` that asserts "
        "the app still answers (README, 'When PostHog is down')",
    ]
    assert result.render().endswith("0 pass, 0 fail, 13 cannot judge.")
    assert not result.failed


def test_a_backend_only_run_says_what_it_cannot_judge() -> None:
    result = audit(
        [RecordedTest("t::a", events=[server("data_export_completed", "u", 0, transport="")])]
    )
    assert line(result, CLIENT_SDK)[0] == "cannot judge"
    assert line(result, SAME_KEY) == ("cannot judge", ("no client-side event carried an API key",))
    assert line(result, SHUTDOWN) == (
        "cannot judge",
        (
            "server events came only by unknown: the harness sees the lifecycle of the posthog "
            "Python client in the tests' process only (check that posthog-node, AsyncPosthog and "
            "other processes call shutdown())",
        ),
    )


# -- the broken variants: each fails its own line --------------------------------------------------


def test_different_api_keys() -> None:
    broken = checkout(
        events=[
            client("$pageview", "user-1", 0),
            server("purchase_completed", "user-1", 1, key="phc_otherproject_0000ffff"),
        ]
    )
    assert line(audit([broken]), SAME_KEY) == (
        "fail",
        ("tests/test_shop.py::test_checkout: the client used phc_…90ab, the server phc_…ffff",),
    )


def test_keys_that_differ_across_tests() -> None:
    one = RecordedTest("t::client", events=[client("$pageview", "a", 0)])
    two = RecordedTest("t::server", events=[server("purchase", "a", 0, key="phc_x")])
    assert line(audit([one, two]), SAME_KEY) == (
        "fail",
        ("the client used phc_…90ab; the server used phc_…",),
    )


def test_the_server_uses_an_id_the_client_never_sent() -> None:
    broken = checkout(
        events=[
            client("$pageview", "anon-1", 0),
            server("purchase_completed", "db-7", 1),
            server("receipt_emailed", "db-7", 2),
        ]
    )
    result = audit([broken])
    assert line(result, ID_PASSED) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: the server used 'db-7', none of the client's "
            "'anon-1'",
        ),
    )
    assert line(result, IDENTITY) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: server events (purchase_completed, "
            "receipt_emailed) by 'db-7' belong to no person the client tracked (no $identify or "
            "alias joins them)",
        ),
    )


def test_a_refused_merge_and_an_illegal_id_fail_the_identity_line() -> None:
    refused = checkout(
        events=[
            client("$pageview", "anon-1", 0),
            client("$identify", "user-a", 1, **{"$anon_distinct_id": "anon-1"}),
            server("purchase_completed", "user-b", 2),
            client("$identify", "user-b", 3, **{"$anon_distinct_id": "user-a"}),
        ]
    )
    verdict, evidence = line(audit([refused]), IDENTITY)
    assert verdict == "fail"
    assert evidence[-1].startswith(
        "tests/test_shop.py::test_checkout: PostHog would refuse a merge: "
        "[cannot_merge_already_identified] '$identify' (client) asked to merge 'user-a' into "
        "'user-b'"
    )
    illegal = Finding("persons", "illegal-distinct-id", "1 event ('x' (server)) was sent under")
    verdict, evidence = line(audit([checkout(findings=[illegal])]), IDENTITY)
    assert (verdict, evidence) == (
        "fail",
        ("tests/test_shop.py::test_checkout: 1 event ('x' (server)) was sent under",),
    )


def test_user_properties_set_by_both_sides_must_agree() -> None:
    def run(server_plan: str) -> RecordedTest:
        return checkout(
            events=[
                client("$pageview", "anon-1", 0, **{"$set_once": {"$initial_referrer": "x"}}),
                client(
                    "$identify",
                    "user-1",
                    1,
                    **{"$anon_distinct_id": "anon-1", "$set": {"plan": "pro", "name": "Ada"}},
                ),
                server("signed_up", "user-1", 2, **{"$set": {"plan": server_plan, "$os": "x"}}),
            ]
        )

    assert line(audit([run("pro")]), USER_PROPERTIES) == (
        "pass",
        ("1 person property set by both sides in 1 test holds one value",),
    )
    assert line(audit([run("Pro &amp; more")]), USER_PROPERTIES) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: P1 'plan': the client set 'pro' ('$identify'), "
            "the server 'Pro &amp; more' ('signed_up')",
        ),
    )


def test_an_identified_id_joins_the_anonymous_client_to_the_server() -> None:
    result = audit([checkout()])
    assert line(result, ID_PASSED)[0] == "pass"
    assert line(result, IDENTITY)[0] == "pass"


def test_duplicates_reuse_the_assertion() -> None:
    broken = checkout(
        events=[
            client("purchase_completed", "user-1", 0, amount=9.99),
            server("purchase_completed", "user-1", 1, amount=9.99),
        ]
    )
    assert line(audit([broken]), NO_DUPLICATES) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: 'purchase_completed' for P1 was sent by both "
            "client and server 1 s apart: choose one source per event (guide: 'Duplicate "
            "events'; payments and subscriptions belong on the server).",
        ),
    )


def test_a_critical_event_tracked_by_the_client_only() -> None:
    broken = checkout(
        events=[client("checkout_button_clicked", "a", 0), client("purchase_completed", "a", 1)]
    )
    assert line(audit([broken]), CRITICAL) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: 'purchase_completed' was tracked by the client "
            "only (ad blockers and closed tabs lose it)",
        ),
    )


def test_critical_events_come_from_the_plan_or_the_caller() -> None:
    plan = TrackingPlan.from_dict(
        {"events": {"checkout_started": {"source": "both", "critical": True}}}
    )
    run = [checkout(events=[client("checkout_started", "a", 0), client("purchase", "a", 1)])]
    assert line(audit(run, plan=plan), CRITICAL)[0] == "fail"
    assert line(audit(run, critical={"nothing_here"}), CRITICAL) == (
        "cannot judge",
        ("no test captured the critical events named",),
    )
    assert line(audit(run), CRITICAL)[0] == "fail"  # 'purchase' says money


@pytest.mark.parametrize(
    ("name", "critical"),
    [
        # money, orders and subscriptions, whatever lifecycle verb follows
        ("purchase_completed", True),
        ("Order Placed", True),
        ("orderCompleted", True),
        ("order_created", True),
        ("order_refunded", True),
        ("subscription_started", True),
        ("SubscriptionStarted", True),
        ("subscription_renewed", True),
        ("subscription_cancelled", True),
        ("customer.subscription.created", True),
        ("trial_started", True),
        ("trial_ended", True),
        ("payment_failed", True),
        ("payment_intent.succeeded", True),
        ("invoice.paid", True),
        ("refund_issued", True),
        ("billing_updated", True),
        ("user_subscribed", True),
        ("plan_upgraded", True),
        ("purchase", True),
        ("checkout_completed", True),
        ("checkout.session.completed", True),
        # a checkout is a flow of pages until it ends
        ("checkout_started", False),
        ("checkout_step_viewed", False),
        # interactions with the page, whatever they name
        ("checkout_button_clicked", False),
        ("pricing_page_viewed", False),
        ("subscribe_clicked", False),
        ("subscription_button_clicked", False),
        ("upgrade_button_clicked", False),
        ("payment_form_submitted", False),
        ("payment_submitted", False),
        ("order_history_opened", False),
        ("trial_banner_dismissed", False),
        ("billing_page_viewed", False),
        # nothing about money
        ("signed_up", False),
        ("add_to_cart", False),
        ("$pageview", False),
        ("user_logged_in", False),
    ],
)
def test_looks_critical(name: str, critical: bool) -> None:
    assert looks_critical(name) is critical


def test_a_subscription_started_on_the_server_passes_the_critical_line() -> None:
    """The issue's run: 'started' made the audit say no test captured a subscription."""
    started = RecordedTest(
        "tests/test_billing.py::test_subscribe",
        events=[server("subscription_started", "user-1", 0, plan="pro")],
    )
    assert line(audit([started]), CRITICAL) == (
        "pass",
        ("tracked by the server: 'subscription_started'",),
    )
    clicked = RecordedTest(
        "tests/test_billing.py::test_subscribe",
        events=[
            client("subscribe_clicked", "user-1", 0),
            client("subscription_started", "user-1", 1),
        ],
    )
    assert line(audit([clicked]), CRITICAL) == (
        "fail",
        (
            "tests/test_billing.py::test_subscribe: 'subscription_started' was tracked by the "
            "client only (ad blockers and closed tabs lose it)",
        ),
    )


def test_clients_never_shut_down_or_never_flushed() -> None:
    notes = [
        ClientNote(
            "app/analytics.py:12",
            "2 queued events flushed at teardown (the app never called flush() or shutdown())",
            2,
        ),
        ClientNote("app/analytics.py:12", "never shut down (call shutdown() on process exit)"),
    ]
    assert line(audit([checkout(notes=notes)]), SHUTDOWN) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: posthog client created at app/analytics.py:12: 2 "
            "queued events flushed at teardown (the app never called flush() or shutdown())",
            "tests/test_shop.py::test_checkout: posthog client created at app/analytics.py:12: "
            "never shut down (call shutdown() on process exit)",
        ),
    )


ALIVE = "never shut down during the test (fine for a long-lived client; otherwise call shutdown())"


def test_a_long_lived_client_is_no_failure_but_cannot_be_judged() -> None:
    """A web app keeps one client for its life and shuts it down at exit (atexit): the tests'
    process sees it running, which is no finding."""
    kept = [ClientNote("app/analytics.py:12", ALIVE, finding=False)]
    result = audit([checkout(notes=kept)], session_notes=kept)
    assert line(result, SHUTDOWN) == (
        "cannot judge",
        (
            "the tests' process kept 1 posthog client running (created at "
            "app/analytics.py:12), as a web app keeps a long-lived one, and none lost an event: "
            "whether the app shuts it down on process exit (atexit) cannot be seen from the "
            "tests",
        ),
    )
    assert not result.failed
    two = [*kept, ClientNote("app/jobs.py:3", ALIVE, finding=False)]
    assert line(audit([checkout(notes=two)]), SHUTDOWN)[1] == (
        "the tests' process kept 2 posthog clients running (created at app/analytics.py:12, "
        "app/jobs.py:3), as a web app keeps a long-lived one, and none lost an event: whether "
        "the app shuts them down on process exit (atexit) cannot be seen from the tests",
    )


def test_only_notes_that_are_findings_fail_the_shutdown_line() -> None:
    lost = ClientNote.queued(
        "app/analytics.py:12", 3, "at teardown", "its flush_interval is 3600 s"
    )
    alive = ClientNote("app/analytics.py:12", ALIVE, finding=False)
    result = audit([checkout(notes=[alive, lost])], session_notes=[alive])
    assert line(result, SHUTDOWN) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: posthog client created at app/analytics.py:12: "
            "3 queued events flushed at teardown: its flush_interval is 3600 s (the app never "
            "called flush())",
        ),
    )
    dropped = ClientNote("app/main.py:7", "received event user_signed_up after shutdown")
    assert line(audit([checkout()], session_notes=[dropped]), SHUTDOWN) == (
        "fail",
        (
            "at session end: posthog client created at app/main.py:7: received event "
            "user_signed_up after shutdown",
        ),
    )


def test_session_end_notes_are_no_test() -> None:
    alive = ClientNote("app/analytics.py:12", ALIVE, finding=False)
    result = audit([checkout()], session_notes=[alive, alive])
    assert result.tests == 1
    assert result.render().startswith(
        "Analytics audit: the guide's Validation Checklist, judged from 1 test and 3 events\n"
    )


def test_an_error_the_sdk_logged_fails_the_server_sdk_line() -> None:
    error = Finding(
        "diagnostic",
        "sdk-error",
        "posthog logged an error: TypeError: Client.capture() takes 2 positional arguments but "
        "3 were given (at app/views.py:40)",
    )
    other = Finding("diagnostic", "timestamp-without-zone", "not this one")
    result = audit(
        [checkout(), RecordedTest("tests/test_signup.py::test_register", findings=[other, error])]
    )
    assert line(result, SERVER_SDK) == (
        "fail",
        (
            "tests/test_signup.py::test_register: posthog logged an error: TypeError: "
            "Client.capture() takes 2 positional arguments but 3 were given (at app/views.py:40)",
        ),
    )
    assert result.failed
    assert line(audit([checkout(findings=[other])]), SERVER_SDK)[0] == "pass"


def test_an_anonymous_visitor_who_logs_in_without_identify() -> None:
    broken = checkout(
        events=[
            client("$pageview", "anon-1", 0, **{"$is_identified": False}),
            client("dashboard_viewed", "user-1", 1, **{"$is_identified": True}),
        ]
    )
    assert line(audit([broken]), ANONYMOUS) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout: the anonymous 'anon-1' ($pageview) became "
            "'user-1' (dashboard_viewed) with no $identify or alias joining them (guide: "
            "'Anonymous users not merging')",
        ),
    )


def test_timestamps_without_a_zone_and_with_an_offset() -> None:
    zoneless = event_from_wire(
        {"event": "order_placed", "distinct_id": "u", "timestamp": "2026-03-01T13:00:00"},
        source="server",
    )
    offset = event_from_wire(
        {"event": "aware", "distinct_id": "u", "timestamp": "2026-03-01T14:00:00+02:00"},
        source="server",
    )
    assert line(audit([RecordedTest("t::a", events=[zoneless, offset])]), UTC_TIMES) == (
        "fail",
        (
            "t::a: 'order_placed' (server) was sent as '2026-03-01T13:00:00', with no time zone "
            "(PostHog reads it as UTC)",
        ),
    )
    assert line(audit([RecordedTest("t::a", events=[offset])]), UTC_TIMES) == (
        "pass",
        (
            "1 timestamp carries a time zone",
            "some carry a non-UTC offset (+02:00: 1), unambiguous, and PostHog converts them",
        ),
    )


def test_a_browser_that_dropped_everything_as_a_bot_fails_the_client_line() -> None:
    bot = Finding("diagnostic", "bot-dropped", "posthog-js dropped events as a bot")
    result = audit([RecordedTest("t::page", "failed", findings=[bot])])
    assert line(result, CLIENT_SDK) == (
        "fail",
        ("posthog-js loaded but dropped every event as a bot in t::page",),
    )
    assert result.failed


def test_evidence_is_capped_and_tests_are_counted() -> None:
    runs = [
        checkout(
            f"t::{n}",
            events=[client("$pageview", f"a{n}", 0), server("purchase", f"db{n}", 1)],
        )
        for n in range(7)
    ]
    verdict, evidence = line(audit(runs), ID_PASSED)
    assert verdict == "fail"
    assert len(evidence) == 6
    assert evidence[-1] == "… and 2 more"
    assert line(audit(runs), CLIENT_SDK)[1] == (
        "7 client events from web (7) in 7 tests: t::0, t::1, t::2 and 4 more",
    )
    with pytest.raises(KeyError, match="no audit line 'Nope'"):
        audit(runs).line("Nope")


def test_api_keys_are_masked_in_the_evidence() -> None:
    result = audit([checkout()])
    assert KEY not in result.render()
    assert "phc_…90ab" in result.render()
    assert line(result, SERVER_SDK)[0] == "pass"


def test_epoch_timestamps_are_utc() -> None:
    epoch = event_from_wire(
        {"event": "imported", "distinct_id": "u", "timestamp": 1772366400}, source="server"
    )
    assert epoch.raw_timestamp == "1772366400"
    assert line(audit([RecordedTest("t::a", events=[epoch])]), UTC_TIMES) == (
        "pass",
        ("1 timestamp carries a time zone",),
    )


# -- duplicates as data (assertions.find_duplicates) --------------------------------------------


def test_duplicate_findings_name_their_events_even_in_a_long_timeline() -> None:
    events = [client("tick", "u", n, n=n) for n in range(70)]
    first = client("purchase_completed", "u", -2, amount=1)
    again = server("purchase_completed", "u", -1, amount=1)
    late = [client("saved", "u", 100, n=1), client("saved", "u", 101, n=1)]
    middle = [client("mid", "u", 35.5, n=1), client("mid", "u", 35.6, n=1)]
    found = find_duplicates([first, again, *events, *middle, *late])
    assert [d.text.split(" for ")[0] for d in found] == ["'purchase_completed'", "'mid'", "'saved'"]
    assert found[0].events == (first, again)
    assert found[1].events == tuple(middle)  # also in the part a long timeline elides
    assert found[2].events == tuple(late)
    assert find_duplicates(events) == []
    assert RecordedTest("t::x", "error").failed
    assert not RecordedTest("t::x", "xfailed").failed


def test_the_resilience_lines_are_judged_from_the_tests_that_made_posthog_fail() -> None:
    outage = checkout("tests/test_shop.py::test_checkout_during_outage", faults=[("fail 503", 4)])
    dropped = checkout("tests/test_shop.py::test_checkout_dropped", faults=[("drop", 1)])
    never_hit = checkout("tests/test_shop.py::test_armed_only", faults=[("delay 5 s", 0)])
    result = audit([outage, dropped, never_hit])
    assert line(result, SERVER_ERRORS) == (
        "pass",
        (
            "1 test kept working with PostHog answering errors (fail 503 (4 requests)): "
            "tests/test_shop.py::test_checkout_during_outage",
        ),
    )
    assert line(result, NETWORK_FAILURES) == (
        "pass",
        (
            "1 test kept working with PostHog's connection dropped or slow (drop (1 request)): "
            "tests/test_shop.py::test_checkout_dropped",
        ),
    )


def test_an_app_that_breaks_when_posthog_fails_fails_the_line() -> None:
    broke = checkout(
        "tests/test_shop.py::test_checkout_during_outage",
        outcome="failed",
        faults=[("fail 503", 1)],
        message="E   assert 500 == 200\nE    +  where 500 = <Response [500]>.status_code",
    )
    result = audit([broke])
    assert line(result, SERVER_ERRORS) == (
        "fail",
        (
            "tests/test_shop.py::test_checkout_during_outage failed with fail 503 (1 request): "
            "E    +  where 500 = <Response [500]>.status_code",
        ),
    )
    assert result.failed
    assert line(result, NETWORK_FAILURES)[0] == "cannot judge"
