"""What every test's capture is held to when it ends: no rejected requests, no sensitive data
from the client (the PII guard), and the tracking plan when the suite has one.

Free of pytest: the plugin builds one :class:`Checks` from its settings, and asks it at each
test's teardown; :func:`teardown_failure` words the teardown error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.person_checks import person_findings
from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.text import plural, was
from pytest_hybrid_analytics._recording.timeline import format_rejected

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan

__all__ = ["Checks", "teardown_failure"]

#: ``allow_pii=`` / ``allow_plan=`` of the marker: ``True`` allows all, a collection allows
#: those property names or paths (PII) or violation codes (plan).
Allowance = bool | Collection[str]


@dataclass(frozen=True)
class Checks:
    """The PII guard (``None``: off) and the tracking plan (``None``: no plan).

    >>> checks = Checks(PiiGuard(), TrackingPlan.load("tracking-plan.yaml"))
    >>> failing, reported = checks.run(analytics.events, allow_pii=False, allow_plan=False)
    """

    guard: PiiGuard | None = None
    plan: TrackingPlan | None = None

    def run(
        self,
        events: Sequence[CapturedEvent],
        *,
        allow_pii: Allowance = False,
        allow_plan: Allowance = False,
        allow_warnings: Allowance = False,
    ) -> tuple[list[Finding], list[Finding]]:
        """``(failing, reported)``: the findings that fail the test, and every finding."""
        reported: list[Finding] = []
        failing: list[Finding] = []
        found = person_findings(events)
        reported += found
        if allow_warnings is not True:
            allowed = set() if isinstance(allow_warnings, bool) else set(allow_warnings)
            failing += [f for f in found if f.code not in allowed]
        if self.guard is not None:
            guard = self.guard
            if not isinstance(allow_pii, bool):
                guard = dataclasses.replace(guard, allow=[*guard.allow, *allow_pii])
            found = guard.check(events)
            reported += found
            if allow_pii is not True:
                failing += found
        if self.plan is not None:
            found = self.plan.check(events)
            reported += found
            if allow_plan is not True:
                allowed = set() if isinstance(allow_plan, bool) else set(allow_plan)
                failing += [f for f in found if f.code not in allowed]
        return failing, reported


#: Per kind of finding that fails a test: its heading and what to do next.
_FINDING_TEXTS = (
    (
        "persons",
        "PostHog would refuse or lose these ids",
        "send the real user id, never a placeholder such as 'None' or 'undefined', and identify "
        "only where person profiles are processed; allow a code with "
        "@pytest.mark.analytics(allow_warnings=['illegal-distinct-id']) (README, 'Persons').",
    ),
    (
        "pii",
        "Sensitive data in client events",
        "keep card numbers, passwords and tokens on the server (guide: 'Don't send sensitive "
        "data client-side'), or allow a property with @pytest.mark.analytics(allow_pii=['name']) "
        "(README, 'Checks at teardown').",
    ),
    (
        "plan",
        "The tracking plan was broken",
        "fix the event or the plan, or allow the codes with "
        "@pytest.mark.analytics(allow_plan=['extra-property']) (README, 'Tracking plan').",
    ),
)


def teardown_failure(rejected: Sequence[RejectedRequest], failing: Sequence[Finding]) -> str | None:
    """The teardown error for a test that passed its own assertions but broke a check."""
    parts = []
    if rejected:
        one = len(rejected) == 1
        parts.append(
            f"{plural(len(rejected), 'PostHog request')} {was(len(rejected))} rejected during the "
            f"test; the events in {'it' if one else 'them'} are not on the timeline.\n"
            f"{format_rejected(rejected)}\n"
            "Next step: fix what each reason names, or mark the test "
            "@pytest.mark.analytics(allow_rejected=True) if bad input is what it tests "
            "(README, 'Rejected requests')."
        )
    for kind, heading, next_step in _FINDING_TEXTS:
        found = [f for f in failing if f.kind == kind]
        if found:
            listed = "\n".join(f"  {finding}" for finding in found)
            parts.append(f"{heading} ({len(found)}):\n{listed}\nNext step: {next_step}")
    return "\n\n".join(parts) or None
