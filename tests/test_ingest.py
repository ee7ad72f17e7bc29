"""One raw request into events: paths, envelopes, and the reasons a request is refused."""

from __future__ import annotations

import gzip
import json

import pytest

from pytest_hybrid_analytics import PayloadError, parse_capture_request
from pytest_hybrid_analytics._model.ingest import capture_path
from pytest_hybrid_analytics._model.wire import encode_body

EVENT = {"event": "signed_up", "distinct_id": "u1", "properties": {"plan": "pro"}}


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/e/", "/e"),
        ("/i/v0/e/", "/i/v0/e"),
        ("/batch/", "/batch"),
        ("/batch", "/batch"),
        ("/capture/", "/capture"),
        ("/s/", "/s"),
        ("/i/v1/analytics/events", "/i/v1/analytics/events"),
        ("/i/v0/ai/batch/", "/i/v0/ai/batch"),
        ("/ingest/e/", "/e"),
        ("/ph-proxy/i/v0/e/", "/i/v0/e"),
        ("/flags/", None),
        ("/", None),
        ("/api/projects/1/events", None),
    ],
)
def test_capture_paths_are_recognised_also_behind_a_proxy_prefix(
    path: str, endpoint: str | None
) -> None:
    assert capture_path(path) == endpoint


def test_batch_envelope_gives_api_key_and_sent_at() -> None:
    body = json.dumps(
        {
            "api_key": "phc_a",
            "sent_at": "2026-03-01T12:00:05Z",
            "batch": [EVENT, {**EVENT, "event": "second", "offset": 1000}],
        }
    )
    events = parse_capture_request("https://eu.i.posthog.com/batch/", {}, body)
    assert [(e.event, e.api_key, e.endpoint) for e in events] == [
        ("signed_up", "phc_a", "/batch/"),
        ("second", "phc_a", "/batch/"),
    ]
    assert events[1].timestamp.isoformat() == "2026-03-01T12:00:04+00:00"


def test_bare_array_and_single_event_envelopes() -> None:
    array = parse_capture_request("/s/", {}, json.dumps([EVENT, EVENT]))
    single = parse_capture_request("/capture/", {}, json.dumps({**EVENT, "api_key": "phc_s"}))
    assert len(array) == 2
    assert (single[0].event, single[0].api_key) == ("signed_up", "phc_s")


def test_capture_v1_takes_the_key_from_the_bearer_and_lib_from_sdk_info() -> None:
    body = gzip.compress(
        json.dumps(
            {
                "created_at": "2026-03-01T12:00:00Z",
                "batch": [
                    {
                        "event": "v1_event",
                        "uuid": "a",
                        "distinct_id": "u",
                        "options": {},
                        "properties": {"$is_server": True, "$set": {"plan": "pro"}},
                    }
                ],
            }
        ).encode()
    )
    headers = {
        "Authorization": "Bearer phc_v1",
        "PostHog-Sdk-Info": "posthog-python/7.91.1",
        "Content-Encoding": "gzip",
    }
    [event] = parse_capture_request("http://127.0.0.1:9/i/v1/analytics/events", headers, body)
    assert (event.api_key, event.lib, event.source, event.set, event.endpoint) == (
        "phc_v1",
        "posthog-python",
        "server",
        {"plan": "pro"},
        "/i/v1/analytics/events",
    )


def test_lib_from_user_agent_when_properties_lack_it() -> None:
    [event] = parse_capture_request(
        "/batch/",
        {"User-Agent": "posthog-node/5.70.0"},
        json.dumps({"batch": [{"event": "x", "distinct_id": "u"}]}),
    )
    assert (event.lib, event.source) == ("posthog-node", "server")


def test_source_and_transport_come_from_the_road() -> None:
    [event] = parse_capture_request(
        "/e/", {}, json.dumps(EVENT), source="client", transport="browser"
    )
    assert (event.source, event.transport) == ("client", "browser")


def test_every_sdk_encoding_decodes_to_the_same_events() -> None:
    payload = {"api_key": "phc_k", "batch": [EVENT]}
    seen = set()
    for encoding in ("json", "gzip-js", "gzip", "base64"):
        body, headers, query = encode_body(payload, encoding)
        [event] = parse_capture_request("/e/" + query, headers, body)
        seen.add((event.event, event.distinct_id, event.properties["plan"]))
    assert seen == {("signed_up", "u1", "pro")}


@pytest.mark.parametrize(
    ("url", "body", "reason"),
    [
        ("/flags/?v=2", b"{}", "/flags/ is not a PostHog ingestion path (expected one of /e/"),
        ("/batch/", b'{"batch": []}', "the batch has no events"),
        ("/batch/", b"[]", "the batch has no events"),
        ("/batch/", b'{"batch": {}}', "'batch' must be an array of events, got dict"),
        ("/batch/", b'{"api_key": "k"}', "no events in the body: expected 'batch', an array or"),
        ("/batch/", b"data=InRleHQi", "expected a JSON object or array of events, got str"),
        ("/batch/", b'{"batch": [{"event": "a"}, 3]}', "event 1: an event must be a JSON object"),
        ("/e/", b'{"event": "a", "properties": 1}', "the event: properties of 'a' must be an"),
        ("/batch/", b'{"sent_at": "never", "batch": [{"event": "a"}]}', "timestamp 'never' is"),
    ],
)
def test_requests_that_are_not_posthog_payloads_say_why(url: str, body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_capture_request(url, {}, body)
    assert str(info.value).startswith(reason)
