"""The recorder: arrival order, queries, waits that wake on arrival, rejected requests."""

from __future__ import annotations

import threading

import pytest
from support import MakeEvent

from pytest_hybrid_analytics import EventRecorder, RejectedRequest


@pytest.fixture
def recorder(ev: MakeEvent) -> EventRecorder:
    rec = EventRecorder()
    rec.record(
        [
            ev("$pageview", "anon", at=0, **{"$current_url": "https://shop.test/"}),
            ev("add_to_cart", "anon", at=1, sku="A-1", qty=2),
            ev("purchase", "user", source="server", at=2, amount=99.5, currency="EUR"),
            ev("purchase", "user", source="server", at=3, amount=10, currency="USD"),
        ]
    )
    return rec


def test_events_are_in_arrival_order_and_a_copy(recorder: EventRecorder) -> None:
    events = recorder.events
    assert [e.event for e in events] == ["$pageview", "add_to_cart", "purchase", "purchase"]
    events.clear()
    assert len(recorder) == 4
    assert [e.event for e in recorder] == ["$pageview", "add_to_cart", "purchase", "purchase"]
    assert repr(recorder) == "<EventRecorder 4 events, 0 rejected>"


def test_find_filters_by_name_source_id_and_properties(recorder: EventRecorder) -> None:
    assert len(recorder.find("purchase")) == 2
    assert recorder.find("purchase", source="client") == []
    assert [e.properties["amount"] for e in recorder.find(currency="EUR")] == [99.5]
    assert [e.event for e in recorder.find(distinct_id="anon")] == ["$pageview", "add_to_cart"]
    assert len(recorder.find()) == 4
    assert len(recorder.find("$pageview", **{"$current_url": "https://shop.test/"})) == 1


def test_query_values_may_be_types_and_predicates(recorder: EventRecorder) -> None:
    assert [e.properties["amount"] for e in recorder.find(amount=float)] == [99.5]
    assert len(recorder.find(amount=int | float)) == 2
    assert [e.properties["amount"] for e in recorder.find(amount=lambda a: a > 50)] == [99.5]
    assert len(recorder.find(lambda name: name.startswith("$"))) == 1
    assert len(recorder.find(distinct_id=lambda d: d.startswith("us"))) == 2
    # A predicate that raises does not match; it does not crash the query.
    assert recorder.find(sku=lambda s: s > 5) == []


def test_source_must_be_client_or_server(recorder: EventRecorder) -> None:
    with pytest.raises(ValueError, match="source must be 'client', 'server' or None, got 'web'"):
        recorder.find(source="web")


def test_wait_for_returns_what_already_arrived(recorder: EventRecorder) -> None:
    assert [e.properties["currency"] for e in recorder.wait_for("purchase", count=2)] == [
        "EUR",
        "USD",
    ]


def test_wait_for_wakes_when_another_thread_records(ev: MakeEvent) -> None:
    recorder = EventRecorder()
    waiting = threading.Event()
    result: list[object] = []

    def waiter() -> None:
        waiting.set()
        result.extend(recorder.wait_for("late", source="server", count=2, timeout=60))

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait()
    recorder.record([ev("late", "u", source="server")])
    recorder.record([ev("other", "u"), ev("late", "u", source="server", at=1)])
    thread.join()
    assert [e.event for e in result] == ["late", "late"]


def test_wait_for_timeout_names_the_query_near_misses_and_timeline(
    recorder: EventRecorder,
) -> None:
    with pytest.raises(AssertionError) as info:
        recorder.wait_for("purchase", source="server", amount=50, timeout=0.01)
    assert (
        str(info.value)
        == """\
wait_for('purchase', source='server', amount=50): expected 1 matching event within 0.01 s, \
0 arrived.
Near misses:
  'purchase' from server by 'user': amount=99.5 differs (wanted 50)
  'purchase' from server by 'user': amount=10 differs (wanted 50)
Captured timeline (4 events, 2 persons):
  time          source  event        distinct_id  person
  12:00:00.000  client  $pageview    anon         P1
  12:00:01.000  client  add_to_cart  anon         P1
  12:00:02.000  server  purchase     user         P2      amount=99.5  <- near miss
  12:00:03.000  server  purchase     user         P2      amount=10  <- near miss
Persons:
  P1 = anon
  P2 = user
Next step: compare the near misses with the query; raise timeout= if the event is slow."""
    )


def test_wait_for_on_an_empty_recorder_says_nothing_arrived() -> None:
    with pytest.raises(AssertionError) as info:
        EventRecorder().wait_for("x", timeout=0)
    assert str(info.value).endswith(
        "Next step: no PostHog request reached the recorder. Check that the SDK is initialised "
        "and points at a host the harness covers (README, 'Nothing arrived?'), and that a "
        "server SDK was flushed."
    )


