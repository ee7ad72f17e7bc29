"""The run-wide reports, as a pytest plugin object the entry point registers when asked for:
``--analytics-report=DIR`` (one self-contained HTML file) and ``--analytics-audit`` (the
guide's Validation Checklist judged from the run, at the end of the terminal output)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._reports.audit import Audit, audit
from pytest_hybrid_analytics._reports.html import write_report
from pytest_hybrid_analytics._reports.records import RecordedTest, dump_run, load_run

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan
    from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["Reporter"]

#: The key under which a pytest-xdist worker hands its records to the controller.
RECORDS = "hybrid_analytics_records"


class Reporter:
    """Keeps one :class:`RecordedTest` per test, then writes the report and the audit.

    Under pytest-xdist a worker writes nothing: it hands its records to the controller in its
    ``workeroutput``, and the controller, which runs no test, judges and writes the whole run.
    """

    def __init__(self, *, directory: str | None, audit: bool, plan: TrackingPlan | None) -> None:
        self.directory = directory
        self.audit = audit
        self.plan = plan
        self.records: list[RecordedTest] = []
        self.session_notes: list[ClientNote] = []
        self.result: Audit | None = None
        self.written: Path | None = None
        #: A pytest-xdist worker's ``config.workeroutput`` (``None``: not a worker).
        self._output: dict[str, Any] | None = None
        #: Where each test's last report came in (the controller's order of the run).
        self._order: dict[str, int] = {}
        #: Workers that went down without handing their records over.
        self._lost: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        output = getattr(config, "workeroutput", None)
        self._output = output if isinstance(output, dict) else None

    def add(self, record: RecordedTest) -> None:
        """One more finished test."""
        self.records.append(record)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._order.setdefault(report.nodeid, len(self._order))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller: a worker is done; take the records it handed over."""
        payload = getattr(node, "workeroutput", {}).get(RECORDS)
        if payload is None:
            self._lost.append(str(getattr(node, "workerinput", {}).get("workerid", "?")))
            return
        records, notes = load_run(payload)
        self.records.extend(records)
        self.session_notes.extend(notes)

    def finish(self, session_notes: list[ClientNote]) -> None:
        """Judge the run and write the HTML file (a worker hands its records over instead)."""
        self.session_notes.extend(session_notes)
        if self._output is not None:
            self._output[RECORDS] = dump_run(self.records, self.session_notes)
            return
        unknown = len(self._order)
        records = sorted(self.records, key=lambda r: self._order.get(r.nodeid, unknown))
        if self.audit or self.directory:
            self.result = audit(records, session_notes=self.session_notes, plan=self.plan)
        if self.directory:
            self.written = write_report(
                records, self.directory, audit=self.result, session_notes=self.session_notes
            )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._output is not None:
            return
        if self.result is not None and self.audit:
            terminalreporter.section("analytics audit")
            for line in mask_secrets(self.result.render()).splitlines():
                terminalreporter.line(line)
        if self.written is not None:
            terminalreporter.line(f"hybrid-analytics: HTML report written to {self.written}")
        if self._lost:
            terminalreporter.line(
                f"hybrid-analytics: {plural(len(self._lost), 'pytest-xdist worker')} "
                f"({', '.join(self._lost)}) went down before handing over "
                f"{'its' if len(self._lost) == 1 else 'their'} tests' records: the audit and "
                "the report leave those tests out."
            )
