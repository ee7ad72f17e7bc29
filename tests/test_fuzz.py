"""Property-based: the decoder meets garbage and mutated payloads and only ever says
``PayloadError``; whatever it accepts comes out as well-formed events."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_hybrid_analytics import PayloadError, parse_capture_request
from pytest_hybrid_analytics._model.wire import encode_body

PATHS = [
    "/e/",
    "/i/v0/e/",
    "/batch/",
    "/capture/",
    "/s/",
    "/i/v1/analytics/events",
    "/e/?compression=base64",
    "/batch/?compression=lz64",
]
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Content-Encoding", "Authorization", "User-Agent"]),
    st.sampled_from(
        [
            "gzip",
            "deflate",
            "text/plain",
            "application/json",
            "Bearer x",
            "posthog-node/5.70.0",
            "",
            "zstd",
        ]
    ),
)
SEED = {
    "api_key": "phc_k",
    "sent_at": "2026-03-01T12:00:00Z",
    "batch": [
        {
            "event": "$pageview",
            "uuid": "a",
            "timestamp": "2026-03-01T11:59:59.100Z",
            "properties": {"distinct_id": "anon", "token": "phc_k", "$lib": "web"},
        },
        {
            "event": "paid",
            "distinct_id": "u",
            "properties": {"$set": {"plan": "pro"}},
            "offset": 30,
        },
    ],
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "batch",
                    "properties",
                    "distinct_id",
                    "timestamp",
                    "uuid",
                    "$set",
                    "api_key",
                    "offset",
                    "$time",
                    "data",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)

fuzz = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(url: str, headers: dict[str, str], body: bytes) -> None:
    try:
        events = parse_capture_request(url, headers, body)
    except PayloadError:
        return
    assert events
    for event in events:
        assert isinstance(event.event, str)
        assert event.event
        assert event.timestamp.utcoffset() == timedelta(0)
        assert event.source in ("client", "server")
        assert isinstance(event.properties, dict)


@fuzz
@given(st.sampled_from(PATHS), HEADERS, st.binary(max_size=300))
@example("/e/", {}, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
@example("/batch/", {"Content-Encoding": "deflate"}, b"\x78\x9c\x00")
@example("/batch/", {}, b"[" * 5000)
def test_garbage_only_ever_raises_payload_error(
    path: str, headers: dict[str, str], body: bytes
) -> None:
    check(path, headers, body)


@fuzz
@given(st.sampled_from(PATHS), JSON, st.sampled_from(["json", "gzip-js", "gzip", "base64"]))
def test_arbitrary_json_in_every_encoding(path: str, value: object, encoding: str) -> None:
    try:
        body, headers, _ = encode_body(value, encoding)
    except ValueError:  # NaN and friends are not JSON
        return
    check(path, headers, body)


REAL = [encode_body(SEED, encoding) for encoding in ("json", "gzip-js", "gzip", "base64")]


@fuzz
@given(
    st.sampled_from(REAL),
    st.lists(st.tuples(st.integers(min_value=0, max_value=2000), st.integers(0, 255)), max_size=6),
    st.integers(min_value=0, max_value=2000),
)
def test_mutated_real_payloads(
    real: tuple[bytes, dict[str, str], str], flips: list[tuple[int, int]], cut: int
) -> None:
    body, headers, query = real
    mutated = bytearray(body)
    for position, value in flips:
        if mutated:
            mutated[position % len(mutated)] = value
    check("/e/" + query, headers, bytes(mutated[: max(cut, 1)] if cut < len(mutated) else mutated))


def test_deep_nesting_is_refused_and_large_batches_decode_whole() -> None:
    deep = gzip.compress(b'{"batch": [' + b"[" * 100_000 + b"]}")
    with pytest.raises(PayloadError, match=r"^the body is nested too deeply to decode$"):
        parse_capture_request("/batch/", {}, deep)
    many = {"batch": [{"event": f"e{i}", "distinct_id": "u"} for i in range(20_000)]}
    events = parse_capture_request("/batch/", {}, json.dumps(many))
    assert [e.event for e in events[:2]] + [events[-1].event] == ["e0", "e1", "e19999"]