def test_wait_for_says_which_side_sent_nothing(recorder: EventRecorder, ev: MakeEvent) -> None:
    only_client = EventRecorder()
    only_client.record([ev("a", "u")])
    with pytest.raises(AssertionError, match="nothing arrived from the server; check that"):
        only_client.wait_for("a", source="server", timeout=0)
    with pytest.raises(AssertionError, match=r"expected 3 matching events within 0 s, 2 arrived"):
        recorder.wait_for("purchase", count=3, timeout=0)
    with pytest.raises(ValueError, match="count must be at least 1, got 0"):
        recorder.wait_for("purchase", count=0)


def test_rejected_requests_are_kept_and_reported(recorder: EventRecorder) -> None:
    recorder.reject(
        RejectedRequest("POST", "/e/", {}, b"\x1f\x8b", "the body is not valid gzip", "browser")
    )
    [item] = recorder.rejected
    assert (item.reason, item.body, item.status) == ("the body is not valid gzip", b"\x1f\x8b", 400)
    assert "POST /e/  (2 bytes, browser): the body is not valid gzip" in recorder.timeline()
    with pytest.raises(AssertionError, match="requests were rejected above"):
        recorder.wait_for("never", timeout=0)


def test_clear_forgets_everything_and_restarts_waits(
    recorder: EventRecorder, ev: MakeEvent
) -> None:
    recorder.reject(RejectedRequest("POST", "/e/", {}, b"", "empty"))
    recorder.clear()
    assert (recorder.events, recorder.rejected) == ([], [])
    recorder.record([ev("after", "u")])
    assert len(recorder.wait_for("after")) == 1
    assert recorder.find("purchase") == []


def test_recording_from_many_threads_loses_nothing(ev: MakeEvent) -> None:
    recorder = EventRecorder()
    batch = [ev("e", "u", uuid=str(i)) for i in range(200)]

    def send(part: int) -> None:
        for event in batch[part::8]:
            recorder.record([event])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.uuid or "" for e in recorder.events) == sorted(str(i) for i in range(200))


# -- the next step a wait_for failure ends with fits what arrived ----------------------------------


def next_step(recorder: EventRecorder, *args: object, **kwargs: object) -> str:
    with pytest.raises(AssertionError) as info:
        recorder.wait_for(*args, timeout=0, **kwargs)  # type: ignore[arg-type]
    return str(info.value).splitlines()[-1]


@pytest.fixture
def shop(ev: MakeEvent) -> EventRecorder:
    rec = EventRecorder()
    rec.record(
        [
            ev("$pageview", "anon", at=0),
            ev("purchase_completed", "user", at=1, amount=99.5),
            ev("add_to_cart", "anon", at=2, sku="A-1"),
        ]
    )
    return rec


def test_with_no_near_miss_the_next_step_names_similar_names(shop: EventRecorder) -> None:
    assert next_step(shop, "purchase") == (
        "Next step: no event named 'purchase' arrived, but 1 similar name was captured: "
        "'purchase_completed'; check the name the app sends (or the query's)."
    )
    assert next_step(shop, "Add To Cart", sku="A-1") == (
        "Next step: no event named 'Add To Cart' arrived, but 1 similar name was captured: "
        "'add_to_cart'; check the name the app sends (or the query's)."
    )
    with pytest.raises(AssertionError) as info:
        shop.wait_for("purchase", timeout=0)
    assert "Near misses" not in str(info.value)


def test_with_no_similar_name_the_next_step_lists_what_arrived(shop: EventRecorder) -> None:
    assert next_step(shop, "refund_issued") == (
        "Next step: no event named 'refund_issued' arrived, nor one with a similar name "
        "(captured: '$pageview', 'purchase_completed', 'add_to_cart'); check that the app "
        "captures it on this path, or raise timeout= if it is slow."
    )
    assert next_step(shop, lambda name: name.startswith("order")) == (
        "Next step: no captured event's name passes <lambda> (captured: '$pageview', "
        "'purchase_completed', 'add_to_cart'); check the predicate, or raise timeout= if the "
        "event is slow."
    )


def test_the_next_step_says_when_the_event_came_from_the_other_side(
    shop: EventRecorder, ev: MakeEvent
) -> None:
    assert next_step(shop, "purchase_completed", source="server") == (
        "Next step: nothing arrived from the server; check that side's SDK is set up and "
        "flushed (README, 'Nothing arrived?'). 1 matching event arrived from the client: wait with "
        "source='client' if that side is meant."
    )
    shop.record([ev("receipt_emailed", "user", source="server", at=3)])
    assert next_step(shop, "purchase_completed", source="server", amount=99.5) == (
        "Next step: 1 matching event arrived from the client instead; check that the server "
        "sends it, or wait with source='client' if that side is meant."
    )


def test_the_next_step_counts_what_matched_and_names_near_misses_only_when_there_are_some(
    shop: EventRecorder,
) -> None:
    assert next_step(shop, "purchase_completed", count=2) == (
        "Next step: only 1 matching event arrived, fewer than count= asks; check that the app "
        "sends each one, or raise timeout= if the rest are slow."
    )
    assert next_step(shop, "purchase_completed", amount=5) == (
        "Next step: compare the near misses with the query; raise timeout= if the event is slow."
    )
