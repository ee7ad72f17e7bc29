"""The checks nobody has, on events shaped as the SDKs send them: server events in the browser's
session, identify before the first identified action, one flag value per user on both sides, and
exposures once. (The published SDKs driving them: ``test_session_and_flags_sdk.py``.)"""

from __future__ import annotations

import json
import re

import pytest
from support import T0, make_event

from pytest_hybrid_analytics import (
    Analytics,
    CapturedEvent,
    EventRecorder,
    assert_flag_exposures,
    assert_flags_consistent,
    assert_identified_before,
    assert_session_linked,
)
from pytest_hybrid_analytics._model.sessions import sessions_of
from pytest_hybrid_analytics._reports.html import render_html
from pytest_hybrid_analytics._reports.records import RecordedTest

S1 = "0192f3aa-0000-7000-8000-000000000001"
S2 = "0192f3aa-0000-7000-8000-000000000002"


def recorded(*events: CapturedEvent) -> EventRecorder:
    recorder = EventRecorder()
    recorder.record(events)
    return recorder


def journey(*, server_session: str | None = S1) -> list[CapturedEvent]:
    """An anonymous visit, a login, a server-side purchase during the session."""
    server_props = {"$session_id": server_session} if server_session else {}
    return [
        make_event("$pageview", "anon-1", at=0, uuid="1", **{"$session_id": S1}),
        make_event(
            "$identify",
            "user-1",
            at=1,
            uuid="2",
            **{"$session_id": S1, "$anon_distinct_id": "anon-1", "$is_identified": True},
        ),
        make_event("purchase_completed", "user-1", source="server", at=2, uuid="3", **server_props),
        make_event("$pageview", "user-1", at=3, uuid="4", **{"$session_id": S1}),
    ]


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_are_read_from_client_events() -> None:
    [session] = sessions_of(journey())
    assert (session.label, session.id, session.ids) == ("S1", S1, ("anon-1", "user-1"))
    assert (session.client_events, session.server_events) == (3, 1)


def test_a_server_event_carrying_the_session_is_linked() -> None:
    assert_session_linked(recorded(*journey()))


def test_a_server_event_without_the_session_fails_with_the_session_and_the_fix() -> None:
    with pytest.raises(AssertionError) as info:
        assert_session_linked(recorded(*journey(server_session=None)))
    message = str(info.value)
    assert message.startswith(
        "Expected every server event of a person with a browser session to carry that "
        "session's $session_id; 1 event does not:\n"
        "  1. 'purchase_completed' (server, user-1 = P1) at 12:00:02.000 has no $session_id; by "
        "its time it belongs to session S1 (0192f3…0001), 12:00:00.000-12:00:03.000, 3 client "
        "events\n"
        "PostHog shows these events outside the user's session and its replay. Next step: "
        "posthog-js sends the session to your backend when told which hosts to trust: "
        "posthog.init(key, {tracing_headers: ['shop.example.com']})"
    )
    assert "posthog.integrations.django.PosthogContextMiddleware" in message
    # The timeline shows the session column and its legend.
    assert (
        "  12:00:02.000  server  purchase_completed  user-1       P1      -        <- not in S1"
        in message
    )
    assert f"  S1 = {S1} (P1; 12:00:00.000-12:00:03.000; 3 client events, 0 server events)" in (
        message
    )


def test_another_persons_session_is_named() -> None:
    events = [
        *journey(server_session=S2),
        make_event("$pageview", "someone-else", at=0.5, uuid="9", **{"$session_id": S2}),
    ]
    with pytest.raises(AssertionError, match="carries \\$session_id of session S2"):
        assert_session_linked(recorded(*events))


def test_server_events_outside_any_browser_session_are_not_asked_to_link() -> None:
    events = [
        # before the browser session began (a server-rendered first page)
        make_event("page_served", "user-1", source="server", at=-5, uuid="0"),
        *journey(),
        # a person with no browser session (a webhook)
        make_event("invoice_paid", "user-9", source="server", at=2, uuid="8"),
    ]
    assert_session_linked(recorded(*events))
    # ``events=`` limits the check: the unlinked event outside the list is not looked at.
    unlinked = journey(server_session=None)
    assert_session_linked(recorded(*unlinked), events=[unlinked[0]])


def test_no_browser_session_at_all_is_a_usage_error() -> None:
    with pytest.raises(AssertionError, match="no client event carries a \\$session_id"):
        assert_session_linked(recorded(make_event("x", "u", source="server")))


# -- identify before the first identified action ------------------------------------------------


def test_identified_before_passes_when_every_later_event_carries_the_user() -> None:
    checked = assert_identified_before(recorded(*journey()), "purchase_completed")
    assert [e.event for e in checked] == ["purchase_completed", "$pageview"]


