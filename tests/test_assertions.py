"""The checks: what passes, what fails, and the exact words a failure uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import MakeEvent

from pytest_hybrid_analytics import (
    EventRecorder,
    assert_no_duplicates,
    assert_same_person,
    assert_same_user_journey,
    assert_single_distinct_id,
    find_duplicates,
)

ANON = {"$anon_distinct_id": "anon"}


def recorded(*events: object) -> EventRecorder:
    rec = EventRecorder()
    rec.record(events)  # type: ignore[arg-type]
    return rec


# -- assert_single_distinct_id -----------------------------------------------------------------


def test_single_distinct_id_passes_and_returns_the_id(ev: MakeEvent) -> None:
    rec = recorded(ev("$pageview", "u1"), ev("purchase", "u1", source="server", at=1))
    assert assert_single_distinct_id(rec) == "u1"
    assert assert_single_distinct_id(rec.events, expected="u1") == "u1"
    assert assert_single_distinct_id(iter(rec.find(source="server"))) == "u1"


def test_single_distinct_id_failure_lists_each_id_and_the_timeline(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon-7"),
        ev("subscribed", "user-7", source="server", at=1),
        ev("$autocapture", "anon-7", at=2),
    )
    with pytest.raises(AssertionError) as info:
        assert_single_distinct_id(rec)
    assert (
        str(info.value)
        == """\
Expected every event to carry one distinct_id; found 2:
  'anon-7': 2 client events ($pageview, $autocapture)
  'user-7': 1 server event (subscribed)
Next step: pass posthog.get_distinct_id() from the client to the server, or identify with the \
user id on both sides (guide: 'Identity Consistency').
Captured timeline (3 events, 2 persons):
  time          source  event         distinct_id  person
  12:00:00.000  client  $pageview     anon-7       P1
  12:00:01.000  server  subscribed    user-7       P2
  12:00:02.000  client  $autocapture  anon-7       P1
Persons:
  P1 = anon-7
  P2 = user-7"""
    )


def test_single_distinct_id_is_literal_and_points_to_same_person_for_merged_ids(
    ev: MakeEvent,
) -> None:
    rec = recorded(ev("$pageview", "anon"), ev("$identify", "user", at=1, **ANON))
    with pytest.raises(AssertionError, match="These ids are one person, joined by \\$identify"):
        assert_single_distinct_id(rec)


def test_single_distinct_id_checks_expected_and_missing_ids(ev: MakeEvent) -> None:
    with pytest.raises(AssertionError, match=r"one distinct_id \('u2'\); found 1:\n  'u1'"):
        assert_single_distinct_id([ev("a", "u1")], expected="u2")
    with pytest.raises(AssertionError, match="some events have no distinct_id at all"):
        assert_single_distinct_id([ev("a", None), ev("b", "u1")])
    with pytest.raises(AssertionError, match="<none>: 1 client event"):
        assert_single_distinct_id([ev("a", None)])


@pytest.mark.parametrize(
    "check",
    [assert_single_distinct_id, assert_same_person, lambda e: assert_same_user_journey(e, ["a"])],
)
def test_a_check_over_no_events_fails(check: object) -> None:
    with pytest.raises(AssertionError, match="there are no events to check"):
        check(EventRecorder())  # type: ignore[operator]


def test_checks_refuse_what_is_not_events() -> None:
    with pytest.raises(TypeError, match="expected CapturedEvent items, got str"):
        assert_single_distinct_id(["$pageview"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected an EventRecorder or an iterable"):
        assert_same_person("abc")  # type: ignore[arg-type]


# -- assert_same_person ------------------------------------------------------------------------


def test_anonymous_to_identified_flow_is_one_person(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **ANON),
        ev("purchase", "user", source="server", at=2),
    )
    assert assert_same_person(rec) == "user"


def test_a_filtered_list_knows_the_merge_from_the_recorder_passed_with_it(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **ANON),
        ev("purchase", "user", source="server", at=2),
    )
    subset = rec.find("$pageview") + rec.find(source="server")
    assert [e.event for e in subset] == ["$pageview", "purchase"]
    assert assert_same_person(subset, recorder=rec) == "user"
    assert assert_same_user_journey(subset, ["$pageview", "purchase"], recorder=rec)
    # Events carry no pointer back to their recorder: alone, the list knows no $identify.
    with pytest.raises(AssertionError, match="No \\$identify, \\$create_alias or merge"):
        assert_same_person(subset)


def test_same_person_failure_names_persons_merges_and_next_step(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **ANON),
        ev("purchase", "other", source="server", at=2),
    )
    with pytest.raises(AssertionError) as info:
        assert_same_person(rec)
    assert str(info.value).startswith("""\
