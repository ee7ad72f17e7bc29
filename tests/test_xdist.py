"""pytest-xdist: a suite of server-road tests under ``-n 2`` gives the same results as serial,
each worker with its own collector port and recorder, and no event crossing between tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

SUITE = """
import json
import os
import threading
from urllib.parse import urlsplit

import pytest
import requests
from posthog import Posthog

N = range(6)


def report(analytics, name):
    line = {
        "test": name,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "serial"),
        "port": urlsplit(analytics.host).port,
        "events": sorted([e.event, e.distinct_id, e.transport] for e in analytics.events),
    }
    with open(os.environ["RESULTS"], "a") as out:
        out.write(json.dumps(line) + "\\n")


@pytest.mark.parametrize("n", N)
def test_sdk_to_the_tests_host(analytics, n):
    client = Posthog("phc_k", host=analytics.host, sync_mode=True)
    client.capture(f"host_{n}", distinct_id=f"h{n}")
    client.shutdown()
    analytics.wait_for(f"host_{n}")
    report(analytics, f"host_{n}")
    assert [e.event for e in analytics.events] == [f"host_{n}"]


@pytest.mark.parametrize("n", N)
def test_requests_road(analytics, n):
    body = {"api_key": "k", "batch": [{"event": f"road_{n}", "distinct_id": f"r{n}"}] * 3}
    assert requests.post("https://us.i.posthog.com/batch/", json=body, timeout=5).ok
    analytics.wait_for(f"road_{n}", count=3)
    report(analytics, f"road_{n}")
    assert len(analytics.events) == 3


@pytest.mark.parametrize("n", N)
def test_threaded_sdk_claimed_in_process(analytics, n):
    client = Posthog("phc_k", host="https://eu.i.posthog.com")
    senders = [
        threading.Thread(target=client.capture, args=(f"sdk_{n}",), kwargs={"distinct_id": f"s{t}"})
        for t in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    client.shutdown()
    analytics.wait_for(f"sdk_{n}", count=4)
    report(analytics, f"sdk_{n}")
    assert {e.event for e in analytics.events} == {f"sdk_{n}"}
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("""
        [pytest]
        addopts = -p no:playwright -p no:cacheprovider
        asyncio_default_fixture_loop_scope = function
        filterwarnings = ignore::pytest.PytestAssertRewriteWarning
    """)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, *args: str
) -> list[dict[str, Any]]:
    results = inner.path / f"{name}.jsonl"
    monkeypatch.setenv("RESULTS", str(results))
    # In a subprocess both times: in this process the outer harness would claim the inner
    # SDK's requests to analytics.host before they reach the inner collector.
    outcome = inner.runpytest_subprocess(*args, timeout=120)
    outcome.assert_outcomes(passed=18)
    return [json.loads(line) for line in results.read_text().splitlines()]


def test_two_workers_give_the_serial_results_each_with_its_own_collector(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = run(inner, monkeypatch, "serial", "-p", "no:xdist")
    parallel = run(inner, monkeypatch, "parallel", "-n", "2")

    def by_test(lines: list[dict[str, Any]]) -> dict[str, list[Any]]:
        return {line["test"]: line["events"] for line in lines}

    assert len(serial) == len(parallel) == 18
    assert by_test(parallel) == by_test(serial)
    assert by_test(serial)["road_0"] == [["road_0", "r0", "requests"]] * 3
    assert by_test(serial)["host_5"] == [["host_5", "h5", "collector"]]

    assert {line["worker"] for line in serial} == {"serial"}
    assert len({line["port"] for line in serial}) == 1
    ports: dict[str, set[int]] = {}
    for line in parallel:
        ports.setdefault(line["worker"], set()).add(line["port"])
    assert sorted(ports) == ["gw0", "gw1"]  # both workers ran tests
    assert all(len(found) == 1 for found in ports.values())  # one collector per worker
    assert ports["gw0"] != ports["gw1"]
