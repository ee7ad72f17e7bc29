"""A run's records as one JSON text and back: what a pytest-xdist worker hands its controller."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support import T0, make_event

from pytest_hybrid_analytics import ClientNote, PiiGuard, RejectedRequest
from pytest_hybrid_analytics._reports.jsonl import event_to_json
from pytest_hybrid_analytics._reports.records import (
    RecordedTest,
    dump_run,
    dump_run_lines,
    load_run,
    load_run_lines,
)


def test_records_travel_whole_and_findings_still_point_at_their_event() -> None:
    events = [
        make_event("$pageview", "anon", at=0, **{"$current_url": "https://shop.test/"}),
        make_event("checkout_submitted", "anon", at=1, card="4242 4242 4242 4242"),
        make_event("purchase_completed", "user", source="server", at=2, amount=9.5),
    ]
    findings = PiiGuard().check(events)
    rejected = RejectedRequest(
        "POST",
        "/e/",
        {"Content-Type": "text/plain"},
        b"\x1f\x8bjunk",
        "the body is not valid gzip",
        "browser",
        400,
        received_at=T0 + timedelta(seconds=3),
    )
    kept = ClientNote("app/analytics.py:12", "never shut down", finding=False)
    lost = ClientNote.queued("app/jobs.py:3", 2, "at teardown", "its flush_interval is 3600 s")
    test = RecordedTest(
        "tests/test_shop.py::test_buy",
        "xfailed",
        events=events,
        rejected=[rejected],
        notes=[lost],
        findings=findings,
        message="AssertionError: no refund",
        reason="known bug",
        duration=1.25,
        faults=[("fail 503", 2), ("drop", 0)],
    )
    text = dump_run([test, RecordedTest("tests/test_home.py::test_skip", "skipped")], [kept])
    assert isinstance(json.loads(text), dict)  # plain JSON, whatever carries it

    (back, skipped), notes = load_run(text)
    assert notes == [kept]
    assert notes[0].finding is False
    assert back.notes == [lost]
    assert back.notes[0].finding is True
    assert [event_to_json(e) for e in back.events] == [event_to_json(e) for e in events]
    assert list(back.rejected) == [rejected]
    assert list(back.findings) == findings
    [card] = back.findings
    assert card.event is back.events[1]  # the same object: the report links it to its mark
    assert (back.outcome, back.message, back.reason, back.duration, back.faults) == (
        "xfailed",
        "AssertionError: no refund",
        "known bug",
        1.25,
        [("fail 503", 2), ("drop", 0)],
    )
    assert (skipped.nodeid, skipped.outcome, skipped.events, skipped.findings) == (
        "tests/test_home.py::test_skip",
        "skipped",
        [],
        [],
    )


def test_records_as_json_lines_round_trip_and_refuse_what_is_not_a_run() -> None:
    event = make_event("purchase_completed", "u1", source="server", uuid="p1", amount=9.5)
    test = RecordedTest("t.py::a", "failed", events=[event], message="boom", faults=[("drop", 1)])
    note = ClientNote("app.py:3", "never shut down", finding=False)
    text = dump_run_lines([test, RecordedTest("t.py::b", "skipped")], [note])
    assert text.splitlines()[0] == '{"hybrid_analytics_run": 1}'
    (back, skipped), notes = load_run_lines(text)
    assert (back.nodeid, back.outcome, back.message, back.faults) == (
        "t.py::a",
        "failed",
        "boom",
        [("drop", 1)],
    )
    assert [event_to_json(e) for e in back.events] == [event_to_json(event)]
    assert skipped.outcome == "skipped"
    assert notes == [note]
    with pytest.raises(ValueError, match=r"run\.jsonl:1: not a run's records"):
        load_run_lines('{"event": "x"}\n', source="run.jsonl")
    with pytest.raises(ValueError, match=r"run\.jsonl:2: not JSON"):
        load_run_lines('{"hybrid_analytics_run": 1}\n{oops\n', source="run.jsonl")