def test_an_anonymous_event_after_the_user_was_known_fails() -> None:
    events = [
        *journey(),
        make_event("checkout_started", "anon-1", at=4, uuid="5", **{"$is_identified": False}),
    ]
    with pytest.raises(AssertionError) as info:
        assert_identified_before(recorded(*events), "$identify")
    message = str(info.value)
    assert message.startswith(
        "Expected every event of 'user-1''s person from its first '$identify' (12:00:01.000) on "
        "to be sent under an identified id; 1 event left under an anonymous one:\n"
        "  'checkout_started' (client) at 12:00:04.000 under 'anon-1'\n"
        "Next step: identify the user before 'checkout_started'"
    )
    assert "<- anonymous" in message


def test_the_first_identified_action_sent_anonymously_fails() -> None:
    events = [
        make_event("$pageview", "anon-1", at=0, uuid="1"),
        make_event("checkout_started", "anon-1", at=1, uuid="2"),
        make_event("$identify", "user-1", at=2, uuid="3", **{"$anon_distinct_id": "anon-1"}),
    ]
    with pytest.raises(AssertionError, match=r"'checkout_started' \(client\) at 12:00:01\.000"):
        assert_identified_before(recorded(*events), "checkout_started")
    with pytest.raises(AssertionError, match="no 'refund' event was recorded"):
        assert_identified_before(recorded(*events), "refund")


# -- flags --------------------------------------------------------------------------------------


def ask(
    analytics: Analytics, distinct_id: str, *, client: bool, keys: list[str] | None = None
) -> None:
    body: dict[str, object] = {"token": "phc_k", "distinct_id": distinct_id}
    if keys is not None:
        body["flag_keys_to_evaluate"] = keys
    headers = {} if client else {"User-Agent": "posthog-python/7.91.1"}
    answer = analytics.api.handle(
        "POST",
        "https://us.i.posthog.com/flags/?v=2",
        headers,
        json.dumps(body),
        source="client" if client else None,
    )
    assert answer.status == 200


def send(analytics: Analytics, *events: CapturedEvent) -> None:
    analytics.record(events)


def test_flag_calls_are_recorded_with_who_asked_and_what_was_answered() -> None:
    analytics = Analytics()
    analytics.flags.set("new-checkout", "control")
    analytics.flags.set("new-checkout", "test", distinct_id="user-2")
    ask(analytics, "user-1", client=True)
    ask(analytics, "user-2", client=False, keys=["new-checkout"])
    [browser, server] = analytics.flag_calls
    assert (browser.source, browser.distinct_id, browser.keys, browser.values) == (
        "client",
        "user-1",
        None,
        {"new-checkout": "control"},
    )
    assert (server.source, server.sdk, server.keys, server.values) == (
        "server",
        "posthog-python",
        ("new-checkout",),
        {"new-checkout": "test"},
    )
    assert server.asked_for("new-checkout")


def test_one_value_on_both_sides_is_consistent() -> None:
    analytics = Analytics()
    analytics.flags.set("new-checkout", "test")
    send(analytics, *journey())
    ask(analytics, "user-1", client=True)
    ask(analytics, "user-1", client=False, keys=["new-checkout"])
    send(
        analytics,
        make_event(
            "purchase_completed",
            "user-1",
            source="server",
            at=5,
            uuid="6",
            **{"$feature/new-checkout": "test"},
        ),
    )
    assert_flags_consistent(analytics)


def test_a_split_between_browser_and_server_fails() -> None:
    analytics = Analytics()
    send(analytics, *journey())
    analytics.flags.set("new-checkout", "test")
    ask(analytics, "user-1", client=True)
    analytics.flags.set("new-checkout", "control")  # the server sees another rollout
    ask(analytics, "user-1", client=False, keys=["new-checkout"])
    with pytest.raises(AssertionError) as info:
        assert_flags_consistent(analytics)
    message = str(info.value)
    assert "found 1 disagreement:" in message
    assert "flag 'new-checkout' for person P1: the browser had 'test'" in message
    assert "the server 'control' (posthog-python /flags for 'user-1'" in message


def test_a_server_evaluation_under_another_persons_id_is_named() -> None:
    analytics = Analytics()
    send(analytics, *journey())
    send(analytics, make_event("$pageview", "visitor-7", at=0.2, uuid="70"))
    analytics.flags.set("new-checkout", "control")
    analytics.flags.set("new-checkout", "test", distinct_id="visitor-7")
    ask(analytics, "visitor-7", client=False, keys=["new-checkout"])
    send(
        analytics,
        make_event(
            "purchase_completed",
            "user-1",
            source="server",
            at=9,
            uuid="6",
            **{"$feature/new-checkout": "test"},
        ),
    )
    with pytest.raises(AssertionError) as info:
        assert_flags_consistent(analytics)
    assert (
        "flag 'new-checkout': the server evaluated it for 'visitor-7' (person P2, answered "
        "'test') and sent the value on $feature/new-checkout on 'purchase_completed' (server, "
        "'user-1') (person P1)"
    ) in str(info.value)


