"""What a whole run hands the reports: one record per test, and the findings about it.

Free of pytest: the plugin fills a :class:`RecordedTest` per test from its ``analytics`` fixture
and its report, and the audit (:mod:`~pytest_hybrid_analytics.audit`) and the HTML report
(:mod:`~pytest_hybrid_analytics.html_report`) read a list of them. The PII guard, the tracking
plan and the diagnostics each report a :class:`Finding`, so every report lists them alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pytest_hybrid_analytics.assertions import assert_no_duplicates
from pytest_hybrid_analytics.events import CapturedEvent
from pytest_hybrid_analytics.report import MAX_ROWS, on_timeline

if TYPE_CHECKING:
    from pytest_hybrid_analytics.lifecycle import ClientNote
    from pytest_hybrid_analytics.recorder import RejectedRequest

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


@dataclass(frozen=True, slots=True)
class _Duplicate:
    """One finding of :func:`assert_no_duplicates`: its sentence and the events it is about."""

    text: str
    events: tuple[CapturedEvent, ...]


_FINDING_LINE = re.compile(r"^  (?P<number>\d+)\. (?P<text>.*)$")
_MARK = re.compile(r"<- duplicate (?P<number>\d+)$")


def _find_duplicates(
    events: Sequence[CapturedEvent], window: timedelta = timedelta(seconds=10)
) -> list[_Duplicate]:
    """The duplicates :func:`assert_no_duplicates` finds in ``events``, as data.

    A stopgap until ``assertions`` offers its findings as data (see the report to the lead):
    it runs the assertion and reads its message, whose timeline rows follow
    :func:`on_timeline` order and end with ``<- duplicate N``. Rows a long timeline elides
    are not flagged (their events still count in the text).
    """
    try:
        assert_no_duplicates(events, window=window)
    except AssertionError as failure:
        lines = str(failure).splitlines()
    else:
        return []
    texts: dict[int, str] = {}
    for line in lines:
        match = _FINDING_LINE.match(line)
        if match:
            texts[int(match["number"])] = match["text"]
        elif line.startswith("Captured timeline"):
            break
    ordered = on_timeline(events)
    start = next(i for i, line in enumerate(lines) if line.startswith("Captured timeline")) + 2
    rows = lines[start : start + min(len(ordered), MAX_ROWS + 1)]
    if len(ordered) > MAX_ROWS:
        half = MAX_ROWS // 2
        shown = [*ordered[:half], None, *ordered[-half:]]
    else:
        shown = list(ordered)
    involved: dict[int, list[CapturedEvent]] = {number: [] for number in texts}
    for row, event in zip(rows, shown, strict=False):
        mark = _MARK.search(row)
        if mark and event is not None:
            involved.setdefault(int(mark["number"]), []).append(event)
    return [_Duplicate(text, tuple(involved[number])) for number, text in sorted(texts.items())]