Expected all events to belong to one person; found 2 persons:
  P1 ('anon', 'user'): $pageview, $identify
  P2 ('other'): purchase
Merges seen: 'anon' -> 'user' by $identify.
Next step: the client identified the user, but the server sent under another id: use the same \
user id on both sides (guide: 'Identity Consistency').
Captured timeline (3 events, 2 persons):""")


def test_same_person_advice_fits_how_the_persons_split(ev: MakeEvent) -> None:
    def next_step(*events: object) -> str:
        with pytest.raises(AssertionError) as info:
            assert_same_person(list(events))  # type: ignore[arg-type]
        return next(line for line in str(info.value).splitlines() if line.startswith("Next"))

    # The server ignores the id the client would pass it: no identify could fix that.
    assert next_step(ev("$pageview", "anon"), ev("subscribed", "guest-1", source="server")) == (
        "Next step: pass the client's distinct id to the server (posthog.get_distinct_id() with "
        "the request, the guide's approach 1), or identify the user with the same id on both "
        "sides (guide: 'Identity Consistency')."
    )
    # Two browser ids never joined: the login never identified.
    assert next_step(ev("$pageview", "anon"), ev("$pageview", "user", at=1)).startswith(
        "Next step: call posthog.identify(user_id) on login"
    )


def test_same_person_without_any_merge_and_with_anonymous_events(ev: MakeEvent) -> None:
    with pytest.raises(AssertionError, match="No \\$identify, \\$create_alias or merge event"):
        assert_same_person([ev("a", "x"), ev("b", "y")])
    with pytest.raises(AssertionError, match="found 1 person and 1 event with no distinct_id"):
        assert_same_person([ev("a", "x"), ev("b", None)])


# -- assert_no_duplicates ----------------------------------------------------------------------


def test_a_clean_journey_has_no_duplicates(ev: MakeEvent) -> None:
    rec = recorded(
        ev("$pageview", "u", uuid="1", **{"$current_url": "/a"}),
        ev("$pageview", "u", uuid="2", at=1, **{"$current_url": "/b"}),
        ev("checkout_clicked", "u", uuid="3", at=2),
        ev("purchase", "u", source="server", uuid="4", at=3),
        ev("$feature_flag_called", "u", uuid="5", at=3, **{"$feature_flag": "f"}),
        ev("$feature_flag_called", "u", source="server", uuid="6", at=3, **{"$feature_flag": "f"}),
    )
    assert_no_duplicates(rec)


def test_the_same_uuid_twice_is_an_sdk_retry(ev: MakeEvent) -> None:
    rec = recorded(ev("signup", "u", uuid="abc"), ev("signup", "u", uuid="abc", at=30))
    with pytest.raises(AssertionError) as info:
        assert_no_duplicates(rec)
    assert (
        str(info.value)
        == """\
Expected no duplicate events (window 10 s); found 1:
  1. 'signup' with uuid abc was recorded 2 times: an SDK retry (ingestion must answer exactly \
200) or an app that sends it twice.
Captured timeline (2 events, 1 person):
  time          source  event   distinct_id  person
  12:00:00.000  client  signup  u            P1      <- duplicate 1
  12:00:30.000  client  signup  u            P1      <- duplicate 1
