"""Timing helpers shared by the benchmarks: interleaved runs, best of N."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """The fastest of ``repeat`` runs of ``number`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def paired(
    subject: Callable[[], object], baseline: Callable[[], object], rounds: int = 9
) -> tuple[float, float]:
    """Best time of ``subject`` and of ``baseline``, measured alternately so that noise on a
    busy machine hits both alike."""
    best_subject = best_baseline = float("inf")
    for _ in range(rounds):
        best_baseline = min(best_baseline, best_of(baseline, repeat=1))
        best_subject = min(best_subject, best_of(subject, repeat=1))
    return best_subject, best_baseline


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int = 9) -> dict[str, float]:
    """Best time of each candidate (one call a round), the candidates taking turns round after
    round, so that noise on a busy machine hits all alike (:func:`paired` for more than two)."""
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for name, fn in candidates.items():
            best[name] = min(best[name], best_of(fn, repeat=1))
    return best


@dataclass
class Figure:
    """One printed figure: what, the value, the goal, and whether it meets it."""

    name: str
    value: str
    goal: str
    met: bool

    def row(self) -> str:
        verdict = "ok  " if self.met else "MISS"
        return f"  {verdict} {self.name:<58} {self.value:>16}   goal {self.goal}"
