"""Ingestion, edge by edge: which paths are PostHog's, which envelope carries the events, where
the key, the SDK and the send time come from, and the exact reason for what is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.ingest import (
    capture_path,
    parse_capture_request,
    sdk_from_headers,
)
from pytest_hybrid_analytics._model.wire import PayloadError

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(
    body: Any, url: str = "/batch/", headers: dict[str, str] | None = None, **kw: Any
) -> list[CapturedEvent]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_capture_request(url, headers, raw, received_at=RECEIVED, **kw)


def refusal(body: Any, url: str = "/batch/") -> str:
    with pytest.raises(PayloadError) as info:
        parse(body, url)
    return str(info.value)


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/e/", "/e"),
        ("/e", "/e"),
        ("/ingest/e/", "/e"),
        ("/i/v0/e/", "/i/v0/e"),
        ("/i/v0/s/", "/i/v0/s"),
        ("/s/", "/s"),
        ("/capture/", "/capture"),
        ("/batch", "/batch"),
        ("/track/", "/track"),
        ("/engage/", "/engage"),
        ("/i/v1/analytics/events", "/i/v1/analytics/events"),
        ("/i/v0/ai/batch/", "/i/v0/ai/batch"),
        ("/proxy/batch//", "/batch"),
    ],
)
def test_each_ingestion_path_is_known_behind_any_prefix(path: str, endpoint: str) -> None:
    assert capture_path(path) == endpoint


@pytest.mark.parametrize("path", ["/", "", "/decide/", "/flags", "/static/array.js", "/e/x"])
def test_other_paths_are_not_ingestion(path: str) -> None:
    assert capture_path(path) is None


def test_a_request_to_another_path_is_refused_by_name() -> None:
    assert refusal({"event": "x"}, "/decide/?v=3") == (
        "/decide/ is not a PostHog ingestion path (expected one of /e/, /batch/, …)"
    )


def test_events_name_the_endpoint_with_its_slash_except_capture_v1() -> None:
    assert parse({"event": "x"}, "/ingest/e?ip=1")[0].endpoint == "/e/"
    v1 = parse({"event": "x"}, "/i/v1/analytics/events")[0]
    assert v1.endpoint == "/i/v1/analytics/events"


# -- the SDK and the key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "sdk"),
    [
        ({"User-Agent": "posthog-python/7.0.0"}, "posthog-python"),
        ({"user-agent": "posthog-node"}, "posthog-node"),
        (
            {"PostHog-Sdk-Info": "posthog-ruby/3.0", "User-Agent": "posthog-python/7"},
            "posthog-ruby",
        ),
        ({"PostHog-Sdk-Info": "web", "User-Agent": "posthog-python/7"}, "posthog-python"),
        ({"User-Agent": "Mozilla/5.0 posthog-js"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_the_sdk_is_read_from_the_headers(headers: dict[str, str] | None, sdk: str | None) -> None:
    assert sdk_from_headers(headers) == sdk


def test_the_header_sdk_is_the_events_lib_when_it_names_none() -> None:
    [event] = parse({"event": "x"}, headers={"User-Agent": "posthog-go/1.0"})
    assert (event.lib, event.source) == ("posthog-go", "server")


@pytest.mark.parametrize(
    ("envelope", "headers", "key"),
    [
        ({"api_key": "phc_a", "token": "phc_b"}, {"Authorization": "Bearer phc_c"}, "phc_a"),
        ({"token": "phc_b"}, {"Authorization": "Bearer phc_c"}, "phc_b"),
        ({}, {"Authorization": "Bearer phc_c"}, "phc_c"),
        ({}, {"authorization": "bearer   phc_c  "}, "phc_c"),
        ({}, {"Authorization": "Bearer    "}, None),
        ({}, {"Authorization": "Basic phc_c"}, None),
        ({"api_key": 42}, {}, None),
        ({"api_key": ""}, {"Authorization": "Bearer phc_c"}, "phc_c"),
    ],
)
def test_the_project_key_comes_from_the_envelope_then_the_bearer_token(
    envelope: dict[str, Any], headers: dict[str, str], key: str | None
) -> None:
    [event] = parse({**envelope, "batch": [{"event": "x"}]}, headers=headers)
    assert event.api_key == key


# -- envelopes ---------------------------------------------------------------------------------


def test_every_envelope_carries_its_events() -> None:
    assert [e.event for e in parse([{"event": "a"}, {"event": "b"}], "/s/")] == ["a", "b"]
    assert [e.event for e in parse({"batch": [{"event": "a"}]})] == ["a"]
    assert [e.event for e in parse({"data": [{"event": "a"}]})] == ["a"]
    assert [e.event for e in parse({"event": "a"}, "/capture/")] == ["a"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"data=" + base64.b64encode(b"3"), "expected a JSON object or array of events, got int"),
        (b"data=" + base64.b64encode(b'"x"'), "expected a JSON object or array of events, got str"),
        ({"batch": {"event": "a"}}, "'batch' must be an array of events, got dict"),
        ({"batch": []}, "the batch has no events"),
        ([], "the batch has no events"),
        (
            {"data": "abc"},
            "no events in the body: expected 'batch', an array or an 'event', got keys ['data']",
        ),
        (
            {f"k{i}": i for i in range(9, 0, -1)},
            "no events in the body: expected 'batch', an array or an 'event', got keys "
            "['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8']",
        ),
    ],
)
def test_a_body_with_no_events_is_refused_saying_why(body: Any, expected: str) -> None:
    assert refusal(body) == expected


def test_a_bad_event_is_named_by_its_place_in_the_batch() -> None:
    assert refusal({"batch": [{"event": "a"}, {"nope": 1}]}) == (
        "event 1: an event has no name (keys: ['nope'])"
    )
    assert refusal({"batch": [{"nope": 1}]}) == "the event: an event has no name (keys: ['nope'])"


# -- when ----------------------------------------------------------------------------------------


def test_capture_v1s_created_at_dates_events_without_a_timestamp() -> None:
    body = {"created_at": "2026-01-02T03:04:05Z", "batch": [{"event": "a", "offset": 1000}]}
    [event] = parse(body, "/i/v1/analytics/events")
    assert event.timestamp == datetime(2026, 1, 2, 3, 4, 4, tzinfo=UTC)


def test_sent_at_wins_over_created_at_and_empty_values_are_skipped() -> None:
    both = {"sent_at": "2026-01-02T03:04:05Z", "created_at": "2025-01-01T00:00:00Z"}
    [event] = parse({**both, "batch": [{"event": "a"}]})
    assert event.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    empty = {"sent_at": "", "created_at": "2025-01-01T00:00:00Z"}
    [event] = parse({**empty, "batch": [{"event": "a"}]})
    assert event.timestamp == datetime(2025, 1, 1, tzinfo=UTC)
    [event] = parse({"sent_at": 5, "batch": [{"event": "a"}]})
    assert event.timestamp == RECEIVED


def test_events_with_no_time_at_all_take_the_arrival_time() -> None:
    [event] = parse({"batch": [{"event": "a"}]})
    assert (event.timestamp, event.received_at) == (RECEIVED, RECEIVED)
    before = datetime.now(UTC)
    [event] = parse_capture_request("/e/", None, b'{"event": "a"}')
    assert before <= event.received_at <= datetime.now(UTC)
    assert event.timestamp == event.received_at


def test_the_road_and_encoding_are_kept_on_each_event() -> None:
    [event] = parse({"event": "a", "$lib": "web"}, transport="browser", source="client")
    assert (event.transport, event.encoding, event.source) == ("browser", "json", "client")
    assert event.timestamp - RECEIVED == timedelta(0)
