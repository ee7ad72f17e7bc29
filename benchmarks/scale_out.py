"""Scale-out: a 40-test browser suite under pytest-xdist, ``-n 2`` against ``-n 1``.

Each test opens ``fixtures/web/click.html`` (posthog-js as an npm bundle, PostHog cloud as its
``api_host``) in pytest-playwright's ``page``, clicks, and waits for the event with
``analytics.wait_for``; the plugin is on, as a user's suite has it. The two runs are whole pytest
invocations in subprocesses (start-up, collection, each worker's Chromium and collector
included: what a user waits for), taken in turns for ``ROUNDS`` rounds; the figure is the
ratio of the best of each. Every run must pass all 40 tests, each with its event recorded.
Beside it, how busy the machine's cores were during each kind of run (``/proc/stat``): a
speed-up needs idle cores for the second worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._measure import Figure

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TESTS = 40
ROUNDS = 2

_INI = """[pytest]
addopts = -p no:cacheprovider
analytics_posthog_js = {posthog_js}
"""

_CONFTEST = '''
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def site():
    """The fixtures folder on 127.0.0.1 (the page and the posthog-js it imports)."""
    handler = functools.partial(_Quiet, directory=os.environ["BENCH_FIXTURES"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
'''

_SUITE = """
import pytest
from playwright.sync_api import expect


@pytest.mark.parametrize("n", range({tests}))
def test_click(analytics, page, site, n):
    page.goto(site + "/web/click.html?n=" + str(n))
    expect(page.locator("#status")).to_have_text("ready")
    page.click("#click")
    analytics.wait_for("clicked", source="client", page=str(n))
"""


def _cpu() -> tuple[int, int]:
    """The machine's CPU time so far, busy and all (``/proc/stat``, in clock ticks)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _run(folder: Path, workers: int, busy: list[float]) -> float:
    """Seconds for one whole ``pytest -n workers`` run of the suite (and, into ``busy``, how
    busy the machine's cores were meanwhile); raises if it failed."""
    env = {**os.environ, "BENCH_FIXTURES": str(FIXTURES)}
    before = _cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", str(workers), "test_suite.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    after = _cpu()
    busy.append((after[0] - before[0]) / max(after[1] - before[1], 1))
    if done.returncode != 0 or f"{TESTS} passed" not in done.stdout:
        raise RuntimeError(f"the -n {workers} run failed:\n{done.stdout[-3000:]}{done.stderr}")
    return seconds


def run() -> list[Figure]:
    times: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="hybrid-bench-xdist-") as tmp:
        folder = Path(tmp)
        posthog_js = FIXTURES / "node_modules" / "posthog-js"
        (folder / "pytest.ini").write_text(_INI.format(posthog_js=posthog_js))
        (folder / "conftest.py").write_text(_CONFTEST)
        (folder / "test_suite.py").write_text(_SUITE.format(tests=TESTS))
        for n in range(ROUNDS):
            for workers in (1, 2) if n % 2 == 0 else (2, 1):
                times[workers].append(_run(folder, workers, busy[workers]))
    serial, parallel = min(times[1]), min(times[2])
    speedup = serial / parallel
    return [
        Figure(
            f"{TESTS} browser tests, -n 2 vs -n 1 ({os.cpu_count()} cores)",
            f"{speedup:.2f}x faster",
            ">= 1.6x",
            speedup >= 1.6,
        ),
        Figure(
            "  whole runs, best of each",
            f"{serial:.1f} s / {parallel:.1f} s",
            "(reference)",
            True,
        ),
        Figure(
            "  the cores' busy time during -n 1 / -n 2 (/proc/stat)",
            f"{max(busy[1]):.0%} / {max(busy[2]):.0%}",
            "(reference)",
            True,
        ),
    ]
