"""The browser road: what the plugin costs a pytest-playwright suite, and how soon a click in the
page can be asserted on.

**Browser overhead.** One pytest-playwright test of a posthog-js page (``fixtures/web/click.html``:
posthog-js as an npm bundle, default options; open it, click, see the page change), ``TESTS``
times in each of several pytest sessions, in a temporary project with its own ini (the
repository's ini switches the plugin off). The goal's baseline is *posthog-js at work, no
plugin*: the same test body on the page with ``?api_host=`` a bare collector on 127.0.0.1 (the
page then turns the bot filter off and batches every 250 ms itself), so posthog-js does all it
does under the plugin (remote config, autocapture, compressing and sending events) with nothing
of the plugin in between. Between it and *with the plugin* (the test also asks for
``analytics``: init script, routes, every event recorded, the end-of-test flush), a ladder of
sessions adds one part of the plugin at a time, so each part's cost is a difference of medians:

- *+ route*: the baseline plus a ``context.route`` on PostHog's hosts, as the plugin sets (with
  any route, Playwright intercepts every request of the context);
- *+ init script*: the baseline plus the plugin's init script, rewriting posthog-js's requests
  to the collector's ``/browser/`` gate;
- *plugin, no end flush*: the plugin, with the end-of-test flush of the pages switched off;
- *with the plugin*: everything.

The sessions run side by side in subprocesses and take turns test by test (each waits for the
benchmark's word before a test, so one test runs at a time and noise on a busy machine hits
all alike), for ``ROUNDS`` rounds of fresh sessions. Every session launches the same Chromium
with the same options (``browser.launch_options``, from a ``browser_type_launch_args`` fixture;
the plugin's own hook then leaves them as they are) and times each test (set-up, call,
teardown); a session's first test (the browser launch) and last (its close) are left out.

**Click to assertion.** In this process, with the pytest-free ``Harness`` and Playwright's sync
API: one attached page per setting, clicks taking turns between them, each timed with
``perf_counter`` from just before the click to ``analytics.wait_for`` returning. Every page had
one click delivered before the timed ones, so no batch timer is running when a timed click comes
(posthog-js arms its timer with the first event after a flush). ``wait_for`` nudges the page:
posthog-js's own batch timer fires at once, so its batch leaves as it always does, only sooner.
The settings: the plugin's default (``analytics_flush_ms`` 250), posthog-js's own batching
(3000 ms), and no batching (``analytics_flush_ms = 0``); the baseline is the default page waited
on with ``wait_until``, which does not nudge (the batch timer decides). The click is a real
mouse click at the button (``page.mouse.click``); a reference row times ``page.click()``, which
adds Playwright's actionability checks (the same with or without the plugin). Nothing leaves
127.0.0.1: the page comes from a local ``http.server``.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

from benchmarks._measure import Figure

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIST = FIXTURES / "node_modules" / "posthog-js" / "dist"
#: The page, as served from ``fixtures/`` (it imports ``/node_modules/posthog-js/...``).
PAGE = "/web/click.html"

TESTS = 20
ROUNDS = 2
SAMPLES = 15

# --- browser overhead: pytest sessions in subprocesses -------------------------------------------

_INI = """[pytest]
addopts = -p no:cacheprovider -p no:xdist
analytics_posthog_js = {posthog_js}
"""

_CONFTEST = """
import functools
import json
import os
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_hybrid_analytics._roads.chromium import launch_options

