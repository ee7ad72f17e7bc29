"""What a whole run hands the reports: one :class:`RecordedTest` per test.

Free of pytest: the plugin fills one per test from its ``analytics`` fixture and its report, and
the audit and the HTML report read a list of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["RecordedTest"]


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
