"""The run-wide reports, as a pytest plugin object the entry point registers when asked for:
``--analytics-report=DIR`` (one self-contained HTML file), ``--analytics-audit`` (the guide's
Validation Checklist judged from the run, at the end of the terminal output),
``--analytics-jsonl=PATH`` (the run's records, for merging CI shards), the tracking plan's
coverage (with a plan), and GitHub Actions' job summary (when ``GITHUB_STEP_SUMMARY`` is set)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._reports.audit import Audit, audit
from pytest_hybrid_analytics._reports.coverage import Coverage, plan_coverage
from pytest_hybrid_analytics._reports.html import write_report
from pytest_hybrid_analytics._reports.records import (
    RecordedTest,
    dump_run,
    dump_run_lines,
    load_run,
)
from pytest_hybrid_analytics._reports.step_summary import step_summary

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan
    from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["Reporter", "junit_properties"]

#: The key under which a pytest-xdist worker hands its records to the controller.
RECORDS = "hybrid_analytics_records"


def junit_properties(
    events: Sequence[CapturedEvent], rejected: int, findings: Sequence[Finding]
) -> list[tuple[str, object]]:
    """What a test's ``<properties>`` in the JUnit XML (``--junitxml``) carry: its events per
    side, persons, rejected requests, and its findings' codes with their counts."""
    sides = Counter(e.source for e in events)
    codes = Counter(f.code for f in findings)
    return [
        ("analytics_client_events", sides["client"]),
        ("analytics_server_events", sides["server"]),
        ("analytics_persons", len(Identity(events).persons())),
        ("analytics_rejected", rejected),
        ("analytics_findings", ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))),
    ]


class Reporter:
    """Keeps one :class:`RecordedTest` per test, then writes the report and the audit.

    Under pytest-xdist a worker writes nothing: it hands its records to the controller in its
    ``workeroutput``, and the controller, which runs no test, judges and writes the whole run.
    """

    def __init__(
        self,
        *,
        directory: str | None,
        audit: bool,
        plan: TrackingPlan | None,
        jsonl: str | None = None,
        coverage: str = "report",
        step_summary: str | None = None,
    ) -> None:
        self.directory = directory
        self.audit = audit
        self.plan = plan
        #: Where the run's records go as JSON Lines (``--analytics-jsonl``).
        self.jsonl = jsonl
        #: ``"report"`` or ``"fail"``: what uncovered planned events do (with a plan).
        self.coverage_mode = coverage
        #: GitHub Actions' job summary file (``GITHUB_STEP_SUMMARY``).
        self.step_summary = step_summary
        self.coverage: Coverage | None = None
        self.records: list[RecordedTest] = []
        self.session_notes: list[ClientNote] = []
        self.result: Audit | None = None
        self.written: Path | None = None
        #: A pytest-xdist worker's ``config.workeroutput`` (``None``: not a worker).
        self._output: dict[str, Any] | None = None
        #: Where each test's last report came in (the controller's order of the run).
        self._order: dict[str, int] = {}
        #: Where each test was collected (the order the reports follow).
        self._collected: dict[str, int] = {}
        #: Workers that went down without handing their records over.
        self._lost: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        output = getattr(config, "workeroutput", None)
        self._output = output if isinstance(output, dict) else None

    def add(self, record: RecordedTest) -> None:
        """One more finished test. When only the plan's coverage is wanted, it keeps one event
        per name and side (all the coverage reads), not the whole capture."""
        if not (self.directory or self.audit or self.jsonl or self.step_summary):
            kinds: dict[tuple[str, str], CapturedEvent] = {}
            for event in record.events:
                kinds.setdefault((event.event, event.source), event)
            record = dataclasses.replace(record, events=list(kinds.values()), rejected=[])
        self.records.append(record)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._order.setdefault(report.nodeid, len(self._order))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The run's tests in collection order: the report's and the audit's order, the same
        whether the tests ran in one process or on pytest-xdist workers."""
        if session.items and not self._collected:
            self._collected = {item.nodeid: n for n, item in enumerate(session.items)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """pytest-xdist's controller: the collection a worker made (every worker collects
        the same tests in the same order)."""
        if not self._collected:
            self._collected = {nodeid: n for n, nodeid in enumerate(ids)}

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
        last = len(self._collected)
        records = sorted(
            self.records,
            key=lambda r: (self._collected.get(r.nodeid, last), self._order.get(r.nodeid, 0)),
        )
        if self.jsonl:
            path = Path(self.jsonl)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_run_lines(records, self.session_notes), encoding="utf-8")
        if self.plan is not None and records:
            self.coverage = plan_coverage(self.plan, records)
        if self.audit or self.directory or self.step_summary:
            self.result = audit(records, session_notes=self.session_notes, plan=self.plan)
        if self.directory:
            self.written = write_report(
                records, self.directory, audit=self.result, session_notes=self.session_notes
            )
        if self.step_summary and records:
            with Path(self.step_summary).open("a", encoding="utf-8") as summary:
                summary.write(
                    step_summary(
                        records, audit=self.result, coverage=self.coverage, report=self.written
                    )
                )

    @property
    def coverage_failed(self) -> bool:
        """Whether ``--analytics-plan-coverage=fail`` fails the run (a planned event unseen)."""
        return (
            self.coverage_mode == "fail" and self.coverage is not None and self.coverage.uncovered
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._output is not None:
            return
        if self.result is not None and self.audit:
            terminalreporter.section("analytics audit")
            for line in mask_secrets(self.result.render()).splitlines():
                terminalreporter.line(line)
        if self.coverage is not None and self.coverage.uncovered:
            terminalreporter.section("tracking plan coverage")
            for line in self.coverage.render().splitlines():
                terminalreporter.line(line)
            if self.coverage_failed:
                terminalreporter.line(
                    "hybrid-analytics: --analytics-plan-coverage=fail: the run fails on the "
                    "planned events above."
                )
        if self.written is not None:
            terminalreporter.line(f"hybrid-analytics: HTML report written to {self.written}")
        if self.jsonl and self._output is None:
            terminalreporter.line(f"hybrid-analytics: records written to {self.jsonl}")
        if self._lost:
            terminalreporter.line(
                f"hybrid-analytics: {plural(len(self._lost), 'pytest-xdist worker')} "
                f"({', '.join(self._lost)}) went down before handing over "
                f"{'its' if len(self._lost) == 1 else 'their'} tests' records: the audit and "
                "the report leave those tests out."
            )
