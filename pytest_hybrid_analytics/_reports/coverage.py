"""Tracking-plan coverage: what a whole run shows of the plan. The planned events no test saw
(per side the plan allows), and planned events seen only from a side the plan does not allow.

>>> print(plan_coverage(plan, records).render())
Tracking plan coverage: 9 of 11 planned events seen
  never seen: 'refund_issued' (server), 'trial_started' (server)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._reports.records import RecordedTest

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan

__all__ = ["Coverage", "plan_coverage"]

_ORDER = ("client", "server")


@dataclass(frozen=True)
class Coverage:
    """What a run covered of a tracking plan."""

    #: How many events the plan lists.
    planned: int
    #: Planned events no test captured, each with the sides the plan allows (``"client"``,
    #: ``"server"`` or ``"client or server"``), in the plan's order.
    never_seen: tuple[tuple[str, str], ...]
    #: Planned events captured only from sides the plan does not allow: the event, the sides
    #: it came from, the sides allowed.
    wrong_side: tuple[tuple[str, str, str], ...]

    @property
    def uncovered(self) -> bool:
        """Whether some planned event was never seen, or seen only from a wrong side."""
        return bool(self.never_seen or self.wrong_side)

    def render(self) -> str:
        """The lines the end of the run prints."""
        seen = self.planned - len(self.never_seen) - len(self.wrong_side)
        lines = [
            f"Tracking plan coverage: {seen} of {plural(self.planned, 'planned event')} seen "
            "from a side the plan allows"
        ]
        if self.never_seen:
            lines.append(
                "  never seen: "
                + ", ".join(f"{name!r} ({sides})" for name, sides in self.never_seen)
            )
        for name, came, allowed in self.wrong_side:
            lines.append(
                f"  only from the wrong side: {name!r} sent by the {came}, "
                f"planned for the {allowed}"
            )
        return "\n".join(lines)


def _sides(sources: Iterable[str]) -> str:
    return " or ".join(side for side in _ORDER if side in set(sources))


def plan_coverage(plan: TrackingPlan, tests: Iterable[RecordedTest]) -> Coverage:
    """Which planned events the run's tests captured, and from which sides."""
    came: dict[str, set[str]] = {}
    for test in tests:
        for event in test.events:
            if event.event in plan.events:
                came.setdefault(event.event, set()).add(event.source)
    never: list[tuple[str, str]] = []
    wrong: list[tuple[str, str, str]] = []
    for name, planned in plan.events.items():
        sides = came.get(name)
        if not sides:
            never.append((name, _sides(planned.sources)))
        elif not sides & set(planned.sources):
            wrong.append((name, _sides(sides), _sides(planned.sources)))
    return Coverage(len(plan.events), tuple(never), tuple(wrong))