Persons:
  P1 = u"""
    )


def test_one_action_tracked_on_both_sides_within_the_window(ev: MakeEvent) -> None:
    rec = recorded(
        ev("purchase_completed", "anon", uuid="c", amount=5),
        ev("$identify", "user", uuid="i", at=0.1, **ANON),
        ev("purchase_completed", "user", source="server", uuid="s", at=0.5, amount=5),
    )
    with pytest.raises(
        AssertionError,
        match=(
            r"1\. 'purchase_completed' for P1 was sent by both client and server 0\.5 s apart: "
            r"choose one source per event \(guide: 'Duplicate events'"
        ),
    ):
        assert_no_duplicates(rec)
    assert_no_duplicates(rec, window=timedelta(seconds=0.4))


def test_the_same_event_and_properties_fired_twice(ev: MakeEvent) -> None:
    rec = recorded(
        ev("add_to_cart", "u", uuid="1", sku="A", **{"$time": 1, "$insert_id": "x"}),
        ev("add_to_cart", "u", uuid="2", at=0.2, sku="A", **{"$time": 2, "$insert_id": "y"}),
    )
    with pytest.raises(
        AssertionError,
        match=(
            r"'add_to_cart' for P1 was fired 2 times by the client with the same properties, "
            r"0\.2 s apart"
        ),
    ):
        assert_no_duplicates(rec)


@pytest.mark.parametrize("name", ["$set", "$set_once", "$identify", "$create_alias"])
def test_idempotent_bookkeeping_sent_again_is_not_a_duplicate(ev: MakeEvent, name: str) -> None:
    # A server that sets the same person properties at registration and again at login.
    props = {"$set": {"plan": "pro"}, "$anon_distinct_id": "a", "alias": "a"}
    rec = recorded(
        ev(name, "u", source="server", uuid="1", **props),
        ev(name, "u", source="server", uuid="2", at=0.5, **props),
        ev(name, "u", source="client", uuid="3", at=0.7, **props),
    )
    assert find_duplicates(rec) == []
    again = recorded(*rec.events, ev("signed_in", "u", uuid="4"), ev("signed_in", "u", uuid="5"))
    assert [d.events[0].event for d in find_duplicates(again)] == ["signed_in"]


def test_different_properties_or_a_wide_gap_are_not_duplicates(ev: MakeEvent) -> None:
    assert_no_duplicates(
        [
            ev("add_to_cart", "u", uuid="1", sku="A"),
            ev("add_to_cart", "u", uuid="2", at=0.2, sku="B"),
            ev("add_to_cart", "u", uuid="3", at=20, sku="A"),
        ]
    )
    assert_no_duplicates([ev("add_to_cart", "u", sku="A"), ev("add_to_cart", "v", sku="A")])


def test_every_duplicate_is_listed(ev: MakeEvent) -> None:
    rec = recorded(
        ev("a", "u", uuid="1"),
        ev("a", "u", uuid="1"),
        ev("b", "u", uuid="2"),
        ev("b", "u", source="server", uuid="3", at=1),
    )
    with pytest.raises(AssertionError, match=r"found 2:\n  1\. 'a' with uuid 1.*\n  2\. 'b' for"):
        assert_no_duplicates(rec)


# -- assert_same_user_journey ------------------------------------------------------------------


def journey_events(ev: MakeEvent, server_id: str = "user") -> EventRecorder:
    return recorded(
        ev("$pageview", "anon", at=0),
        ev("product_viewed", "anon", at=1, sku="A"),
        ev("add_to_cart", "anon", at=2, sku="A"),
        ev("$identify", "user", at=3, **ANON),
        ev("purchase_completed", server_id, source="server", at=4, currency="EUR"),
    )


def test_a_journey_in_order_by_one_person_passes_with_others_between(ev: MakeEvent) -> None:
    rec = journey_events(ev)
    matched = assert_same_user_journey(
        rec,
        [
            "$pageview",
            ("add_to_cart", "client"),
            {"event": "purchase_completed", "source": "server", "properties": {"currency": "EUR"}},
        ],
    )
    assert [e.event for e in matched] == ["$pageview", "add_to_cart", "purchase_completed"]
    assert assert_same_user_journey(rec, ["$pageview"], distinct_id="user")[0].event == "$pageview"


def test_a_journey_that_breaks_at_login(ev: MakeEvent) -> None:
    rec = journey_events(ev, server_id="user-from-db")
    with pytest.raises(AssertionError) as info:
        assert_same_user_journey(
            rec, ["$pageview", "add_to_cart", ("purchase_completed", "server")]
        )
    assert (
        str(info.value)
        == """\
