"""Each assertion over 10,000, 100,000 and 1,000,000 events: under 1 s at 100k, growing no
faster than n log n from 10k to 100k; the 1M figure beside it (its working set, some 7 GB of
events, is far outside every cache, so its growth also says what the memory costs).

The data is a busy timeline: 500 people browsing (real posthog-js event shapes), each logging
in once (``$identify``) and buying on the server. Every check is driven down its slowest path
(the whole timeline read, and a failure message built where it fails). The timelines are frozen
out of Python's cyclic garbage collector (``gc.freeze``) before timing: the input is the test's,
and re-walking millions of its objects on every collection would time the collector, not the
check. Each timed run starts with cold caches (a 256 MiB scratch buffer written through first):
10,000 events fit in this machine's caches and 100,000 do not, so warm runs would measure the
cache hierarchy rather than the algorithm.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable

from benchmarks._data import client_events
from benchmarks._measure import Figure
from pytest_hybrid_analytics import (
    CapturedEvent,
    assert_no_duplicates,
    assert_same_person,
    assert_same_user_journey,
    assert_single_distinct_id,
    parse_capture_request,
)
from pytest_hybrid_analytics._model.wire import encode_body


def timeline(count: int) -> list[CapturedEvent]:
    raw = client_events(count)
    for n, event in enumerate(raw):
        person = n % 500
        if n % 20 == 0:
            event["event"] = "$identify"
            event["properties"]["distinct_id"] = f"user-{person}"
            event["properties"]["$anon_distinct_id"] = f"person-{person}"
        elif n % 20 == 10:
            event["event"] = "purchase_completed"
            event["properties"] = {
                "distinct_id": f"user-{person}",
                "$lib": "posthog-python",
                "$is_server": True,
                "amount": n,
            }
    events: list[CapturedEvent] = []
    for start in range(0, count, 1000):
        batch = {"api_key": "phc_bench", "batch": raw[start : start + 1000]}
        body, headers, _ = encode_body(batch, "json")
        events.extend(parse_capture_request("/batch/", headers, body))
    return events


CHECKS: dict[str, Callable[[list[CapturedEvent]], object]] = {
    "assert_single_distinct_id": assert_single_distinct_id,
    "assert_same_person": assert_same_person,
    "assert_no_duplicates": assert_no_duplicates,
    "assert_same_user_journey": lambda events: assert_same_user_journey(
        events, ["$pageview", "$identify", ("purchase_completed", "server"), "refund"]
    ),
}


def _run(check: Callable[[list[CapturedEvent]], object], events: list[CapturedEvent]) -> None:
    with contextlib.suppress(AssertionError):
        check(events)


#: More than this machine's caches: written through before each timed run.
_SCRATCH = bytearray(256 * 2**20)


def _best_cold(
    check: Callable[[list[CapturedEvent]], object], events: list[CapturedEvent], *, repeat: int
) -> float:
    """The fastest of ``repeat`` runs, each starting with cold caches: 10k events fit in this
    machine's caches and 100k do not, so warm runs would time the cache, not the check."""
    best = float("inf")
    for _ in range(repeat):
        _SCRATCH[::64] = bytes(len(_SCRATCH) // 64)  # touch every cache line
        start = time.perf_counter()
        _run(check, events)
        best = min(best, time.perf_counter() - start)
    return best


def _bound(small: int, large: int) -> float:
    return (large * math.log(large)) / (small * math.log(small))


def run() -> list[Figure]:
    sizes = (10_000, 100_000, 1_000_000)
    timelines = {size: timeline(size) for size in sizes}
    gc.collect()
    gc.freeze()
    try:
        times = {
            name: {
                size: _best_cold(check, events, repeat=5 if size < 10**6 else 2)
                for size, events in timelines.items()
            }
            for name, check in CHECKS.items()
        }
    finally:
        gc.unfreeze()
    figures = []
    for name, by_size in times.items():
        t_small, t_large, t_huge = (by_size[size] for size in sizes)
        figures.append(
            Figure(
                f"{name}: 10k {t_small * 1e3:.0f} ms, 100k",
                f"{t_large * 1e3:.0f} ms",
                "< 1000 ms",
                t_large < 1.0,
            )
        )
        bound = _bound(sizes[0], sizes[1])
        figures.append(
            Figure(
                "  growth 10k -> 100k",
                f"{t_large / t_small:.1f}x",
                f"<= {bound:.1f}x (n log n)",
                t_large / t_small <= bound,
            )
        )
        figures.append(
            Figure(
                f"  1M: {t_huge:.1f} s; growth 100k -> 1M (n log n: "
                f"{_bound(sizes[1], sizes[2]):.1f}x)",
                f"{t_huge / t_large:.1f}x",
                "(reference)",
                True,
            )
        )
    return figures
