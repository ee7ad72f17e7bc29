"""What the ``analytics`` fixture costs a test suite: time per test, and memory across a session.

**Per-test overhead.** Two pytest sessions of 500 tests each, run alternately in subprocesses:
the same trivial test with and without the ``analytics`` fixture (the plugin is loaded in both,
as it is in a suite that installed it). Each session times its own test loop (collection and
start-up excluded, they are the same for both); the figure is the difference per test.

**Memory.** One session of 100 tests, each recording 10,000 events (1,000,000 in all) through
its fixture's fake PostHog API. Resident memory is read from ``/proc/self/statm`` after each
test: flat means a finished test's recorder is released and its memory reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._measure import Figure

TESTS = 500
ROUNDS = 2
MEMORY_TESTS = 100
EVENTS_PER_TEST = 10_000

_CONFTEST = '''
import json
import os
import time

import pytest

SAMPLES = []
DURING = []


def rss():
    """Resident memory in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    SAMPLES.append(rss())  # before the first test
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        seconds = time.perf_counter() - start
        with open(os.environ["BENCH_OUT"], "w") as out:
            json.dump({"seconds": seconds, "tests": session.testscollected,
                       "failed": session.testsfailed, "rss": SAMPLES, "during": DURING}, out)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:
        DURING.append(rss())  # the test's events are still held


def pytest_runtest_logfinish(nodeid):
    SAMPLES.append(rss())
'''

_WITH = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_it(analytics, n):
    assert n >= 0
"""

_WITHOUT = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_it(n):
    assert n >= 0
"""

_MEMORY = """
import os
from pathlib import Path

import pytest

BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
HEADERS = {{"Content-Type": "application/json", "User-Agent": "posthog-python/7.91.1"}}

@pytest.mark.parametrize("n", range({tests}))
def test_records(analytics, n):
    answer = analytics.api.handle("POST", "https://us.i.posthog.com/batch/", HEADERS, BODY)
    assert answer.status == 200
    assert len(analytics) == {events}
"""


def _session(folder: Path, test_file: str, extra_env: dict[str, str] | None = None) -> Any:
    """Run pytest on one file of ``folder`` in a subprocess; what its conftest measured."""
    out = folder / f"{test_file}.json"
    env = {**os.environ, "BENCH_OUT": str(out), **(extra_env or {})}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:playwright",
            "-p",
            "no:xdist",
            test_file,
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {test_file} session failed:\n{done.stdout[-2000:]}")
    return json.loads(out.read_text())


def _write(folder: Path) -> None:
    (folder / "conftest.py").write_text(_CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\n")  # the root: no ini above is read
    (folder / "test_with.py").write_text(_WITH.format(tests=TESTS))
    (folder / "test_without.py").write_text(_WITHOUT.format(tests=TESTS))
    (folder / "test_memory.py").write_text(
        _MEMORY.format(tests=MEMORY_TESTS, events=EVENTS_PER_TEST)
    )
    batch = [
        {
            "event": "order_paid",
            "distinct_id": f"user-{n % 500}",
            "uuid": f"00000000-0000-4000-8000-{n:012x}",
            "timestamp": "2026-03-01T12:00:00.000000+00:00",
            "properties": {
                "$lib": "posthog-python",
                "$lib_version": "7.91.1",
                "$is_server": True,
                "amount": n / 100,
                "plan": "pro",
                "items": n % 7,
            },
        }
        for n in range(EVENTS_PER_TEST)
    ]
    (folder / "body.json").write_text(json.dumps({"api_key": "phc_bench", "batch": batch}))


def _overhead(folder: Path) -> list[Figure]:
    best = {"test_with.py": float("inf"), "test_without.py": float("inf")}
    for _ in range(ROUNDS):
        for name in best:
            measured = _session(folder, name)
            assert measured["tests"] == TESTS
            best[name] = min(best[name], measured["seconds"])
    per_test = (best["test_with.py"] - best["test_without.py"]) / TESTS
    return [
        Figure(
            f"analytics fixture: per-test overhead over {TESTS} tests",
            f"{per_test * 1e3:+.2f} ms",
            "<= 5 ms",
            per_test <= 0.005,
        ),
        Figure(
            f"  {TESTS} tests: {best['test_with.py']:.2f} s with the fixture, "
            f"{best['test_without.py']:.2f} s without",
            f"{best['test_with.py'] / best['test_without.py']:.2f}x",
            "(reference)",
            True,
        ),
    ]


def _memory(folder: Path) -> list[Figure]:
    measured = _session(folder, "test_memory.py", {"BENCH_BODY": str(folder / "body.json")})
    assert measured["tests"] == MEMORY_TESTS
    before, *rss = [value / 2**20 for value in measured["rss"]]
    # What one test's 10,000 events take while it runs; a recorder kept after its test would
    # add that much per test.
    one_test = measured["during"][0] / 2**20 - before
    settled = rss[9]
    drift = rss[-1] - settled
    total = MEMORY_TESTS * EVENTS_PER_TEST
    return [
        Figure(
            f"RSS between tests, test 10 -> {MEMORY_TESTS} ({total:,} events in all)",
            f"{drift:+.1f} MiB",
            f"< {one_test:.0f} MiB (1 test's events)",
            drift < one_test,
        ),
        Figure(
            f"  RSS after test 1 / 10 / {MEMORY_TESTS // 2} / {MEMORY_TESTS}: "
            f"{rss[0]:.0f} / {settled:.0f} / {rss[MEMORY_TESTS // 2 - 1]:.0f} / {rss[-1]:.0f} MiB",
            f"max {max(rss):.0f} MiB",
            "(reference)",
            True,
        ),
    ]


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="hybrid-bench-") as tmp:
        folder = Path(tmp)
        _write(folder)
        return _overhead(folder) + _memory(folder)


if __name__ == "__main__":
    for figure in run():
        print(figure.row())
