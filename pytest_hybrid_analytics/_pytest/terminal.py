"""What the plugin adds to the end of the terminal output."""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_hybrid_analytics._model.text import plural, was
from pytest_hybrid_analytics._roads.harness import Harness

#: The name under which a test's summary travels in its teardown report's user properties.
SUMMARY = "hybrid_analytics_summary"


class SummaryCollector:
    """Reads the per-test summaries off the reports, where the reports are read (the xdist
    controller too), so they travel with them."""

    def __init__(self, into: list[tuple[str, str]]) -> None:
        self.into = into

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        properties = dict(report.user_properties)
        summary = properties.pop(SUMMARY, None)
        if summary is not None:
            extra = "".join(f"\n  {name}: {value}" for name, value in properties.items())
            self.into.append((report.nodeid, f"{summary}{extra}"))


def write(
    terminalreporter: pytest.TerminalReporter,
    *,
    summaries: list[tuple[str, str]],
    notes: list[str],
    harness: Harness | None,
) -> None:
    """The per-test summaries, the lifecycle notes, and what no test received."""
    if summaries:
        terminalreporter.section("analytics captured per test")
        for nodeid, summary in sorted(summaries):
            terminalreporter.line(f"{nodeid}: {summary}")
    idle = len(harness.idle.orphans) if harness is not None else 0
    late = len(harness.late.orphans) if harness is not None else 0
    if not notes and not idle and not late:
        return
    terminalreporter.section("hybrid-analytics")
    if idle:
        terminalreporter.line(
            f"{plural(idle, 'PostHog event')} {was(idle)} sent while no test used "
            "the analytics fixture; kept off the network."
        )
    if late:
        names = Counter(e.event for e in harness.late.orphans.events) if harness else Counter()
        which = ", ".join(f"{name} x{count}" for name, count in names.most_common(5))
        terminalreporter.line(
            f"{late} PostHog event{'s' if late != 1 else ''} ({which}) arrived at a test's "
            "analytics.host after that test had ended; counted in no test."
        )
    for note in notes:
        terminalreporter.line(note)
