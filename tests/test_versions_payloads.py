"""The SDK version matrix without a browser (README, 'Supported SDK versions').

The requests every version of the table really sent, recorded by ``tests/payloads/record.py
--version all`` into ``tests/payloads/<sdk>-<version>.json`` (payloads/RECORDING.md), replayed
through the fake PostHog API: each must decode into exactly the events that version reported
through its own hook, with the verdicts the browser and server matrix tests give, so a decoding
regression on an old SDK shows in the fast suite. Also what the fake API answers each version's
own flags request: where a version reads its remote config, it finds it.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import support

from pytest_hybrid_analytics import Analytics, CapturedEvent, assert_same_person
from pytest_hybrid_analytics._model.sdk_versions import SUPPORTED

TOKEN = "phc_recorder_token"
JOURNEY = [
    "$pageview",
    "purchase_clicked",
    "$feature_flag_called",
    "$identify",
    "queued_one",
    "queued_two",
    "$pageleave",
]
#: posthog-js versions that read their remote config from their flags answer (/decide, or
#: /flags with config=true), not from /array/<token>/config.js.
CONFIG_FROM_FLAGS = ["1.57.2", "1.203.2", "1.234.4", "1.256.0", "1.268.9", "1.312.0"]


def path_of(sdk: str, version: str) -> Path:
    return support.PAYLOADS / f"{sdk}-{version}.json"


def load(sdk: str, version: str) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads(path_of(sdk, version).read_text())
    assert (recording["sdk"], recording["sdk_version"]) == (sdk, version)
    return recording


def key(event: CapturedEvent) -> tuple[str | None, str, str | None]:
    return (event.uuid or event.properties.get("$insert_id"), event.event, event.distinct_id)


def replayed(recording: dict[str, Any]) -> Analytics:
    """Every request through the fake API: all accepted, exactly the events the SDK reported."""
    analytics = support.replay(recording)
    assert analytics.rejected == []
    truth = Counter(
        (t["uuid"] or t.get("insert_id"), t["event"], t["distinct_id"]) for t in recording["truth"]
    )
    assert Counter(map(key, analytics.events)) == truth
    return analytics


def flags_requests(recording: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in recording["requests"] if "/flags" in r["path"] or "/decide" in r["path"]]


def test_every_version_of_the_table_has_its_recording() -> None:
    recorded = {
        p.name
        for p in support.PAYLOADS.glob("posthog-*.json")
        if p.stem.split("-")[-1][0].isdigit()
    }
    assert recorded == {
        path_of(sdk, v).name for sdk, versions in SUPPORTED.items() for v in versions
    }


@pytest.mark.parametrize("version", SUPPORTED["posthog-js"])
def test_posthog_js_versions_decode_into_the_journey(version: str) -> None:
    """$pageview, a capture, a flag read, $identify, and the beacon at pagehide."""
    analytics = replayed(load("posthog-js", version))
    assert sorted(e.event for e in analytics.events) == sorted(JOURNEY)
    assert {(e.source, e.lib, e.properties["$lib_version"], e.api_key) for e in analytics} == {
        ("client", "web", version, TOKEN)
    }
    beacon = [e.event for e in analytics.events if e.transport == "beacon"]
    assert beacon == ["queued_one", "queued_two", "$pageleave"]
    [pageview] = analytics.find("$pageview")
    [identify] = analytics.find("$identify", distinct_id="user-42")
    assert identify.properties["$anon_distinct_id"] == pageview.distinct_id
    assert identify.set == {"email": "user42@example.com"}
    assert assert_same_person(analytics) == "user-42"
    [called] = analytics.find("$feature_flag_called")
    assert (called.distinct_id, called.properties["$feature_flag_response"]) == (
        pageview.distinct_id,
        "test",
    )
    # (a replayed flags request has no road to say its side: the browser's carries no $lib)
    assert [c.distinct_id for c in analytics.flag_calls] == [
        pageview.distinct_id,
        "user-42",  # identify reloads the flags
    ]


@pytest.mark.parametrize("version", SUPPORTED["posthog-js"])
def test_each_version_finds_its_remote_config_where_it_reads_it(version: str) -> None:
    """A version before 1.364 takes its compression and endpoints from its flags answer:
    the fake API's answer to that version's own first flags request carries the remote config
    (with the test's changes); later versions load config.js and get flags only."""
    first = flags_requests(load("posthog-js", version))[0]
    analytics = Analytics()
    analytics.api.remote_config.update({"supportedCompression": ["base64"]})
    analytics.flags.set("new-checkout", "test")
    answer = analytics.api.handle(
        "POST", first["path"], first["headers"], base64.b64decode(first["body_base64"])
    ).data
    if version in CONFIG_FROM_FLAGS:
        assert answer["supportedCompression"] == ["base64"]
        assert answer["analytics"] == {"endpoint": "/i/v0/e/"}
        assert (answer["autocapture_opt_out"], answer["sessionRecording"]) == (False, False)
        assert "token" not in answer
    else:
        assert "supportedCompression" not in answer
    if "/decide" in first["path"]:
        assert answer["featureFlags"] == {"new-checkout": "test"}
    else:
        assert answer["flags"]["new-checkout"]["variant"] == "test"


def test_which_versions_read_their_config_from_the_flags_answer() -> None:
    """The recordings say it: a config-bearing flags request is /decide or asks config=true."""
    reads = [
        version
        for version in SUPPORTED["posthog-js"]
        if any(
            "/decide" in r["path"] or "config=true" in r["path"]
            for r in flags_requests(load("posthog-js", version))
        )
    ]
    assert reads == CONFIG_FROM_FLAGS


@pytest.mark.parametrize("version", SUPPORTED["posthog-python"])
def test_posthog_python_versions_decode(version: str) -> None:
    """Capture, the person call, alias, a flag read and a gzip batch."""
    recording = load("posthog-python", version)
    analytics = replayed(recording)
    assert {(e.source, e.lib, e.properties["$lib_version"], e.api_key) for e in analytics} == {
        ("server", "posthog-python", version, TOKEN)
    }
    person_call = "$identify" if int(version.split(".")[0]) < 6 else "$set"
    [person] = analytics.find(person_call, distinct_id="py-user-1")
    assert person.set == {"email": "py@example.com"}
    assert analytics.identity.same_person("py-anon-1", "py-user-1")
    [paid] = analytics.find("order_paid")
    assert paid.properties["amount"] == 12.5
    assert paid.properties["note"] == "caf\u00e9 \u2603"
    batched = analytics.find("batched")
    assert len(batched) == 3
    assert {e.encoding for e in batched} == {"gzip"}
    assert {e.encoding for e in analytics if e.event != "batched"} == {"json"}
    assert [(c.source, c.distinct_id) for c in analytics.flag_calls] == [("server", "py-user-1")]
    flags_path = "/flags/?v=4" if version.startswith("7.") else "/flags/?v=2"
    assert [r["path"] for r in flags_requests(recording)] == [flags_path]


@pytest.mark.parametrize("version", SUPPORTED["posthog-node"])
def test_posthog_node_versions_decode(version: str) -> None:
    """Three captures, identify and alias in one batch: gzip from 5, plain JSON before."""
    analytics = replayed(load("posthog-node", version))
    assert {(e.source, e.lib, e.properties["$lib_version"], e.api_key) for e in analytics} == {
        ("server", "posthog-node", version, TOKEN)
    }
    assert {e.encoding for e in analytics} == {"gzip" if version.startswith("5.") else "json"}
    [identify] = analytics.find("$identify")
    assert identify.set == {"email": "node@example.com"}
    assert identify.set_once == {"first_seen": "2024-01-01"}
    assert analytics.identity.same_person("node-alias-1", "node-user-1")
