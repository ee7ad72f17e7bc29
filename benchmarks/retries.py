"""Retries: what each published PostHog SDK does when PostHog misbehaves, as ``analytics.faults``
sees it. These are not speed figures: each row is one SDK meeting one fault, with what it did.

The SDKs, all real and on their defaults:

- posthog-js 1.449.2 in headless Chromium (``fixtures/web/click.html``, the npm bundle, through
  the plugin's browser road): a click captures ``clicked``;
- posthog-python 7 on its consumer thread, then ``flush()``;
- posthog-python in ``sync_mode`` (one POST on the caller's thread);
- ``AsyncPosthog`` (httpx), then ``await flush()``;
- posthog-node 5.70.0 in a node process (``fixtures/node_retries.mjs``) pointed at
  ``analytics.host``, then ``shutdown()``.

The cases, each armed on the capture endpoint for the first request only (``times=1``): a 503
(then PostHog answers 200), a 429 with ``Retry-After: 2``, a dropped connection (closed with no
answer), a 400. The goal of each is what PostHog's SDK compliance suite expects of capture
(docs/posthog-persons.md, "Retries"): a 5xx, a 429 (after its ``Retry-After``) and a network
error retried with the same event uuids; a 400 never retried. ``met`` says whether the SDK did
(posthog-js keeps every 4xx final, 429 included, by design; sync_mode never retries).

A dropped connection reaches posthog-js: while a drop is armed the collector keeps no
connection alive (Chromium silently re-sends a request whose *reused* keep-alive connection
closed with no answer, before posthog-js could see it).

For each: the attempts, their statuses, the gaps between them (the SDK's backoff plus the
answer's time, measured where the requests arrive), whether every retry carried the first
try's uuids, and how the SDK marked a retry (``?retry_count=N``, ``PostHog-Attempt``, or not
at all). Every wait is on a condition: the Python and node SDKs return once they are done with
the batch (retries included); posthog-js's final callback for the batch (it calls it once it
stops retrying) is watched in the page. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._measure import Figure
from benchmarks.browser import DIST, PAGE, _site

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: The host the in-process Python clients use: claimed by the requests and httpx roads.
CLOUD = "https://us.i.posthog.com"
KEY = "phc_bench_retries"
#: The event each SDK captures (posthog-js: the page's ``clicked``).
EVENT = "retried_event"


@dataclass(frozen=True)
class Case:
    """One way PostHog misbehaves, armed on the first capture request."""

    name: str
    goal: str
    arm: Callable[[Any], Any]
    retried: bool
    retry_after: float = 0.0

    def met(self, delivery: Any) -> bool:
        """Whether what the SDK did is what the goal says."""
        if not self.retried:
            return bool(delivery.count == 1)
        return bool(
            delivery.count >= 2
            and delivery.accepted
            and delivery.same_uuids
            and delivery.gaps[0] >= self.retry_after
        )


CASES = [
    Case("503 then 200", "retried, same uuids", lambda f: f.fail(503), retried=True),
    Case(
        "429, Retry-After: 2",
        "retried after >= 2 s, same uuids",
        lambda f: f.fail(429, retry_after=2),
        retried=True,
        retry_after=2.0,
    ),
    Case("dropped connection", "retried, same uuids", lambda f: f.drop(), retried=True),
    Case("400", "not retried", lambda f: f.fail(400), retried=False),
]


# --- the SDKs --------------------------------------------------------------------------------


def _python_consumer(analytics: Any) -> None:
    from posthog import Posthog

    client = Posthog(KEY, host=CLOUD)
    try:
        client.capture(EVENT, distinct_id="bench-consumer")
        client.flush(timeout_seconds=None)  # returns once the consumer is done, retries included
    finally:
        client.shutdown()


def _python_sync(analytics: Any) -> None:
    from posthog import Posthog

    client = Posthog(KEY, host=CLOUD, sync_mode=True)
    try:
        client.capture(EVENT, distinct_id="bench-sync")  # one POST, on this thread
    finally:
        client.shutdown()


def _python_async(analytics: Any) -> None:
    from posthog import AsyncPosthog

    async def main() -> None:
        client = AsyncPosthog(KEY, host=CLOUD)
        try:
            client.capture(EVENT, distinct_id="bench-async")
            await client.flush(timeout_seconds=None)
        finally:
            await client.shutdown()

    # In a thread of its own: a running Playwright keeps an event loop in the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main()).result(timeout=120)


def _node(analytics: Any) -> None:
    run = subprocess.run(
        ["node", str(FIXTURES / "node_retries.mjs"), str(analytics.host)],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    json.loads(run.stdout.strip().splitlines()[-1])  # it finished (shutdown() returned)


#: What posthog-js itself did with each batch, recorded in the page: every time it sent it
#: (``retriableRequest``: the first try and each retry of its retry queue) and its final
#: callback, which it calls once, when it stops retrying (a success, or a status it gives up on).
_WATCH = """() => {
  const instance = window.__hybridAnalytics.instances[0];
  const queue = Object.values(instance).find(
    (v) => v && typeof v === 'object' && typeof v.retriableRequest === 'function');
  window.__benchBatches = [];
  window.__benchRetryQueue = queue;
  const original = queue.retriableRequest;
  queue.retriableRequest = function (options, transport) {
    if (options && !options.__benchBatch) {
      const data = Array.isArray(options.data) ? options.data : [];
      const batch = {events: data.map((e) => e && e.event), sends: 0, final: null};
      window.__benchBatches.push(batch);
      const callback = options.callback;
      options.callback = function (response) {
        batch.final = response.statusCode;
        if (callback) return callback.apply(this, arguments);
      };
      options.__benchBatch = batch;
    }
    options.__benchBatch.sends += 1;
    return original.apply(this, arguments);
  };
}"""
#: The batch that carried the click, once posthog-js is done with it.
_CLICK_DONE = """() => window.__benchBatches.find(
  (b) => b.events.includes('clicked') && b.final !== null) || null"""


class _Browser:
    """Chromium with one attached page of ``click.html`` per case."""

    def __init__(self, browser: Any, site: str) -> None:
        self._browser = browser
        self._site = site

    def run(self, analytics: Any, case: Case) -> str:
        """Click once with ``case`` armed; what posthog-js itself did with the click's batch."""
        from playwright.sync_api import expect

        context = self._browser.new_context()
        try:
            analytics.attach(context)
            page = context.new_page()
            page.goto(self._site + PAGE)
            expect(page.locator("#status")).to_have_text("ready")
            analytics.wait_for("$pageview", timeout=15)  # the page's first batch is through
            page.evaluate(_WATCH)
            case.arm(analytics.faults)
            page.click("#click")
            batch = page.wait_for_function(_CLICK_DONE, timeout=90_000).json_value()
            final = "no answer" if batch["final"] == 0 else batch["final"]
            return f"posthog-js: sent {batch['sends']}x, ended on {final}"
        finally:
            context.close()


