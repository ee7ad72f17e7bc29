"""Decoding a 1,000-event gzip batch against bare ``gzip.decompress`` + ``json.loads``."""

from __future__ import annotations

import gzip
import json

from benchmarks._data import client_events
from benchmarks._measure import Figure, paired
from pytest_hybrid_analytics import parse_capture_request
from pytest_hybrid_analytics._model.wire import encode_body


def run() -> list[Figure]:
    payload = {
        "api_key": "phc_bench",
        "batch": client_events(1000),
        "sent_at": "2026-03-01T12:00:00Z",
    }
    body, headers, _ = encode_body(payload, "gzip-js")

    def subject() -> object:
        return parse_capture_request("/e/", headers, body)

    def baseline() -> object:
        return json.loads(gzip.decompress(body))

    assert len(subject()) == 1000  # the subject really does the work
    ours, bare = paired(subject, baseline)
    ratio = ours / bare
    return [
        Figure(
            f"decode 1,000-event gzip batch ({len(body) // 1024} KiB) vs bare",
            f"{ratio:.2f}x ({ours * 1e3:.1f} ms)",
            "<= 1.5x",
            ratio <= 1.5,
        )
    ]
