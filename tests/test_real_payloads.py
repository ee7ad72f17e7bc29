"""The decoder on real requests recorded from the published SDKs (see payloads/RECORDING.md).

Each file holds the raw requests one scenario sent and the events the SDK itself reported
through its own hook (``truth``). Every request goes through the fake PostHog API, as it would
on any road, and must come out as exactly the reported events.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import support

from pytest_hybrid_analytics import Analytics, CapturedEvent, assert_same_person
from pytest_hybrid_analytics._model.wire import decode_body, split_url

FOLDER = Path(__file__).parent / "payloads"
FILES = sorted(FOLDER.glob("posthog-*.json"))
SIDE = {"posthog-js": "client", "posthog-python": "server", "posthog-node": "server"}
LIB = {"posthog-js": "web", "posthog-python": "posthog-python", "posthog-node": "posthog-node"}


def load(name: str) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads((FOLDER / f"{name}.json").read_text())
    return recording


def replay(recording: dict[str, Any] | str) -> Analytics:
    """Every recorded request through the fake PostHog API; all must be accepted."""
    analytics = support.replay(recording)
    assert analytics.rejected == []
    return analytics


def key(event: CapturedEvent) -> tuple[str | None, str, str | None]:
    return (event.uuid or event.properties.get("$insert_id"), event.event, event.distinct_id)


def test_there_are_recordings_of_every_sdk() -> None:
    assert {load(path.stem)["sdk"] for path in FILES} == set(SIDE)
    assert len(FILES) >= 17


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_recorded_request_decodes_into_exactly_the_events_the_sdk_sent(path: Path) -> None:
    recording = load(path.stem)
    events = replay(recording).events
    truth = Counter(
        (t["uuid"] or t.get("insert_id"), t["event"], t["distinct_id"]) for t in recording["truth"]
    )
    assert Counter(map(key, events)) == truth
    sdk = recording["sdk"]
    for event in events:
        assert event.source == SIDE[sdk]
        assert event.lib == LIB[sdk]
        assert event.api_key == "phc_recorder_token"
        assert event.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_flags_requests_decode_too(path: Path) -> None:
    for request in load(path.stem)["requests"]:
        url, query = split_url(request["path"])
        if "/flags" not in url and "/decide" not in url:
            continue
        body = decode_body(base64.b64decode(request["body_base64"]), request["headers"], query)
        assert isinstance(body, dict)
        assert body["distinct_id"]
        assert body.get("token") or body.get("api_key")


def test_posthog_js_identify_alias_and_person_properties() -> None:
    analytics = replay(load("posthog-js-identify"))
    [identify] = analytics.find("$identify")
    assert identify.set == {"email": "user42@example.com"}
    assert identify.set_once["first_seen"] == "2024-01-01"
    assert analytics.find("$set")[0].set == {"plan": "pro"}
    anon = analytics.find("$pageview")[0].distinct_id
    assert anon is not None
    assert analytics.identity.person_of(anon) == "user-42"
    assert analytics.identity.same_person("alias-42", "user-42")
    assert assert_same_person(analytics) == "user-42"


def test_posthog_js_unload_beacon_carries_the_queue_and_pageleave() -> None:
    for name in ("posthog-js-unload-beacon", "posthog-js-unload-beacon-base64"):
        analytics = replay(load(name))
        beacon = [e.event for e in analytics.events if e.transport == "beacon"]
        assert beacon == ["queued_one", "queued_two", "$autocapture", "$pageleave"], name


def test_posthog_js_recording_snapshots_are_counted() -> None:
    analytics = replay(load("posthog-js-recording"))
    [snapshot] = analytics.find("$snapshot")
    assert snapshot.endpoint == "/s/"
    assert snapshot.properties["$snapshot_data"]


def test_legacy_posthog_js_envelopes_and_lz64() -> None:
    lz64 = replay(load("posthog-js-legacy-1.57-lz64"))
    assert [e.event for e in lz64.events] == ["$pageview", "button_clicked", "second_event"]
    bare = replay(load("posthog-js-legacy-1.400-bare"))
    assert [e.event for e in bare.events] == ["$pageview", "button_clicked", "second_event"]


def test_python_sdk_person_calls_alias_and_timestamps() -> None:
    analytics = replay(load("posthog-python-sync"))
    assert analytics.find("$set")[0].set == {"plan": "pro"}
    assert analytics.find("$set_once")[0].set_once == {"first_seen": "2024-01-01"}
    assert analytics.identity.same_person("py-anon-1", "py-user-1")
    [aware] = analytics.find("aware_timestamp")
    assert aware.timestamp.isoformat() == "2024-05-06T05:08:09+00:00"  # sent as +02:00 local


def test_python_v1_key_and_lib_come_from_headers() -> None:
    analytics = replay(load("posthog-python-v1"))
    assert {(e.lib, e.api_key) for e in analytics.events} == {
        ("posthog-python", "phc_recorder_token")
    }
    assert "$lib" not in analytics.events[0].properties
    assert analytics.find("$set")[0].set == {"plan": "pro"}


def test_node_identify_carries_set_and_set_once() -> None:
    analytics = replay(load("posthog-node-gzip"))
    [identify] = analytics.find("$identify")
    assert (identify.set, identify.set_once) == (
        {"email": "node@example.com"},
        {"first_seen": "2024-01-01"},
    )
