"""Realistic event data for the benchmarks, from the recorded real payloads when present."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pytest_hybrid_analytics import AnalyticsFactory, parse_capture_request
from pytest_hybrid_analytics._model.ingest import capture_path
from pytest_hybrid_analytics._model.wire import split_url

PAYLOADS = Path(__file__).resolve().parent.parent / "tests" / "payloads"


def real_client_event() -> dict[str, Any]:
    """One real posthog-js ``$pageview`` (the recorded gzip scenario), as sent."""
    for path in sorted(PAYLOADS.glob("posthog-js-gzip.json")) + sorted(
        PAYLOADS.glob("posthog-js-*.json")
    ):
        recording = json.loads(path.read_text())
        for request in recording["requests"]:
            if capture_path(split_url(request["path"])[0]) is None:  # flags, decide, config
                continue
            body = base64.b64decode(request["body_base64"])
            events = parse_capture_request(request["path"], request["headers"], body)
            for event in events:
                if event.event == "$pageview":
                    return {
                        "uuid": event.uuid,
                        "event": event.event,
                        "properties": event.properties,
                        "timestamp": event.raw_timestamp,
                    }
    factory = AnalyticsFactory(seed=1)
    return factory.client_event("$pageview", distinct_id=factory.user().anon_id)


def client_events(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` events shaped like the real one, with distinct uuids, ids and times."""
    template = real_client_event()
    factory = AnalyticsFactory(seed=seed)
    out = []
    for n in range(count):
        props = dict(template["properties"])
        props["distinct_id"] = f"person-{n % 500}"
        props["$insert_id"] = f"{n:016x}"
        out.append(
            {
                **template,
                "uuid": f"00000000-0000-4000-8000-{n:012x}",
                "event": f"event_{n % 25}",
                "properties": props,
                "timestamp": factory._tick(None).isoformat(),
            }
        )
    return out