GO = os.fdopen(int(os.environ["BENCH_GO"]), "r")  # the benchmark says when a test may start
DONE = os.fdopen(int(os.environ["BENCH_DONE"]), "w")  # and hears what it took
EVENTS = {}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def site():
    \"\"\"The fixtures folder on 127.0.0.1 (the page and the posthog-js it imports).\"\"\"
    handler = functools.partial(_Quiet, directory=os.environ["BENCH_FIXTURES"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def bare_collector():
    \"\"\"The fake PostHog API on 127.0.0.1 with nothing of the plugin around it.\"\"\"
    from pytest_hybrid_analytics import FakePostHog
    from pytest_hybrid_analytics._roads.collector import Collector
    from pytest_hybrid_analytics import EventRecorder

    from pytest_hybrid_analytics._roads.browser import BrowserGate

    recorder = EventRecorder()
    api = FakePostHog(recorder)
    gate = BrowserGate(api, None)
    with Collector(lambda path: gate if "/browser/" in path else api) as collector:
        collector.recorder = recorder
        yield collector


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_type):
    \"\"\"The same launch with and without the plugin (whose own hook then changes nothing).\"\"\"
    return launch_options(
        browser_type_launch_args,
        browser_name=browser_type.name,
        bundled=browser_type.executable_path,
    )


@pytest.fixture
def with_route(context):
    # a route on PostHog's hosts, as the plugin sets (nothing there is asked for)
    from pytest_hybrid_analytics._roads.browser import POSTHOG_HOSTS

    context.route(POSTHOG_HOSTS, lambda route: route.abort())


@pytest.fixture
def with_init_script(context, bare_collector):
    # the plugin's init script, its requests going to the bare collector's gate
    from pytest_hybrid_analytics._roads.browser import init_script

    context.add_init_script(init_script(bare_collector.url + "/t/000000000000/browser"))


if os.environ.get("BENCH_NO_FLUSH"):  # the plugin without its end-of-test flush of the pages
    from pytest_hybrid_analytics._roads.harness import Harness

    Harness.flush_pages = lambda self, analytics: None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    GO.readline()  # one test at a time across the sessions
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        seconds = time.perf_counter() - start
        DONE.write(json.dumps({"seconds": seconds, "events": EVENTS.pop("n", None)}) + "\\n")
        DONE.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        funcargs = getattr(item, "funcargs", None) or {}
        if "analytics" in funcargs:  # what this test's recorder holds at its end
            EVENTS["n"] = len(funcargs["analytics"])
        elif "bare_collector" in funcargs:  # the bare collector's running total
            EVENTS["n"] = len(funcargs["bare_collector"].recorder)
"""

#: The test body, the same in every session.
_BODY = """
    page.goto(site + "{page}?n=" + str(n){extra})
    expect(page.locator("#status")).to_have_text("ready")
    page.click("#click")
    expect(page.locator("#status")).to_have_text("clicked 1")
"""

_HEAD = """
import pytest
from playwright.sync_api import expect

"""

#: Each session's test file: its fixtures, and what the page's URL gets besides ``?n=``.
_AT_WORK = ' + "&api_host=" + bare_collector.url'
_TESTS = {
    "test_working.py": ("", "page, site, bare_collector, n", _AT_WORK),
    "test_route.py": ("", "with_route, page, site, bare_collector, n", _AT_WORK),
    "test_init.py": ("", "with_init_script, page, site, bare_collector, n", _AT_WORK),
    "test_with.py": ("", "analytics, page, site, n", ""),
}

#: Each session: its test file, the options that load the plugin or not, and its environment.
_SESSIONS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "working": ("test_working.py", ("-p", "no:hybrid_analytics"), {}),
    "route": ("test_route.py", ("-p", "no:hybrid_analytics"), {}),
    "init": ("test_init.py", ("-p", "no:hybrid_analytics"), {}),
    "no flush": ("test_with.py", (), {"BENCH_NO_FLUSH": "1"}),
    "with": ("test_with.py", (), {}),
}


def _test_file(name: str) -> str:
    fixtures, arguments, extra = _TESTS[name]
    return (
        f"{_HEAD}{fixtures}\n@pytest.mark.parametrize('n', range({TESTS}))\n"
        f"def test_click({arguments}):" + _BODY.format(page=PAGE, extra=extra)
    )


class _Session:
    """One pytest session in a subprocess, running one test each time it is told to."""

    def __init__(
        self, folder: Path, test_file: str, plugin: tuple[str, ...], extra: dict[str, str]
    ) -> None:
        go_read, go_write = os.pipe()
        done_read, done_write = os.pipe()
        self._log = (folder / f"{test_file}.log").open("w+")
        env = {
            **os.environ,
            "BENCH_GO": str(go_read),
            "BENCH_DONE": str(done_write),
            "BENCH_FIXTURES": str(FIXTURES),
            **extra,
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", *plugin, test_file],
            cwd=folder,
            env=env,
            pass_fds=(go_read, done_write),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(go_read)
        os.close(done_write)
        self._go = os.fdopen(go_write, "w")
        self._done = os.fdopen(done_read)
        self.seconds: list[float] = []
        self.events: list[int] = []

    def test(self) -> None:
        """Run the next test; keep what it took, and what was recorded by its end."""
        self._go.write("go\n")
        self._go.flush()
        line = self._done.readline()
        if not line:
            raise RuntimeError(f"the session ended early:\n{self.close()}")
        measured = json.loads(line)
        self.seconds.append(measured["seconds"])
        if measured["events"] is not None:
            self.events.append(measured["events"])

    def close(self) -> str:
        """Let the session finish; its output. Raises if a test failed."""
        self._go.close()
        code = self._process.wait(timeout=120)
        self._done.close()
        self._log.seek(0)
        output = self._log.read()
        self._log.close()
        if code != 0:
            raise RuntimeError(f"a benchmark session failed:\n{output[-3000:]}")
        return output


def _overhead() -> list[Figure]:
    seconds: dict[str, list[float]] = {name: [] for name in _SESSIONS}
    recorded: dict[str, list[int]] = {name: [] for name in _SESSIONS}
    with tempfile.TemporaryDirectory(prefix="hybrid-bench-browser-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text(_INI.format(posthog_js=DIST.parent))
        (folder / "conftest.py").write_text(_CONFTEST)
        for name in _TESTS:
            (folder / name).write_text(_test_file(name))
        for _ in range(ROUNDS):
            sessions = {
                name: _Session(folder, test_file, plugin, extra)
                for name, (test_file, plugin, extra) in _SESSIONS.items()
            }
            try:
                order = list(sessions.values())
                for n in range(TESTS):  # test by test, each session in turn, turns rotating
                    turn = n % len(order)
                    for session in order[turn:] + order[:turn]:
                        session.test()
            finally:
                for session in sessions.values():
                    session.close()
            for name, session in sessions.items():
                # Not the first test (the browser launch) nor the last (the browser closing).
                seconds[name] += session.seconds[1:-1]
                if session.events and name not in ("with", "no flush"):
                    # the bare collector counts on: what each test added
                    recorded[name] += [b - a for a, b in pairwise([0, *session.events])]
                else:
                    recorded[name] += session.events
    median = {name: statistics.median(values) for name, values in seconds.items()}
    working, with_ = median["working"], median["with"]
    ratio = with_ / working
    parts = {
        "the route on PostHog's hosts": median["route"] - working,
        "the init script and the /browser/ gate": median["init"] - working,
        "the end-of-test flush of the pages": with_ - median["no flush"],
    }
    parts["the rest (fixture, attach, recording, checks)"] = with_ - working - sum(parts.values())
    events = " / ".join(f"{statistics.median(recorded[name]):.0f}" for name in ("with", "working"))
    return [
        Figure(
            "pytest-playwright test of a posthog-js page, with vs at work without",
            f"{ratio:.3f}x",
            "<= 1.05x",
            ratio <= 1.05,
        ),
        Figure(
            f"  median test: {with_ * 1e3:.0f} ms with analytics, {working * 1e3:.0f} ms without",
            f"{(with_ - working) * 1e3:+.0f} ms",
            "(reference)",
            True,
        ),
        *(
            Figure(f"    of which {part}", f"{cost * 1e3:+.0f} ms", "(reference)", True)
            for part, cost in parts.items()
        ),
        Figure(
            "  events recorded per test by the test's end: with / at work",
            events,
            "(reference)",
            True,
        ),
    ]


# --- click to assertion: in this process -----------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _site() -> Iterator[str]:
    """``fixtures/`` served on 127.0.0.1: the page and the posthog-js it imports."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(FIXTURES))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Page:
    """One attached page of ``click.html`` under one batch setting, and its clicks."""

    def __init__(self, harness: Any, browser: Any, site: str, flush_ms: int) -> None:
        from playwright.sync_api import expect

        self._harness = harness
        harness.flush_ms = flush_ms  # read by begin(): this recorder's pages batch so
        self.analytics = harness.begin()
        self.context = browser.new_context()
        self.analytics.attach(self.context)
        self.page = self.context.new_page()
        self.page.goto(site + PAGE)
        expect(self.page.locator("#status")).to_have_text("ready")
        box = self.page.locator("#click").bounding_box()
        assert box is not None
        self._at = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        self.clicks = 0
        self.click()  # the first batch: no batch timer runs from here on

    def click(self, *, actionability: bool = False, nudge: bool = True) -> float:
        """Seconds from just before the click to ``wait_for`` returning its event: a mouse
        click at the button, or ``page.click()`` with Playwright's checks first. ``nudge=False``
        waits with ``wait_until`` instead, which does not nudge: the batch timer decides."""
        self.clicks += 1
        start = time.perf_counter()
        if actionability:
            self.page.click("#click")
        else:
            self.page.mouse.click(*self._at)
        if nudge:
            self.analytics.wait_for("clicked", n=self.clicks, timeout=15)
        else:
            clicks = self.clicks
            assert self.analytics.wait_until(
                lambda: bool(self.analytics.find("clicked", n=clicks)), timeout=15
            )
        return time.perf_counter() - start

    def close(self) -> None:
        self.context.close()
        self._harness.end(self.analytics)
        assert self.analytics.rejected == []


def _click_to_assertion() -> list[Figure]:
    from playwright.sync_api import sync_playwright

    from pytest_hybrid_analytics._roads.chromium import launch_options
    from pytest_hybrid_analytics._roads.harness import Harness

    with _site() as site, sync_playwright() as playwright, Harness(posthog_js=DIST) as harness:
        chromium = playwright.chromium
        browser = chromium.launch(
            **launch_options({}, browser_name="chromium", bundled=chromium.executable_path)
        )
        pages = {flush: _Page(harness, browser, site, flush) for flush in (250, 3000, 0)}
        times: dict[str, list[float]] = {
            "250": [],
            "3000": [],
            "0": [],
            "page.click": [],
            "no nudge": [],
        }
        try:
            for _ in range(SAMPLES):
                for flush, page in pages.items():
                    times[str(flush)].append(page.click())
                times["page.click"].append(pages[250].click(actionability=True))
                times["no nudge"].append(pages[250].click(nudge=False))
        finally:
            for page in pages.values():
                page.close()
            browser.close()
    median = {name: statistics.median(values) for name, values in times.items()}
    ours, unnudged = median["250"], median["no nudge"]
    return [
        Figure(
            f"click to wait_for returning (defaults), median of {SAMPLES}",
            f"{ours * 1e3:.0f} ms",
            "<= 50 ms",
            ours <= 0.050,
        ),
        Figure(
            "  baseline: the batch timer decides (wait_until: no nudge)",
            f"{unnudged * 1e3:.0f} ms ({unnudged / ours:.0f}x)",
            "(reference)",
            True,
        ),
        Figure(
            "  posthog-js's own 3000 ms batch (analytics_flush_ms = 3000)",
            f"{median['3000'] * 1e3:.0f} ms",
            "(reference)",
            True,
        ),
        Figure(
            "  analytics_flush_ms = 0 (no batching)",
            f"{median['0'] * 1e3:.0f} ms",
            "(reference)",
            True,
        ),
        Figure(
            "  by page.click() (+ Playwright's actionability checks)",
            f"{median['page.click'] * 1e3:.0f} ms",
            "(reference)",
            True,
        ),
    ]


def run() -> list[Figure]:
    return _click_to_assertion() + _overhead()


if __name__ == "__main__":
    for figure in run():
        print(figure.row(), flush=True)
