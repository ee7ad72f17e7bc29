"""Analytics baselines, the pytest side (README, "Baselines"): a plugin object the entry point
registers when ``--analytics-baseline`` (or the ``analytics_baseline`` ini key) is set.

Comparing, it hands each test's stored snapshot to the teardown checks (:meth:`BaselineRun.take`)
and ends the run saying which tests have no baseline yet and which entries are for tests that
no longer exist. Updating (``--analytics-baseline-update``), it keeps the snapshot of each test
that ran and passed, and at the end writes the file: those tests replaced, the rest kept, the
entries of tests that no longer exist removed.

Under pytest-xdist every worker reads the file and compares the tests it runs; it hands what it
saw (snapshots, tests with no baseline, what it collected) to the controller in its
``workeroutput``, and the controller, which runs no test, writes the one file and the lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_hybrid_analytics._checks.baseline import (
    Baseline,
    Snapshot,
    describe_update,
    snapshot_from_data,
    snapshot_to_data,
    stale_entries,
    take_snapshot,
)
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.text import plural, was

__all__ = ["HANDOVER", "BaselineRun"]

#: The key under which a pytest-xdist worker hands its part to the controller.
HANDOVER = "hybrid_analytics_baseline"
_PREFIX = "hybrid-analytics: "


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


class BaselineRun:
    """One run's baseline: the stored snapshots, and what the run adds to them.

    >>> run = BaselineRun(config, Path("analytics-baseline.yaml"), shown="...", update=False)
    >>> run.take(item, analytics.events)  # the stored snapshot to compare with, or None
    """

    def __init__(self, config: pytest.Config, path: Path, *, shown: str, update: bool) -> None:
        self.path = path
        #: The path as the user gave it, for messages.
        self.shown = shown
        self.update = update
        #: What the file holds (raises ``BaselineError`` for a file that cannot be used).
        self.stored = Baseline.load(path)
        self.rootpath = config.rootpath
        #: Per test that ran and passed, its snapshot (updating only).
        self.recorded: dict[str, Snapshot] = {}
        #: Tests with no entry in the file (comparing only).
        self.missing: set[str] = set()
        #: Tests that did not pass, so were not recorded (updating only).
        self.not_passed: set[str] = set()
        #: The collected tests that use ``analytics``, deselected ones included.
        self.tests: set[str] = set()
        #: The files collected in full, and those that failed to collect.
        self.files: set[str] = set()
        self.broken: set[str] = set()
        #: The entries for tests that no longer exist, worked out at the end.
        self.stale: list[str] = []
        self._written: bool | None = None
        self._interrupted = False
        self._passed: dict[str, bool] = {}
        self._lost: list[str] = []
        output = getattr(config, "workeroutput", None)
        #: A pytest-xdist worker's ``workeroutput`` (``None``: not a worker).
        self._output: dict[str, Any] | None = output if isinstance(output, dict) else None
        self._narrowed = _narrowed_files(config)
        # --lf leaves the tests that passed out of the collection itself: they would look
        # removed. --collect-only runs nothing.
        self._judge_stale = not config.getoption("lf", False)
        self._collect_only = bool(config.getoption("collectonly", False))

    # -- collection and the tests --------------------------------------------------------

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        if "analytics" in getattr(item, "fixturenames", ()):
            self.tests.add(item.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken.add(report.nodeid.split("::", 1)[0])
        elif "::" not in report.nodeid:
            self.files.add(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self._passed[report.nodeid] = report.passed and not hasattr(report, "wasxfail")

    def take(self, item: pytest.Item, events: Sequence[CapturedEvent]) -> Snapshot | None:
        """At a test's teardown: the stored snapshot to compare its events with (``None``:
        none stored, or the run updates the baseline, keeping this test's snapshot if it
        passed)."""
        if self.update:
            if self._passed.get(item.nodeid, False):
                self.recorded[item.nodeid] = take_snapshot(events)
                self.not_passed.discard(item.nodeid)
            else:
                self.not_passed.add(item.nodeid)
            return None
        stored = self.stored.tests.get(item.nodeid)
        if stored is None:
            self.missing.add(item.nodeid)
        return stored

    # -- the end of the run ----------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller: a worker is done; take what it handed over."""
        payload = getattr(node, "workeroutput", {}).get(HANDOVER)
        if payload is None:
            self._lost.append(str(getattr(node, "workerinput", {}).get("workerid", "?")))
            return
        part = json.loads(payload)
        self.recorded.update(
            (test, snapshot_from_data(data, test)) for test, data in part["recorded"].items()
        )
        self.missing.update(part["missing"])
        self.not_passed.update(part["not_passed"])
        self.not_passed.difference_update(self.recorded)
        self.tests.update(part["tests"])
        self.files.update(part["files"])
        self.broken.update(part["broken"])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._output is not None:
            self._output[HANDOVER] = json.dumps(
                {
                    "recorded": {t: snapshot_to_data(s) for t, s in self.recorded.items()},
                    "missing": sorted(self.missing),
                    "not_passed": sorted(self.not_passed),
                    "tests": sorted(self.tests),
                    "files": sorted(self.files),
                    "broken": sorted(self.broken),
                }
            )
            return
        if self._collect_only:
            return
        if self._judge_stale:
            self.stale = stale_entries(
                self.stored.tests,
                tests=self.tests,
                files=self.files - self.broken - self._narrowed,
                exists=lambda file: (self.rootpath / file).exists(),
            )
        if not self.update:
            return
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            self._interrupted = True
            return
        self._written = self.stored.merged(self.recorded, self.stale).save(self.path)

    def pytest_report_header(self, config: pytest.Config) -> str:
        count = plural(len(self.stored.tests), "test")
        held = f"{count}" if self.stored.exists else "no such file yet"
        doing = "updating it (--analytics-baseline-update)" if self.update else "comparing"
        return f"{_PREFIX}baseline {self.shown} ({held}), {doing}"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._output is not None or self._collect_only:
            return
        for line in self.summary():
            terminalreporter.line(line)

    def summary(self) -> list[str]:
        """The lines the run ends with."""
        lines = []
        if self.update:
            lines += self._update_summary()
        else:
            missing = len(self.missing)
            if missing:
                lines.append(
                    f"{_PREFIX}{plural(missing, 'test')} {'has' if missing == 1 else 'have'} "
                    f"no baseline yet in {self.shown}: run with --analytics-baseline-update to "
                    f"record {_them(missing)}."
                )
            stale = len(self.stale)
            if stale:
                gone = (
                    "is for a test that no longer exists"
                    if stale == 1
                    else "are for tests that no longer exist"
                )
                lines.append(
                    f"{_PREFIX}{plural(stale, 'entry', 'entries')} in {self.shown} {gone}: "
                    f"--analytics-baseline-update removes {_them(stale)}."
                )
                lines += [f"  {test}" for test in self.stale]
        return lines

    def _update_summary(self) -> list[str]:
        if self._interrupted:
            return [f"{_PREFIX}the run was interrupted: baseline {self.shown} not written."]
        described = describe_update(self.stored, self.recorded, self.stale)
        done = "written" if self._written else "unchanged"
        lines = [f"{_PREFIX}baseline {self.shown} {done}: {described}."]
        lines += [f"  removed: {test}" for test in self.stale]
        skipped = len(self.not_passed)
        if skipped:
            lines.append(
                f"{_PREFIX}{plural(skipped, 'test')} did not pass and {was(skipped)} "
                "not recorded (an entry already there is left as it was):"
            )
            lines += [f"  not recorded: {test}" for test in sorted(self.not_passed)]
        if self._lost:
            lines.append(
                f"{_PREFIX}{plural(len(self._lost), 'pytest-xdist worker')} "
                f"({', '.join(self._lost)}) went down before handing over "
                f"{'its' if len(self._lost) == 1 else 'their'} tests' snapshots: those tests "
                "are not recorded."
            )
        return lines


def _narrowed_files(config: pytest.Config) -> set[str]:
    """The files the command line narrows to some of their tests (``file.py::test``), as
    test ids name them: their other tests were not collected, so not removed."""
    narrowed = set()
    for arg in config.args:
        if "::" in arg:
            path = os.path.abspath(os.path.join(config.invocation_params.dir, arg.split("::")[0]))
            narrowed.add(Path(os.path.relpath(path, config.rootpath)).as_posix())
    return narrowed
