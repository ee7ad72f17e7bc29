"""The checks' exact words on each branch of a failure, their limits, and the traceback a user
sees (the plugin's frames hidden)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import T0, MakeEvent

from pytest_hybrid_analytics import (
    CapturedEvent,
    EventRecorder,
    assert_no_duplicates,
    assert_no_pii,
    assert_same_api_key,
    assert_same_person,
    assert_same_user_journey,
    assert_single_distinct_id,
    assert_utc_timestamps,
    find_duplicates,
)
from pytest_hybrid_analytics._model.events import event_from_wire

ANON = "$anon_distinct_id"
NOTHING = (
    ": there are no events to check. A check over nothing proves nothing: wait for the events "
    "first (analytics.wait_for(...))."
)
IDENTIFY_ADVICE = (
    "Next step: call posthog.identify(user_id) on login (the client sends $identify with "
    "$anon_distinct_id), or alias the ids (guide: 'Anonymous users not merging')."
)


def message(check: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def head(text: str) -> str:
    """The lines of a failure above its timeline."""
    return text.split("\nCaptured timeline", 1)[0]


def recorded(*events: CapturedEvent) -> EventRecorder:
    rec = EventRecorder()
    rec.record(events)
    return rec


def keyed(name: str, key: str | None, *, source: str = "client", at: float = 0) -> CapturedEvent:
    raw = {"event": name, "distinct_id": "u1", "timestamp": f"2026-03-01T12:00:0{at:.0f}Z"}
    return event_from_wire(raw, api_key=key, source=source, received_at=T0)  # type: ignore[arg-type]


# -- what every check shares -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("assert_single_distinct_id", assert_single_distinct_id),
        ("assert_same_person", assert_same_person),
        ("assert_same_user_journey", lambda events: assert_same_user_journey(events, ["a"])),
        ("assert_same_api_key", assert_same_api_key),
        ("assert_utc_timestamps", assert_utc_timestamps),
    ],
)
def test_a_check_over_no_events_names_itself(name: str, check: Callable[..., Any]) -> None:
    assert message(check, []) == name + NOTHING


def _checks_that_fail(ev: MakeEvent) -> list[Callable[[], Any]]:
    two = [ev("a", "u1"), ev("a", "u2", source="server", at=1, uuid="x")]
    keys = [keyed("a", "phc_one"), keyed("b", "phc_two", source="server", at=1)]
    zone_less = {"event": "paid", "distinct_id": "u1", "timestamp": "2026-03-01T12:00:00"}
    return [
        lambda: assert_single_distinct_id(two),
        lambda: assert_same_person(two),
        lambda: assert_same_user_journey(two, ["a", "b"]),
        lambda: assert_same_user_journey(two, ["nothing"], distinct_id="nobody"),
        lambda: assert_no_duplicates([*two, ev("a", "u2", source="server", at=2, uuid="x")]),
        lambda: assert_no_pii([ev("signup", "u1", password="hunter2")]),
        lambda: assert_same_api_key(keys),
        lambda: assert_utc_timestamps([event_from_wire(zone_less, source="server")]),
    ]


def test_a_failed_check_shows_the_users_line_not_the_plugins_frames(ev: MakeEvent) -> None:
    for check in _checks_that_fail(ev):
        with pytest.raises(AssertionError) as info:
            check()
        shown = {Path(entry.path) for entry in info.traceback.filter(info)}
        assert Path(__file__) in shown
        assert [path for path in shown if "pytest_hybrid_analytics" in path.parts] == []


# -- assert_single_distinct_id -----------------------------------------------------------------


def test_single_distinct_id_lists_ten_ids_and_counts_the_rest(ev: MakeEvent) -> None:
    ten = [ev("e", f"id{i:02d}", at=i) for i in range(10)]
    listed = [f"  'id{i:02d}': 1 client event (e)" for i in range(10)]
    lines = head(message(assert_single_distinct_id, ten)).splitlines()
    assert lines[1:] == [
        *listed,
        "Next step: pass posthog.get_distinct_id() from the client to the server, or identify "
        "with the user id on both sides (guide: 'Identity Consistency').",
    ]
    eleven = [*ten, ev("e", "id10", at=10)]
    lines = head(message(assert_single_distinct_id, eleven)).splitlines()
    assert lines[0] == "Expected every event to carry one distinct_id; found 11:"
    assert lines[1:12] == [*listed, "  … and 1 more distinct ids"]


def test_single_distinct_id_names_both_sides_of_an_id(ev: MakeEvent) -> None:
    events = [ev("a", "u1"), ev("b", "u1", source="server", at=1), ev("c", "u2", at=2)]
    assert head(message(assert_single_distinct_id, events)).splitlines()[1:3] == [
        "  'u1': 2 client/server events (a, b)",
        "  'u2': 1 client event (c)",
    ]


def test_single_distinct_id_knows_the_merge_from_the_recorder(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **{ANON: "anon"}),
        ev("buy", "user", source="server", at=2),
    )
    subset = rec.find(event="$pageview") + rec.find(event="buy")
    assert message(assert_single_distinct_id, subset, recorder=rec) == (
        "Expected every event to carry one distinct_id; found 2:\n"
        "  'anon': 1 client event ($pageview)\n"
        "  'user': 1 server event (buy)\n"
        "These ids are one person, joined by $identify/$create_alias: use assert_same_person if "
        "merged identities are what you mean.\n"
        "Captured timeline (2 events, 1 person):\n"
        "  time          source  event      distinct_id  person\n"
        "  12:00:00.000  client  $pageview  anon         P1\n"
        "  12:00:02.000  server  buy        user         P1\n"
        "Persons:\n"
        "  P1 = anon, user"
    )


def test_single_distinct_id_asks_for_an_id_when_some_events_have_none(ev: MakeEvent) -> None:
    assert head(message(assert_single_distinct_id, [ev("a", None), ev("b", "u1", at=1)])) == (
        "Expected every event to carry one distinct_id; found 2:\n"
        "  <none>: 1 client event (a)\n"
        "  'u1': 1 client event (b)\n"
        "Next step: some events have no distinct_id at all; pass one explicitly."
    )


# -- assert_same_person ------------------------------------------------------------------------


def test_same_person_counts_events_with_no_id_and_judges_the_rest(ev: MakeEvent) -> None:
    events = [ev("a", None), ev("b", "u1", at=1), ev("c", "u2", at=2)]
    assert head(message(assert_same_person, events)) == (
        "Expected all events to belong to one person; found 2 persons and 1 event with no "
        "distinct_id:\n"
        "  P1 ('u1'): b\n"
        "  P2 ('u2'): c\n"
        "No $identify, $create_alias or merge event was captured.\n" + IDENTIFY_ADVICE
    )


def test_same_person_lists_ten_persons_and_counts_the_rest(ev: MakeEvent) -> None:
    events = [ev("e", f"id{i:02d}", at=i) for i in range(11)]
    lines = head(message(assert_same_person, events)).splitlines()
    assert lines[10:12] == ["  P10 ('id09'): e", "  … and 1 more persons"]
    lines = head(message(assert_same_person, events[:10])).splitlines()
    assert lines[10:] == [
        "  P10 ('id09'): e",
        "No $identify, $create_alias or merge event was captured.",
        IDENTIFY_ADVICE,
    ]


def test_same_person_shows_five_merges(ev: MakeEvent) -> None:
    events = [ev("$identify", f"user{i}", at=i, **{ANON: f"anon{i}"}) for i in range(6)]
    merges = "; ".join(f"'anon{i}' -> 'user{i}' by $identify" for i in range(5))
    assert head(message(assert_same_person, events)).splitlines()[7:] == [
        f"Merges seen: {merges}.",
        IDENTIFY_ADVICE,
    ]


def test_same_person_names_five_personless_server_events(ev: MakeEvent) -> None:
    personless = {"$process_person_profile": False}
    events = [ev("$pageview", "u1")] + [
        ev(f"job{i}", f"tmp{i}", source="server", at=i, **personless) for i in range(6)
    ]
    lines = head(message(assert_same_person, events)).splitlines()
    assert lines[0] == (
        "Expected all events to belong to one person; found 1 person, 6 events on no person:"
    )
    names = ", ".join(f"job{i} (server)" for i in range(5))
    assert lines[2] == (
        f"  no person: {names}: sent with $process_person_profile: false (or dropped), so "
        "PostHog puts them on no person; posthog-python sends that for a capture() with no "
        "distinct_id, under an id it invents for the one event: pass the user's id"
    )


def test_same_person_timeline_uses_the_persons_the_recorder_knows(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **{ANON: "anon"}),
        ev("buy", "other", source="server", at=2),
    )
    subset = rec.find(event="$pageview") + rec.find(event="buy")
    text = message(assert_same_person, subset, recorder=rec)
    assert text.split("\nCaptured timeline", 1)[1] == (
        " (2 events, 2 persons):\n"
        "  time          source  event      distinct_id  person\n"
        "  12:00:00.000  client  $pageview  anon         P1\n"
        "  12:00:02.000  server  buy        other        P2\n"
        "Persons:\n"
        "  P1 = anon, user\n"
        "  P2 = other"
    )


# -- find_duplicates / assert_no_duplicates ----------------------------------------------------


def test_a_reused_uuid_is_named_by_its_first_event(ev: MakeEvent) -> None:
    found = find_duplicates([ev("signup", "u1", uuid="x"), ev("login", "u1", at=1, uuid="x")])
    assert [d.text for d in found] == [
        "'signup' with uuid x was recorded 2 times: an SDK retry (ingestion must answer exactly "
        "200) or an app that sends it twice."
    ]


def test_events_after_one_without_a_uuid_are_still_checked(ev: MakeEvent) -> None:
    events = [ev("a", "u1"), ev("b", "u1", at=1, uuid="x"), ev("b", "u1", at=2, uuid="x")]
    assert [d.events for d in find_duplicates(events)] == [(events[1], events[2])]


def test_duplicates_without_a_distinct_id_say_so(ev: MakeEvent) -> None:
    both = [ev("buy", None), ev("buy", None, source="server", at=1)]
    assert [d.text for d in find_duplicates(both)] == [
        "'buy' for <no distinct_id> was sent by both client and server 1 s apart: choose one "
        "source per event (guide: 'Duplicate events'; payments and subscriptions belong on the "
        "server)."
    ]


def test_a_pair_exactly_one_window_apart_is_a_duplicate(ev: MakeEvent) -> None:
    pair = [ev("buy", "u1"), ev("buy", "u1", at=10)]
    assert len(find_duplicates(pair, window=timedelta(seconds=10))) == 1
    assert find_duplicates(pair, window=timedelta(seconds=9.999)) == []


def test_snapshots_sent_twice_are_not_duplicates(ev: MakeEvent) -> None:
    assert find_duplicates([ev("$snapshot", "u1"), ev("$snapshot", "u1", at=1)]) == []


def test_properties_in_another_order_are_the_same_properties(ev: MakeEvent) -> None:
    first = ev("buy", "u1", a=1, b=2)
    second = ev("buy", "u1", at=1, b=2, a=1)
    assert len(find_duplicates([first, second])) == 1


def test_duplicates_are_judged_by_person_with_the_recorders_merges(ev: MakeEvent) -> None:
    rec = recorded(
        ev("buy", "anon", source="server"),
        ev("$identify", "user", at=1, **{ANON: "anon"}),
        ev("buy", "user", source="server", at=2),
    )
    subset = rec.find(event="buy")
    assert find_duplicates(subset) == []
    assert len(find_duplicates(subset, recorder=rec)) == 1
    assert "'buy' for P1 was fired 2 times" in message(assert_no_duplicates, subset, recorder=rec)


def test_the_duplicate_failure_says_which_redeliveries_it_did_not_count(ev: MakeEvent) -> None:
    rec = recorded(ev("buy", "u1", uuid="1"), ev("buy", "u1", at=1, uuid="2"))
    rec.record([ev("buy", "u1", at=2, uuid="1")])
    assert [e.uuid for e in rec.retried] == ["1"]
    retried = (
        "Not counted: 1 re-delivery of events already recorded (an SDK retry, an unload beacon; "
        "PostHog keeps one event per uuid): 'buy' (uuid 1) (analytics.retried)."
    )
    assert head(message(assert_no_duplicates, rec)).splitlines()[-1] == retried
    assert head(message(assert_no_duplicates, rec.events, recorder=rec)).splitlines()[-1] == retried
    listed = head(message(assert_no_duplicates, rec.events)).splitlines()
    assert listed[-1].startswith("  1. 'buy' for P1 was fired 2 times")


# -- assert_same_user_journey ------------------------------------------------------------------


def _login_journey(ev: MakeEvent) -> list[CapturedEvent]:
    return [
        ev("$pageview", "anon"),
        ev("$identify", "u1", at=1, **{ANON: "anon"}),
        ev("buy", "u1", source="server", at=2, plan="pro"),
    ]


@pytest.mark.parametrize(
    ("step", "label"),
    [
        (("buy", "client"), "('buy', 'client')"),
        ({"event": "buy", "source": "client"}, "('buy', source='client')"),
    ],
)
def test_a_steps_source_is_part_of_the_step(ev: MakeEvent, step: Any, label: str) -> None:
    assert head(message(assert_same_user_journey, _login_journey(ev), [step])) == (
        f"Expected a journey by one person, in order: {label}.\n"
        f"The furthest any person got: P1 matched 0 of 1 steps; step 1 {label} never followed.\n"
        "No event matches step 1. Near misses: 'buy' from server by 'u1': source='server' "
        "(wanted 'client')"
    )


def test_a_dict_step_needs_an_event(ev: MakeEvent) -> None:
    with pytest.raises(TypeError) as info:
        assert_same_user_journey(_login_journey(ev), [{"source": "client"}])
    assert str(info.value) == (
        "journey step 1: a dict step has 'event' and optionally 'source', 'distinct_id' and "
        "'properties', got keys ['source']"
    )


def test_a_journey_needs_steps(ev: MakeEvent) -> None:
    with pytest.raises(TypeError) as info:
        assert_same_user_journey(_login_journey(ev), [])
    assert str(info.value) == "steps must be a non-empty list of journey steps"


def test_a_step_never_captured_says_where_to_look(ev: MakeEvent) -> None:
    expected = (
        "Expected a journey by 'u1', in order: '$pageview' -> 'nothing'.\n"
        "The furthest any person got: P1 matched 1 of 2 steps; step 2 'nothing' never followed.\n"
        "No event matches step 2 'nothing': it was never captured. Next step: check that the code "
        "path that sends it ran, and that its SDK was flushed."
    )
    journey = _login_journey(ev)
    assert (
        head(message(assert_same_user_journey, journey, ["$pageview", "nothing"], distinct_id="u1"))
        == expected
    )
    anyone = expected.replace("by 'u1'", "by one person")
    assert head(message(assert_same_user_journey, journey, ["$pageview", "nothing"])) == anyone


def test_a_journey_out_of_order_says_so(ev: MakeEvent) -> None:
    assert head(message(assert_same_user_journey, _login_journey(ev), ["buy", "$pageview"])) == (
        "Expected a journey by one person, in order: 'buy' -> '$pageview'.\n"
        "The furthest any person got: P1 matched 1 of 2 steps; step 2 '$pageview' never "
        "followed.\n"
        "Step 2 happened for this person only before step 1 (out of order). Next step: check the "
        "order the app tracks them in, or the order of the steps."
    )


def test_a_journey_shows_three_near_misses_with_every_reason(ev: MakeEvent) -> None:
    events = [ev("buy", "u1", source="server", at=i, plan="pro", n=i) for i in range(4)]
    step = {"event": "buy", "source": "client", "properties": {"plan": "free"}}
    lines = head(message(assert_same_user_journey, events, [step])).splitlines()
    why = "source='server' (wanted 'client'), plan='pro' differs (wanted 'free')"
    assert lines[2] == "No event matches step 1. Near misses: " + "; ".join(
        [f"'buy' from server by 'u1': {why}"] * 3
    )


def test_a_journey_of_an_unknown_person(ev: MakeEvent) -> None:
    text = message(assert_same_user_journey, _login_journey(ev), ["$pageview"], distinct_id="x")
    assert head(text) == (
        "Expected a journey by 'x', in order: '$pageview'.\n"
        "No events of 'x' (or of an id merged with it) were captured. Next step: check the "
        "distinct id, and that the SDKs send to a road the harness covers (README, 'Nothing "
        "arrived?')."
    )


def test_a_journey_with_no_identified_event_at_all(ev: MakeEvent) -> None:
    assert head(message(assert_same_user_journey, [ev("a", None)], ["a"])) == (
        "Expected a journey by one person, in order: 'a'.\n"
        "No events were captured. Next step: check the distinct id, and that the SDKs send to a "
        "road the harness covers (README, 'Nothing arrived?')."
    )


def test_a_journey_skips_events_without_an_id_and_of_other_persons(ev: MakeEvent) -> None:
    events = [ev("a", None), ev("a", "other", at=1), ev("a", "u1", at=2), ev("b", "u1", at=3)]
    assert assert_same_user_journey(events, ["a", "b"], distinct_id="u1") == events[2:]
    assert assert_same_user_journey(events, ["a", "b"]) == events[2:]


def test_a_journey_ends_at_its_last_step(ev: MakeEvent) -> None:
    events = [ev("a", "u1"), ev("a", "u1", at=1), ev("b", "u1", at=2)]
    assert assert_same_user_journey(events, ["a"]) == events[:1]


def test_a_journey_failure_marks_the_matched_steps_and_the_candidates(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "u1", at=1, **{ANON: "anon"}),
        *(ev("buy", f"other{i}", source="server", at=2 + i) for i in range(6)),
    )
    text = message(
        assert_same_user_journey,
        rec.find(event="$pageview") + rec.find(event="buy"),
        ["$pageview", "buy"],
        recorder=rec,
    )
    rows = text.split("\nCaptured timeline", 1)[1].splitlines()
    assert rows[2] == "  12:00:00.000  client  $pageview  anon         P1      <- step 1"
    assert [row.endswith("<- step 2?") for row in rows[3:9]] == [True] * 5 + [False]
    assert rows[-7] == "  P1 = anon, u1"


# -- assert_no_pii / assert_same_api_key / assert_utc_timestamps --------------------------------


def test_no_pii_failure_lists_ten_findings_and_counts_the_rest(ev: MakeEvent) -> None:
    events = [ev(f"e{i}", "u1", at=i, password=f"pw{i}") for i in range(11)]
    lines = head(message(assert_no_pii, events)).splitlines()
    assert lines[0] == "Expected no sensitive data in client events; found 11:"
    assert lines[1] == (
        "  [password] 'e0' (client) property 'password': its name says it is a password: ********"
    )
    assert lines[11:] == [
        "  … and 1 more",
        "Next step: keep card numbers, passwords and tokens on the server; send the client only "
        "what it may show (guide: 'Don't send sensitive data client-side').",
    ]
    assert len(head(message(assert_no_pii, events[:10])).splitlines()) == 12


def test_no_pii_marks_each_event_with_its_finding(ev: MakeEvent) -> None:
    text = message(assert_no_pii, [ev("ok", "u1"), ev("signup", "u1", at=1, password="hunter2")])
    assert text.splitlines()[-4:-2] == [
        "  12:00:00.000  client  ok      u1           P1",
        "  12:00:01.000  client  signup  u1           P1      <- pii: password",
    ]


def test_no_pii_passes_on_clean_events_and_server_secrets(ev: MakeEvent) -> None:
    assert_no_pii([ev("signup", "u1", plan="pro")])
    assert_no_pii([ev("signup", "u1", source="server", password="hunter2")])


def test_same_api_key_returns_the_one_key() -> None:
    events = [keyed("a", "phc_one"), keyed("b", "phc_one", source="server", at=1), keyed("c", None)]
    assert assert_same_api_key(events) == "phc_one"


def test_same_api_key_failure_names_the_projects_masked() -> None:
    text = message(
        assert_same_api_key, [keyed("a", "phc_one"), keyed("b", "phc_two", source="server", at=1)]
    )
    assert text == (
        "Expected one PostHog project API key for every event:\n"
        "  [different-api-keys] Events went to 2 PostHog projects: the client used phc_… (1 "
        "event); the server used phc_… (1 event). Events sent with different keys land in "
        "different projects, so the two sides' events never meet. Use the same project API key "
        "for client and server.\n"
        "Next step: configure the server SDK with the same project API key as posthog.init "
        "(guide: 'Different project IDs').\n"
        "Captured timeline (2 events, 1 person):\n"
        "  time          source  event  distinct_id  person\n"
        "  12:00:00.000  client  a      u1           P1      <- key: different-api-keys\n"
        "  12:00:01.000  server  b      u1           P1\n"
        "Persons:\n"
        "  P1 = u1"
    )


def test_same_api_key_with_no_key_at_all() -> None:
    assert message(assert_same_api_key, [keyed("a", None)]) == (
        "assert_same_api_key: no event carries an api_key"
    )


def test_utc_timestamps_failure_names_the_zone_less_event(ev: MakeEvent) -> None:
    raw = {"event": "paid", "distinct_id": "u1", "timestamp": "2026-03-01T12:00:00"}
    zone_less = event_from_wire(raw, source="server", received_at=T0)
    assert message(assert_utc_timestamps, [zone_less, ev("ok", "u1")]) == (
        "Expected every timestamp to carry its time zone (UTC); found local times:\n"
        "  [timestamp-without-zone] 'paid' (server) was sent with the timestamp "
        "'2026-03-01T12:00:00', which has no time zone: PostHog reads it as UTC, so a clock in "
        "local time shifts the event by its UTC offset. Send UTC (datetime.now(timezone.utc), or "
        "an ISO string ending in Z).\n"
        "Next step: send UTC, datetime.now(timezone.utc) or an ISO string ending in Z (guide: "
        "'Timezone discrepancies').\n"
        "Captured timeline (2 events, 1 person):\n"
        "  time          source  event  distinct_id  person\n"
        "  12:00:00.000  server  paid   u1           P1      <- time: timestamp-without-zone\n"
        "  12:00:00.000  client  ok     u1           P1\n"
        "Persons:\n"
        "  P1 = u1"
    )
    assert_utc_timestamps([ev("ok", "u1")])


def test_a_journey_step_with_a_distinct_id_matches_only_that_id(ev: MakeEvent) -> None:
    events = [ev("buy", "u1", source="server")]
    with pytest.raises(AssertionError):
        assert_same_user_journey(events, [{"event": "buy", "distinct_id": "someone-else"}])
    [matched] = assert_same_user_journey(events, [{"event": "buy", "distinct_id": "u1"}])
    assert matched.distinct_id == "u1"
