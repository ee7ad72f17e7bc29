"""The run-wide reports, as a pytest plugin object the entry point registers when asked for:
``--analytics-report=DIR`` (one self-contained HTML file) and ``--analytics-audit`` (the
guide's Validation Checklist judged from the run, at the end of the terminal output)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._reports.audit import Audit, audit
from pytest_hybrid_analytics._reports.html import write_report
from pytest_hybrid_analytics._reports.records import RecordedTest

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan

__all__ = ["Reporter"]


class Reporter:
    """Keeps one :class:`RecordedTest` per test, then writes the report and the audit."""

    def __init__(
        self, *, directory: str | None, audit: bool, plan: TrackingPlan | None, worker: str | None
    ) -> None:
        self.directory = directory
        self.audit = audit
        self.plan = plan
        self.worker = worker
        self.records: list[RecordedTest] = []
        self.result: Audit | None = None
        self.written: Path | None = None

    def add(self, record: RecordedTest) -> None:
        """One more finished test."""
        self.records.append(record)

    def finish(self, session_notes: RecordedTest) -> None:
        """Judge the run and write the HTML file."""
        records = [*self.records, session_notes]
        if self.audit or self.directory:
            self.result = audit(records, plan=self.plan)
        if self.directory:
            path = write_report(records, self.directory, audit=self.result)
            if self.worker:  # pytest-xdist: one file per worker
                path = path.rename(path.with_name(f"{path.stem}-{self.worker}{path.suffix}"))
            self.written = path

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.result is not None and self.audit:
            terminalreporter.section("analytics audit")
            for line in mask_secrets(self.result.render()).splitlines():
                terminalreporter.line(line)
        if self.written is not None:
            terminalreporter.line(f"hybrid-analytics: HTML report written to {self.written}")
