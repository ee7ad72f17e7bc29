"""The server roads across SDK versions: every posthog-python major from 3 to 7 and posthog-node
4 and 5, the published packages pinned by ``make matrix`` (README, 'Supported SDK versions').

Each posthog-python version runs in its own process with only that version on ``sys.path``
(``.matrix/posthog-<major>``), driving the pytest-free ``Harness`` (fixtures/sdk-matrix/
python_sdk.py); each must come out with the same verdicts. posthog-node runs as an npm alias
in a real ``node`` process pointed at the collector (fixtures/sdk-matrix/node_sdk.mjs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_hybrid_analytics import Analytics, assert_same_person
from pytest_hybrid_analytics._model.sdk_versions import SUPPORTED

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".matrix"
FIXTURES = ROOT / "fixtures"
SCRIPT = FIXTURES / "sdk-matrix" / "python_sdk.py"

SAME_USER = {"source": "server", "lib": "posthog-python", "api_key": "phc_matrix", "utc": True}
#: What the harness must see from every supported posthog-python version.
VERDICTS: dict[str, Any] = {
    "capture": {**SAME_USER, "distinct_id": "user-1", "amount": 12.5, "transport": "requests"},
    "collector": {**SAME_USER, "distinct_id": "user-1", "transport": "collector"},
    "identify_alias": {
        "set": {"email": "user1@example.com"},
        "person_email": "user1@example.com",
        "same_person": True,
        "one_person": "anon-1",  # alias(previous_id, distinct_id) sends the previous id
    },
    "flags": {
        "variant": "test",
        "payload": {"color": "blue"},
        "enabled": True,
        "never_set": False,
        "called_response": "test",
        "flag_calls": [["server", "user-7"]],
    },
    "gzip": {**SAME_USER, "distinct_id": "user-1", "encoding": "gzip"},
    "batching": {"numbers": [0, 1, 2, 3, 4], "requests": 1},
    "teardown": {
        "landed": ["left_in_the_queue", "shut_down_properly"],
        "findings": [],
        "information": [
            "never shut down during the test (fine for a long-lived client; otherwise call "
            "shutdown() when done)"
        ],
    },
    **{f"{name}_rejected": [] for name in ("capture", "collector", "identify_alias")},
    **{f"{name}_rejected": [] for name in ("flags", "gzip", "batching")},
}
LONG_INTERVAL = (
    "its flush_interval is 3600 s, so they would reach PostHog that late, or never if the "
    "process ends first"
)
NO_CONSUMER = "no consumer thread of the client is running to send them (they would be lost)"


def held(version: str) -> list[str]:
    """What the harness says at teardown about the client holding its batch for an hour and,
    before 7, the one whose consumer is gone: posthog 7's flush() sends a partial batch at
    once, so the harness flushes it into the test; before 7, flush() blocks until the consumer
    sends on its own (an hour, or never), so the harness does not call it, and says so."""
    if version.startswith("7."):
        return [
            f"1 queued event flushed at teardown: {LONG_INTERVAL} (the app never called flush())"
        ]
    return [
        f"1 queued event left in the client at teardown: {why} (the app never called flush(); "
        f"posthog {version}'s flush() would block {block}, so the harness did not call it either)"
        for why, block in ((LONG_INTERVAL, "that long"), (NO_CONSUMER, "for ever"))
    ]


#: What differs by version, and is the SDK's own doing (what the README table says).
FACTS: dict[str, dict[str, Any]] = {
    "3.25.0": {"person_call": "$identify", "flags": "/flags/?v=2", "payload": "str", "uuids": 0},
    "4.10.0": {"person_call": "$identify", "flags": "/flags/?v=2", "payload": "dict", "uuids": 0},
    "5.4.0": {"person_call": "$identify", "flags": "/flags/?v=2", "payload": "dict", "uuids": 0},
    "6.9.3": {"person_call": "$set", "flags": "/flags/?v=2", "payload": "dict", "uuids": 5},
    "7.91.1": {"person_call": "$set", "flags": "/flags/?v=4", "payload": "dict", "uuids": 5},
}


def test_the_matrix_is_the_supported_table() -> None:
    assert tuple(FACTS) == SUPPORTED["posthog-python"]
    assert tuple(NODE) == SUPPORTED["posthog-node"]


def run_python_sdk(version: str) -> dict[str, Any]:
    folder = MATRIX / f"posthog-{version.split('.')[0]}"
    assert (folder / "posthog").is_dir(), f"{folder} is missing: run `make matrix`"
    env = {**os.environ, "PYTHONPATH": str(folder)}
    run = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("version", list(FACTS))
def test_posthog_python_gets_the_same_verdicts(version: str) -> None:
    result = run_python_sdk(version)
    facts = result["facts"]
    assert facts["version"] == version  # the folder holds the version the table names
    assert result["verdicts"] == VERDICTS
    assert facts["capture"] == {"lib_version": version, "endpoint": "/batch/"}
    expected = FACTS[version]
    assert facts["identify_alias"]["person_call"] == expected["person_call"]
    assert facts["flags"]["flags_paths"] == [expected["flags"]]
    assert facts["flags"]["payload_returned"] == expected["payload"]
    assert facts["batching"]["uuids"] == expected["uuids"]
    # The run ends within the subprocess's timeout: the harness never blocked on a flush.
    assert facts["teardown"]["held"] == held(version)
    assert facts["teardown"]["never_flushed_landed"] == (1 if version.startswith("7.") else 0)


NODE = {"4.18.0": ("posthog-node-4", "json"), "5.70.0": ("posthog-node", "gzip")}


@pytest.mark.parametrize("version", list(NODE))
def test_posthog_node_gets_the_same_verdicts(analytics: Analytics, version: str) -> None:
    package, encoding = NODE[version]
    analytics.flags.set("new-checkout", "variant-b", payload={"discount": 10})
    analytics.flags.set("beta")
    run = subprocess.run(
        ["node", str(FIXTURES / "sdk-matrix" / "node_sdk.mjs"), package, str(analytics.host)],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    told = json.loads(run.stdout.strip().splitlines()[-1])
    assert told == {
        "version": version,
        "variant": "variant-b",
        "enabled": True,
        "payload": {"discount": 10},
        "missing": False,
    }
    batched = analytics.wait_for("batched", count=5)
    assert sorted(e.properties["n"] for e in batched) == [0, 1, 2, 3, 4]
    assert len({e.received_at for e in batched}) == 1  # one request
    assert {(e.lib, e.properties["$lib_version"], e.transport, e.encoding) for e in batched} == {
        ("posthog-node", version, "collector", encoding)
    }
    [identify] = analytics.wait_for("$identify")
    assert identify.set == {"email": "node@example.com"}
    analytics.wait_for("$create_alias")
    assert analytics.identity.same_person("node-anon-1", "node-user-1")
    assert assert_same_person(analytics.find(distinct_id="node-user-1"), recorder=analytics)
    [called] = analytics.wait_for("$feature_flag_called", **{"$feature_flag": "new-checkout"})
    assert called.properties["$feature_flag_response"] == "variant-b"
    analytics.wait_for("left_for_shutdown")  # delivered by shutdown()
    assert {c.distinct_id for c in analytics.flag_calls} == {"node-user-7"}
    assert analytics.rejected == []
