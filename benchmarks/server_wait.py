"""Event to assertion on the server side: a real ``posthog`` client in this process, on the
SDK's defaults (posthog-python 7: consumer threads that send every 5 s), captures; how long
until ``analytics.wait_for`` returns it. The baseline is the same wait without the harness's
nudge (the SDK's own batch decides), so the ratio says what the nudge buys."""

from __future__ import annotations

import statistics
import threading
import time

from posthog import Posthog

from benchmarks._measure import Figure
from pytest_hybrid_analytics._roads.harness import Harness

SAMPLES = 9


def _capture_to_wait(harness: Harness, n: int) -> float:
    analytics = harness.begin()
    client = Posthog("phc_bench_server", host="https://us.i.posthog.com")  # the SDK's defaults
    try:
        start = time.perf_counter()
        client.capture("signed_up", distinct_id=f"user-{n}")
        analytics.wait_for("signed_up", timeout=10)
        return time.perf_counter() - start
    finally:
        client.shutdown()
        harness.end(analytics)


def _capture_during_wait(harness: Harness, n: int) -> float:
    """The capture comes 100 ms after the wait began (a page's fetch that returned at once):
    from the capture to the wait's return."""
    analytics = harness.begin()
    client = Posthog("phc_bench_server", host="https://us.i.posthog.com")
    captured: list[float] = []

    def request() -> None:
        time.sleep(0.1)  # the benchmark's scenario: the request lands while the test waits
        captured.append(time.perf_counter())
        client.capture("order_created", distinct_id=f"user-{n}")

    try:
        thread = threading.Thread(target=request)
        thread.start()
        analytics.wait_for("order_created", timeout=10)
        done = time.perf_counter()
        thread.join()
        return done - captured[0]
    finally:
        client.shutdown()
        harness.end(analytics)


def run() -> list[Figure]:
    with Harness() as harness:
        times = [_capture_to_wait(harness, n) for n in range(SAMPLES)]
        during = [_capture_during_wait(harness, n) for n in range(SAMPLES)]
        # The baseline: the SDK's own batch, the wait not nudging (one sample: it is seconds).
        analytics = harness.begin()
        client = Posthog("phc_bench_server", host="https://us.i.posthog.com")
        start = time.perf_counter()
        client.capture("signed_up", distinct_id="user-own-batch")
        analytics.wait_until(lambda: len(analytics) > 0, timeout=15)
        own = time.perf_counter() - start
        client.shutdown()
        harness.end(analytics)
    median = statistics.median(times)
    return [
        Figure(
            f"server capture to wait_for returning, median of {SAMPLES}",
            f"{median * 1e3:.0f} ms",
            "<= 50 ms",
            median <= 0.05,
        ),
        Figure(
            f"  a capture while the wait is on, to its return, median of {SAMPLES}",
            f"{statistics.median(during) * 1e3:.0f} ms",
            "<= 50 ms",
            statistics.median(during) <= 0.05,
        ),
        Figure(
            "  the SDK's own batch (no nudge), one sample",
            f"{own * 1e3:.0f} ms ({own / median:.0f}x)",
            "(baseline)",
            True,
        ),
    ]
