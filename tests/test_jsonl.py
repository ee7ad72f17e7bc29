"""JSON Lines out and back: every field of every event, rejected requests too, and clear errors
for a file that is not one."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_hybrid_analytics import (
    Analytics,
    CapturedEvent,
    EventRecorder,
    RejectedRequest,
    assert_same_person,
)
from pytest_hybrid_analytics._reports.jsonl import (
    event_to_json,
    load_jsonl,
    read_jsonl,
    rejected_from_json,
    rejected_to_json,
    write_jsonl,
)

PAYLOADS = Path(__file__).parent / "payloads"
FIELDS = [f.name for f in dataclasses.fields(CapturedEvent) if not f.name.startswith("_")]


def fields(event: CapturedEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in FIELDS}


def offsets(event: CapturedEvent) -> tuple[Any, Any]:
    return event.timestamp.utcoffset(), event.received_at.utcoffset()


def replayed() -> Analytics:
    """Every recorded real request (all SDKs) through the fake API, plus one bad request."""
    analytics = Analytics()
    for path in sorted(PAYLOADS.glob("posthog-*.json")):
        for request in json.loads(path.read_text())["requests"]:
            analytics.api.handle(
                request["method"],
                request["path"],
                request["headers"],
                base64.b64decode(request["body_base64"]),
                transport=request["transport"],
            )
    analytics.api.handle("POST", "/batch/", {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\xff")
    return analytics


def test_real_events_of_every_sdk_round_trip_field_for_field(tmp_path: Path) -> None:
    analytics = replayed()
    assert len(analytics) > 50
    assert {e.lib for e in analytics.events} >= {"web", "posthog-python", "posthog-node"}
    [bad] = analytics.rejected
    file = tmp_path / "session.jsonl"

    assert write_jsonl(analytics, file) == len(analytics) + 1
    loaded = load_jsonl(file)

    assert type(loaded) is EventRecorder
    assert [fields(e) for e in loaded.events] == [fields(e) for e in analytics.events]
    assert [offsets(e) for e in loaded.events] == [offsets(e) for e in analytics.events]
    assert loaded.rejected == [bad]
    assert loaded.identity.persons() == analytics.identity.persons()


def test_a_loaded_session_is_asserted_on_like_a_live_one(tmp_path: Path) -> None:
    analytics = Analytics()
    body = {
        "api_key": "phc_k",
        "batch": [
            {"event": "$pageview", "properties": {"distinct_id": "anon-1", "$lib": "web"}},
            {
                "event": "$identify",
                "properties": {"distinct_id": "user-1", "$anon_distinct_id": "anon-1"},
            },
            {"event": "paid", "distinct_id": "user-1", "properties": {"amount": 9.5}},
        ],
    }
    assert analytics.api.handle("POST", "/batch/", {}, json.dumps(body)).status == 200
    write_jsonl(analytics, tmp_path / "s.jsonl")

    loaded = load_jsonl(tmp_path / "s.jsonl", into=Analytics())

    assert isinstance(loaded, Analytics)
    assert [e.event for e in loaded.wait_for(None, count=3, timeout=0)] == [
        "$pageview",
        "$identify",
        "paid",
    ]
    assert loaded.find("paid", amount=9.5)[0].distinct_id == "user-1"
    assert_same_person(loaded)


TEXT = st.text(max_size=12)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=()), max_size=8),  # lone surrogates too
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
OBJECT = st.dictionaries(TEXT, JSON, max_size=5)
ZONES = st.just(UTC) | st.integers(-23 * 60, 23 * 60).map(  # real offsets: whole minutes
    lambda minutes: timezone(timedelta(minutes=minutes))
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)
EVENTS = st.builds(
    CapturedEvent,
    event=st.text(min_size=1, max_size=20),
    distinct_id=st.none() | TEXT,
    properties=OBJECT,
    timestamp=MOMENTS,
    uuid=st.none() | st.uuids().map(str),
    source=st.sampled_from(["client", "server"]),
    lib=st.none() | TEXT,
    api_key=st.none() | TEXT,
    set=OBJECT,
    set_once=OBJECT,
    received_at=MOMENTS,
    raw_timestamp=st.none() | TEXT,
    endpoint=TEXT,
    transport=TEXT,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(EVENTS, max_size=3))
def test_any_event_round_trips(events: list[CapturedEvent]) -> None:
    out = io.StringIO()
    assert write_jsonl(events, out) == len(events)
    assert all(line.isascii() for line in out.getvalue().splitlines())
    back = load_jsonl(io.StringIO(out.getvalue())).events
    assert [fields(e) for e in back] == [fields(e) for e in events]
    assert [offsets(e) for e in back] == [offsets(e) for e in events]


def test_lone_surrogates_and_infinities_survive() -> None:
    sent = b'{"event": "e", "distinct_id": "u", "properties": {"odd": "\\ud800", "far": 1e999}}'
    analytics = Analytics()
    assert analytics.api.handle("POST", "/e/", {}, sent).status == 200
    out = io.StringIO()
    write_jsonl(analytics, out)
    [back] = load_jsonl(io.StringIO(out.getvalue())).events
    assert back.properties == {"odd": "\ud800", "far": float("inf")}


def _one() -> CapturedEvent:
    analytics = Analytics()
    analytics.api.handle("POST", "/e/", {}, json.dumps({"event": "e", "distinct_id": "u"}))
    return analytics.events[0]


@given(
    st.builds(
        RejectedRequest,
        method=TEXT,
        url=TEXT,
        headers=st.dictionaries(TEXT, TEXT, max_size=3),
        body=st.binary(max_size=64),
        reason=TEXT,
        transport=TEXT,
        status=st.integers(100, 599),
        received_at=MOMENTS,
    )
)
def test_any_rejected_request_round_trips(request: RejectedRequest) -> None:
    assert rejected_from_json(json.loads(json.dumps(rejected_to_json(request)))) == request


def test_writing_to_an_open_file_appends_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    first, second = _one(), _one()
    with path.open("w", encoding="utf-8") as out:
        write_jsonl([first], out)
        assert len(path.read_text().splitlines()) == 1  # flushed, readable while open
        write_jsonl([second], out)
    assert [fields(e) for e in read_jsonl(path) if isinstance(e, CapturedEvent)] == [
        fields(first),
        fields(second),
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ("[1]", "expected a JSON object, got list"),
        ('{"type": "page"}', "type must be 'event' or 'rejected', got 'page'"),
        ('{"type": "event", "event": "e"}', "an event line lacks distinct_id, properties, "),
        ("SOURCE", "source must be 'client' or 'server', got 'browser'"),
        ("NAIVE", "timestamp '2026-03-01T12:00:00' has no UTC offset"),
        ("PROPS", "properties must be an object, got list"),
        ('{"type": "rejected", "method": "GET"}', "a rejected line lacks url, headers, body, "),
        ("BODY", "body must be base64"),
    ],
)
def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path, line: str, error: str) -> None:
    good = json.dumps(event_to_json(_one()))
    variants = {
        "SOURCE": {**json.loads(good), "source": "browser"},
        "NAIVE": {**json.loads(good), "timestamp": "2026-03-01T12:00:00"},
        "PROPS": {**json.loads(good), "properties": []},
        "BODY": {
            **rejected_to_json(RejectedRequest("POST", "/e/", {}, b"x", "why")),
            "body": "!!",
        },
    }
    if line in variants:
        line = json.dumps(variants[line])
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}:3: {error}")):
        load_jsonl(path)