Expected a journey by one person, in order: '$pageview' -> 'add_to_cart' -> \
('purchase_completed', 'server').
The furthest any person got: P1 matched 2 of 3 steps; step 3 ('purchase_completed', 'server') \
never followed.
Step 3 was sent by server under distinct_id 'user-from-db' (P2), a different person: the \
journey breaks here. Next step: pass the client's distinct id to the server, or identify the \
user on login on both sides (guide: 'Identity Consistency').
Captured timeline (5 events, 2 persons):
  time          source  event               distinct_id   person
  12:00:00.000  client  $pageview           anon          P1      <- step 1
  12:00:01.000  client  product_viewed      anon          P1
  12:00:02.000  client  add_to_cart         anon          P1      <- step 2
  12:00:03.000  client  $identify           user          P1
  12:00:04.000  server  purchase_completed  user-from-db  P2      <- step 3?
Persons:
  P1 = anon, user
  P2 = user-from-db"""
    )


def test_a_journey_out_of_order(ev: MakeEvent) -> None:
    with pytest.raises(AssertionError, match="Step 2 happened for this person only before step 1"):
        assert_same_user_journey(journey_events(ev), ["add_to_cart", "product_viewed"])


def test_a_journey_step_never_captured_and_near_misses(ev: MakeEvent) -> None:
    rec = journey_events(ev)
    with pytest.raises(
        AssertionError, match=(r"No event matches step 3 'refund_issued': it was never captured\.")
    ):
        assert_same_user_journey(rec, ["$pageview", "add_to_cart", "refund_issued"])
    with pytest.raises(
        AssertionError,
        match=(
            r"No event matches step 1\. Near misses: 'add_to_cart' from client by 'anon': "
            r"sku='A' differs \(wanted 'B'\)"
        ),
    ):
        assert_same_user_journey(rec, [{"event": "add_to_cart", "properties": {"sku": "B"}}])


def test_a_journey_of_a_given_person(ev: MakeEvent) -> None:
    rec = journey_events(ev)
    with pytest.raises(
        AssertionError,
        match="No events of 'nobody' \\(or of an id merged with it\\) were captured\\.",
    ):
        assert_same_user_journey(rec, ["$pageview"], distinct_id="nobody")


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ([], "steps must be a non-empty list"),
        ("$pageview", "steps must be a non-empty list"),
        ([("a", "client", "x")], "journey step 1: a tuple step is \\(event, source\\)"),
        ([{"name": "a"}], "journey step 1: a dict step has 'event'"),
        (["a", 3], "journey step 2: expected a name, \\(event, source\\) or dict, got int"),
    ],
)
def test_malformed_steps_raise_type_error(ev: MakeEvent, steps: object, reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        assert_same_user_journey([ev("a")], steps)  # type: ignore[arg-type]


def test_same_person_says_where_personless_server_events_come_from(ev: MakeEvent) -> None:
    # posthog.capture("user_logged_in") with no distinct id: posthog-python invents a uuid per
    # event and sends it personless.
    events = [
        ev("$pageview", "anon"),
        ev("$identify", "user", at=1, **ANON),
        ev(
            "user_logged_in",
            "2f0c-uuid",
            source="server",
            at=2,
            **{"$process_person_profile": False},
        ),
    ]
    with pytest.raises(AssertionError) as info:
        assert_same_person(events)
    lines = str(info.value).splitlines()
    assert lines[:3] == [
        "Expected all events to belong to one person; found 1 person, 1 event on no person:",
        "  P1 ('anon', 'user'): $pageview, $identify",
        "  no person: user_logged_in (server): sent with $process_person_profile: false (or "
        "dropped), so PostHog puts them on no person; posthog-python sends that for a capture() "
        "with no distinct_id, under an id it invents for the one event: pass the user's id",
    ]
