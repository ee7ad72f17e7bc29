"""The recorder, edge by edge: the next step a timed-out wait gives on each branch, the uuid
bookkeeping, and waiting for deliveries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from support import MakeEvent

from pytest_hybrid_analytics import CapturedEvent, EventRecorder
from pytest_hybrid_analytics._recording.store import EventStore


def recorded(*events: CapturedEvent) -> EventRecorder:
    rec = EventRecorder()
    rec.record(events)
    return rec


def timed_out(rec: EventRecorder, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        rec.wait_for(*args, timeout=0, **kwargs)
    return str(info.value)


def next_step(rec: EventRecorder, *args: Any, **kwargs: Any) -> str:
    return timed_out(rec, *args, **kwargs).splitlines()[-1]


# -- the next step of a timed-out wait ---------------------------------------------------------


def test_a_wait_with_nothing_from_that_side_points_at_the_other_sides_match(
    ev: MakeEvent,
) -> None:
    assert next_step(recorded(ev("a", "u1")), "a", source="server") == (
        "Next step: nothing arrived from the server; check that side's SDK is set up and flushed "
        "(README, 'Nothing arrived?'). 1 matching event arrived from the client: wait with "
        "source='client' if that side is meant."
    )
    assert next_step(recorded(ev("a", "u1", source="server")), "a", source="client") == (
        "Next step: nothing arrived from the client; check that side's SDK is set up and flushed "
        "(README, 'Nothing arrived?'). 1 matching event arrived from the server: wait with "
        "source='server' if that side is meant."
    )


def test_a_match_from_the_wrong_side_is_named_as_such(ev: MakeEvent) -> None:
    rec = recorded(ev("a", "u1"), ev("b", "u1", source="server"))
    assert next_step(rec, "a", source="server") == (
        "Next step: 1 matching event arrived from the client instead; check that the server "
        "sends it, or wait with source='client' if that side is meant."
    )


def test_a_side_that_sent_nothing_at_all_is_named(ev: MakeEvent) -> None:
    assert next_step(recorded(ev("a", "u1", source="server")), "b", source="client") == (
        "Next step: nothing arrived from the client; check that side's SDK is set up and flushed "
        "(README, 'Nothing arrived?')."
    )


def test_an_unknown_name_lists_five_captured_names_and_counts_the_rest(ev: MakeEvent) -> None:
    seven = recorded(*(ev(f"e{i}", "u1", at=i) for i in range(7)))
    assert next_step(seven, "zzz") == (
        "Next step: no event named 'zzz' arrived, nor one with a similar name (captured: 'e0', "
        "'e1', 'e2', 'e3', 'e4' and 2 more); check that the app captures it on this path, or raise "
        "timeout= if it is slow."
    )
    five = recorded(*(ev(f"e{i}", "u1", at=i) for i in range(5)))
    assert "(captured: 'e0', 'e1', 'e2', 'e3', 'e4'); check the predicate" in next_step(
        five, lambda name: name.startswith("x")
    )


def test_similar_names_are_listed_most_similar_first(ev: MakeEvent) -> None:
    names = ["other", "chekout_don", "Checkout Done!", "checkout", "checkout_done"]
    rec = recorded(*(ev(name, "u1", at=i) for i, name in enumerate(names)))
    assert next_step(rec, "checkout_done2") == (
        "Next step: no event named 'checkout_done2' arrived, but 3 similar names were captured: "
        "'Checkout Done!', 'checkout', 'checkout_done'; check the name the app sends (or the "
        "query's)."
    )
    assert next_step(rec, "chekout_dn") == (
        "Next step: no event named 'chekout_dn' arrived, but 3 similar names were captured: "
        "'chekout_don', 'Checkout Done!', 'checkout_done'; check the name the app sends (or the "
        "query's)."
    )


def test_a_rejected_request_comes_first_in_the_next_step(ev: MakeEvent) -> None:
    from pytest_hybrid_analytics._model.events import RejectedRequest

    rec = recorded(ev("a", "u1"))
    rec.reject(RejectedRequest("POST", "/batch/", {}, b"x", "the body is not JSON"))
    assert next_step(rec, "b") == (
        "Next step: requests were rejected above; fix what their reasons name (the events in "
        "them are not on the timeline)."
    )


def test_a_timed_out_wait_marks_matches_and_joins_the_near_miss_reasons(ev: MakeEvent) -> None:
    rec = recorded(ev("a", "u1", plan="pro", n=1), ev("a", "u2", at=1, plan="free", n=2))
    text = timed_out(rec, "a", plan="free", n=1)
    assert text.splitlines()[:4] == [
        "wait_for('a', plan='free', n=1): expected 1 matching event within 0 s, 0 arrived.",
        "Near misses:",
        "  'a' from client by 'u1': plan='pro' differs (wanted 'free')",
        "  'a' from client by 'u2': n=2 differs (wanted 1)",
    ]
    both = timed_out(rec, "a", plan="gold", n=3).splitlines()[2]
    assert both == (
        "  'a' from client by 'u1': plan='pro' differs (wanted 'gold'); n=1 differs (wanted 3)"
    )
    matched = timed_out(rec, "a", count=3)
    assert "12:00:00.000  client  a      u1           P1      <- match" in matched


def test_a_wait_by_distinct_id_only_counts_that_ids_events(ev: MakeEvent) -> None:
    rec = recorded(ev("a", "u1"), ev("a", "u2", at=1))
    assert [e.distinct_id for e in rec.wait_for("a", distinct_id="u2", timeout=0)] == ["u2"]
    assert len(rec.wait_for("a", count=2, timeout=0)) == 2
    with pytest.raises(AssertionError, match=r"^wait_for\('a', distinct_id='u3'\)"):
        rec.wait_for("a", distinct_id="u3", timeout=0)


# -- uuids and deliveries ----------------------------------------------------------------------


def test_a_batch_repeating_a_recorded_uuid_keeps_its_new_events(ev: MakeEvent) -> None:
    store = EventStore()
    store.record([ev("a", "u1", uuid="1")])
    store.record([ev("a", "u1", at=1, uuid="1"), ev("b", "u1", at=2), ev("c", "u1", uuid="3")])
    assert [e.event for e in store.events] == ["a", "b", "c"]
    assert [e.uuid for e in store.retried] == ["1"]
    store.clear()
    assert (store.events, store.retried, store.rejected) == ([], [], [])
    store.record([ev("a", "u1", uuid="1")])
    assert store.retried == []


def test_waiting_for_deliveries_counts_retries_and_what_is_accounted_elsewhere(
    ev: MakeEvent,
) -> None:
    store = EventStore()
    store.record([ev("a", "u1", uuid="1")])
    store.record([ev("a", "u1", uuid="1")])
    assert store.wait_recorded(["1", "2", "3"], timeout=0) == {"2", "3"}
    assert store.wait_recorded(["1", "2", "3"], timeout=0, also=lambda: {"3"}) == {"2"}
    assert store.wait_recorded(["1"], timeout=0, also=lambda: {"9"}) == set()


def test_a_wait_for_deliveries_wakes_when_the_last_one_is_recorded(ev: MakeEvent) -> None:
    store = EventStore()
    late = ev("a", "u1", uuid="late")

    def deliver_once() -> Callable[[], set[str]]:
        started: list[threading.Thread] = []

        def also() -> set[str]:
            if not started:
                # Blocks on the store's lock until the waiter sleeps on its condition.
                started.append(threading.Thread(target=store.record, args=([late],)))
                started[0].start()
            return set()

        return also

    assert store.wait_recorded(["late"], timeout=1.0, also=deliver_once()) == set()
    assert store.wait_until(lambda: len(store) == 1, timeout=0)
    assert not store.wait_until(lambda: len(store) == 2, timeout=0)