@contextmanager
def _chromium() -> Iterator[_Browser]:
    """Headless Chromium as the plugin launches it, and ``fixtures/`` served on 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    from pytest_hybrid_analytics._roads.chromium import launch_options

    with _site() as site, sync_playwright() as playwright:
        chromium = playwright.chromium
        browser = chromium.launch(
            **launch_options({}, browser_name="chromium", bundled=chromium.executable_path)
        )
        try:
            yield _Browser(browser, site)
        finally:
            browser.close()


# --- the rows --------------------------------------------------------------------------------


def _delivery(analytics: Any, event: str) -> Any:
    """The delivery (first try and retries) that carried ``event``."""
    uuids = {e.uuid for e in analytics.events if e.event == event}
    uuids |= {e.uuid for r in analytics.faulted for e in r.events if e.event == event}
    uuids |= {e.uuid for e in analytics.retried if e.event == event}
    found = [
        d for d in analytics.faults.attempts if d.endpoint == "capture" and uuids & set(d.uuids)
    ]
    if not found:
        raise RuntimeError(f"no delivery carried {event!r}: {analytics.faults.attempts}")
    return found[0]


def _statuses(delivery: Any) -> str:
    return ", ".join("no answer" if s is None else str(s) for s in delivery.statuses)


def _rows(sdk: str, case: Case, delivery: Any, note: str | None) -> list[Figure]:
    gaps = ", ".join(f"{g:.2f} s" for g in delivery.gaps) or "none"
    markers = [t.marker for t in delivery.tries[1:]]
    if not markers:
        marked = "no retry"
    elif all(m is None for m in markers):
        marked = "retries unmarked"
    else:
        marked = "markers " + ", ".join(m or "none" for m in markers)
    same = "same uuids" if delivery.same_uuids else "NEW uuids"
    tries = "1 try" if delivery.count == 1 else f"{delivery.count} tries"
    details = [tries, f"gaps {gaps}", same, marked]
    return [
        Figure(f"{sdk}: {case.name}", _statuses(delivery), case.goal, case.met(delivery)),
        Figure("    " + "; ".join(details + ([note] if note else [])), "", "(figures)", True),
    ]


#: A run of one SDK with a case armed; returns what the SDK itself said it did, if it can.
Drive = Callable[[Any], "str | None"]


def _one(harness: Any, sdk: str, case: Case, drive: Drive, event: str) -> list[Figure]:
    """One SDK meeting one case, in a fresh ``analytics`` of its own."""
    analytics = harness.begin()
    try:
        note = drive(analytics)
        return _rows(sdk, case, _delivery(analytics, event), note)
    finally:
        harness.end(analytics)


def _server(send: Callable[[Any], None], case: Case) -> Drive:
    def drive(analytics: Any) -> None:
        case.arm(analytics.faults)
        send(analytics)

    return drive


def _page(browser: _Browser, case: Case) -> Drive:
    return lambda analytics: browser.run(analytics, case)


#: The server SDKs, each run in this process (posthog-node: in a node process of its own).
SERVER_SDKS: list[tuple[str, Callable[[Any], None]]] = [
    ("posthog-python, consumer thread", _python_consumer),
    ("posthog-python, sync_mode", _python_sync),
    ("AsyncPosthog (httpx)", _python_async),
    ("posthog-node 5.70.0 (node process)", _node),
]


def run() -> list[Figure]:
    from pytest_hybrid_analytics._roads.harness import Harness

    figures: list[Figure] = []
    with Harness(posthog_js=DIST) as harness:
        with _chromium() as browser:
            for case in CASES:
                sdk = "posthog-js 1.449.2 (Chromium)"
                figures += _one(harness, sdk, case, _page(browser, case), "clicked")
        for sdk, send in SERVER_SDKS:
            for case in CASES:
                figures += _one(harness, sdk, case, _server(send, case), EVENT)
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure.row(), flush=True)
