"""What a whole run hands the reports: one record per test, and the findings about it.

Free of pytest: the plugin fills a :class:`RecordedTest` per test from its ``analytics`` fixture
and its report, and the audit (:mod:`~pytest_hybrid_analytics._reports.audit`) and the HTML report
(:mod:`~pytest_hybrid_analytics._reports.html`) read a list of them. The PII guard, the tracking
plan and the diagnostics each report a :class:`Finding`, so every report lists them alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pytest_hybrid_analytics._model.events import CapturedEvent

if TYPE_CHECKING:
    from pytest_hybrid_analytics._model.events import RejectedRequest
    from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["Finding", "FindingKind", "RecordedTest"]

#: Who found it: the PII guard, the tracking plan, or the troubleshooting diagnostics.
FindingKind = Literal["pii", "plan", "diagnostic"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a test's capture, named by a stable ``code``.

    ``message`` is whole and test-readable (it names the event and the property) and never
    holds a secret in clear: values are masked before they get there.

    >>> finding = PiiGuard().check(analytics.events)[0]
    >>> finding.kind, finding.code, finding.path
    ('pii', 'card-number', 'payment.card')
    >>> str(finding)
    "[card-number] 'checkout_submitted' (client) property 'payment.card': a card number ..."
    """

    #: ``"pii"``, ``"plan"`` or ``"diagnostic"``.
    kind: FindingKind
    #: A short stable name: ``"card-number"``, ``"missing-property"``, ``"bot-dropped"``...
    code: str
    #: What is wrong, naming the event, the property and why, with any value masked.
    message: str
    #: The event it is about, when it is about one.
    event: CapturedEvent | None = field(default=None, compare=False)
    #: The property path it is about (``"payment.card"``, ``"$set.password"``), if any.
    path: str | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(slots=True)
class RecordedTest:
    """One test of the run, as the reports see it.

    >>> RecordedTest(
    ...     "tests/test_shop.py::test_buy", "failed", events=analytics.events,
    ...     rejected=analytics.rejected, notes=analytics.client_notes,
    ...     findings=PiiGuard().check(analytics.events), message=report.longreprtext,
    ... )
    """

    #: The pytest node id.
    nodeid: str
    #: ``"passed"``, ``"failed"``, ``"error"`` (setup/teardown), ``"skipped"``, ``"xfailed"``...
    outcome: str = "passed"
    #: Every event the test captured.
    events: Sequence[CapturedEvent] = ()
    #: Requests the fake PostHog API could not decode.
    rejected: Sequence[RejectedRequest] = ()
    #: What the end-of-test flush found about ``posthog`` clients.
    notes: Sequence[ClientNote] = ()
    #: PII findings, plan violations and diagnostics for this test.
    findings: Sequence[Finding] = ()
    #: The failure text, when the test failed (shown in the HTML report).
    message: str = ""
    #: How long the test took, in seconds.
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether the test failed or errored.

        >>> RecordedTest("t::a", "error").failed
        True
        """
        return self.outcome in ("failed", "error")
