"""What every test's capture is held to when it ends: no rejected requests, no sensitive data
from the client (the PII guard), the tracking plan when the suite has one, and the test's
baseline when the run compares with one.

Free of pytest: the plugin builds one :class:`Checks` from its settings, and asks it at each
test's teardown; :func:`teardown_failure` words the teardown error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_hybrid_analytics._checks.baseline import Snapshot, compare, take_snapshot
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.person_checks import person_findings
from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.text import plural, was
from pytest_hybrid_analytics._recording.timeline import format_rejected

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan

__all__ = ["Checks", "teardown_failure"]

#: ``allow_pii=`` / ``allow_plan=`` / ``allow_baseline=`` of the marker: ``True`` allows all, a
#: collection allows those property names or paths (PII) or codes (plan, baseline).
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
        baseline: Snapshot | None = None,
        allow_baseline: Allowance = False,
    ) -> tuple[list[Finding], list[Finding]]:
        """``(failing, reported)``: the findings that fail the test, and every finding.
        ``baseline`` is the test's stored snapshot, when the run compares with one."""
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
        if baseline is not None:
            found = compare(baseline, take_snapshot(events))
            reported += found
            if allow_baseline is not True:
                allowed = set() if isinstance(allow_baseline, bool) else set(allow_baseline)
                failing += [f for f in found if f.code not in allowed]
        return failing, reported


#: Per kind of finding that fails a test: its heading, what to do next, the marker's keyword
#: that lets it through and the README section. The keyword's list names what was found: the
#: codes (plan, persons) or the property paths (PII).
_FINDING_TEXTS = (
    (
        "persons",
        "PostHog would refuse or lose these ids",
        "send the real user id, never a placeholder such as 'None' or 'undefined', and identify "
        "only where person profiles are processed",
        "allow_warnings",
        "Persons",
    ),
    (
        "pii",
        "Sensitive data in client events",
        "keep card numbers, passwords and tokens on the server (guide: 'Don't send sensitive "
        "data client-side')",
        "allow_pii",
        "Checks at teardown",
    ),
    (
        "plan",
        "The tracking plan was broken",
        "fix the event or the plan",
        "allow_plan",
        "Tracking plan",
    ),
    (
        "baseline",
        "The analytics changed from the baseline",
        "if the change is meant, record it with --analytics-baseline-update (only the tests "
        "that run are replaced)",
        "allow_baseline",
        "Baselines",
    ),
)


def _allowing(keyword: str, found: Sequence[Finding]) -> str:
    """``allow_plan=['wrong-type']``: the marker's keyword with what was found."""
    names = [mask_secrets(f.path or "") if keyword == "allow_pii" else f.code for f in found]
    return f"{keyword}={list(dict.fromkeys(name for name in names if name))!r}"


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
    for kind, heading, advice, keyword, section in _FINDING_TEXTS:
        found = [f for f in failing if f.kind == kind]
        if found:
            listed = "\n".join(f"  {finding}" for finding in found)
            parts.append(
                f"{heading} ({len(found)}):\n{listed}\nNext step: {advice}, or let this test "
                f"through with @pytest.mark.analytics({_allowing(keyword, found)}) "
                f"(README, {section!r})."
            )
    return "\n\n".join(parts) or None
