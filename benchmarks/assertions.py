"""Each assertion over 10,000 and 100,000 events: under 1 s, growing no faster than n log n.

The data is a busy timeline: 500 people browsing (real posthog-js event shapes), each logging
in once (``$identify``) and buying on the server. Every check is driven down its slowest path
(the whole timeline read, and a failure message built where it fails).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

from benchmarks._data import client_events
from benchmarks._measure import Figure, best_of
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


def run() -> list[Figure]:
    small, large = timeline(10_000), timeline(100_000)
    bound = (100_000 * math.log(100_000)) / (10_000 * math.log(10_000))
    figures = []
    for name, check in CHECKS.items():
        t_small = best_of(lambda c=check: _run(c, small), repeat=3)
        t_large = best_of(lambda c=check: _run(c, large), repeat=3)
        growth = t_large / t_small
        figures.append(
            Figure(
                f"{name}: 10k {t_small * 1e3:.0f} ms, 100k",
                f"{t_large * 1e3:.0f} ms",
                "< 1000 ms",
                t_large < 1.0,
            )
        )
        figures.append(
            Figure(
                f"{name}: growth 10k -> 100k",
                f"{growth:.1f}x",
                f"<= {bound:.1f}x (n log n)",
                growth <= bound,
            )
        )
    return figures