def called(distinct_id: str, value: object, *, at: float, source: str = "client") -> CapturedEvent:
    return make_event(
        "$feature_flag_called",
        distinct_id,
        source=source,  # type: ignore[arg-type]
        at=at,
        uuid=f"c{at}",
        **{"$feature_flag": "new-checkout", "$feature_flag_response": value},
    )


def test_exposures_once_per_value_pass_and_repeats_fail() -> None:
    analytics = Analytics()
    send(analytics, called("user-1", "test", at=1), called("user-1", "test", at=1, source="server"))
    assert_flag_exposures(analytics, "new-checkout")
    send(analytics, called("user-1", "test", at=2, source="server"))
    with pytest.raises(AssertionError) as info:
        assert_flag_exposures(analytics)
    assert (
        "flag 'new-checkout' = 'test' was reported 2 times by the server for person P1 "
        "($feature_flag_called): a posthog client remembers what it reported"
    ) in str(info.value)
    assert "Next step: read the flag through the SDK where the code branches on it" in str(
        info.value
    )
    assert_flag_exposures(analytics, once_per_value=False)


def test_a_server_read_without_an_exposure_fails() -> None:
    analytics = Analytics()
    send(analytics, *journey())
    analytics.flags.set("new-checkout", "test")
    ask(analytics, "user-1", client=False, keys=["new-checkout"])
    with pytest.raises(AssertionError, match="the server read it for 'user-1'"):
        assert_flag_exposures(analytics, "new-checkout")
    with pytest.raises(AssertionError, match="flag 'never-used' was never reported"):
        assert_flag_exposures(analytics, "never-used")


def test_flags_set_for_one_person_rules() -> None:
    analytics = Analytics()
    analytics.flags.set("pricing", "b", distinct_id="user-2")
    assert analytics.flags.value("pricing") is False
    assert analytics.flags.value("pricing", "user-2") == "b"
    with pytest.raises(TypeError, match="both a boolean flag"):
        analytics.flags.set("pricing", True)
    assert T0.tzinfo is not None


def test_the_html_report_draws_a_band_per_session() -> None:
    events = [
        *journey(),
        make_event("$pageview", "bob", at=1.5, uuid="5", **{"$session_id": S2}),
        make_event("$pageview", "bob", at=4, uuid="6", **{"$session_id": S2}),
    ]
    html = render_html([RecordedTest("t::checkout", "passed", events=events)])
    bands = re.findall(
        r"<div class='band b(\d)' style='grid-row:(\d+);grid-column:(\d+) / (\d+)'", html
    )
    # S1 spans the first to the last event carrying it; S2 overlaps it, so it gets a row of its own.
    assert [(b[0], b[2]) for b in bands] == [("0", "2"), ("1", "4")]
    assert bands[0][1] != bands[1][1]
    assert "<div class='lane sessions'" in html
    assert ">sessions</span>" in html
    assert "S1 (0192f3…0001)" in html
    plain = render_html([RecordedTest("t::no_sessions", "passed", events=[make_event("x", "u")])])
    assert "class='band" not in plain


def test_a_foreign_evaluation_is_named_even_after_one_for_the_user() -> None:
    analytics = Analytics()
    send(analytics, *journey())
    analytics.flags.set("new-checkout", "test")
    analytics.flags.set("new-checkout", "control", distinct_id="checkout-service")
    ask(analytics, "user-1", client=True)
    ask(analytics, "user-1", client=False, keys=["new-checkout"])  # right...
    ask(analytics, "checkout-service", client=False, keys=["new-checkout"])  # ...then wrong
    send(
        analytics,
        make_event(
            "purchase_completed",
            "user-1",
            source="server",
            at=9,
            uuid="6",
            **{"$feature/new-checkout": "control"},
        ),
    )
    with pytest.raises(AssertionError) as info:
        assert_flags_consistent(analytics)
    message = str(info.value)
    assert "found 1 disagreement:" in message
    assert "the server evaluated it for 'checkout-service'" in message


def test_two_server_sdks_each_reporting_once_are_not_repeats() -> None:
    analytics = Analytics()
    node = make_event(
        "$feature_flag_called",
        "user-1",
        source="server",
        at=2,
        uuid="n1",
        **{
            "$feature_flag": "new-checkout",
            "$feature_flag_response": "test",
            "$lib": "posthog-node",
        },
    )
    send(analytics, called("user-1", "test", at=1, source="server"), node)
    assert_flag_exposures(analytics, "new-checkout")
