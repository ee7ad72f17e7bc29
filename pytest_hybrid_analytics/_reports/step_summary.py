"""The run in a few lines of Markdown, for where CI shows it (GitHub Actions' job summary,
``GITHUB_STEP_SUMMARY``): tests with analytics, events per side, persons, findings, the audit
lines that failed, the report's path.

>>> Path(os.environ["GITHUB_STEP_SUMMARY"]).open("a").write(step_summary(records, ...))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._reports.audit import Audit
from pytest_hybrid_analytics._reports.coverage import Coverage
from pytest_hybrid_analytics._reports.records import RecordedTest

__all__ = ["step_summary"]

_MAX_LINES = 10


def step_summary(
    tests: Sequence[RecordedTest],
    *,
    audit: Audit | None = None,
    coverage: Coverage | None = None,
    report: Path | None = None,
) -> str:
    """A short Markdown summary of the run's analytics."""
    sides = Counter(e.source for t in tests for e in t.events)
    persons = sum(len(Identity(t.events).persons()) for t in tests)
    codes = Counter(f.code for t in tests for f in t.findings)
    failing = [t for t in tests if t.failed]
    lines = [
        "### PostHog analytics (pytest-hybrid-analytics)",
        "",
        f"- {plural(len(tests), 'test')} with analytics, {plural(len(failing), 'failure')}: "
        f"{sides['client']} client and {sides['server']} server events, "
        f"{plural(persons, 'person')} (counted per test)",
    ]
    if codes:
        shown = ", ".join(f"`{code}` ×{n}" for code, n in codes.most_common(_MAX_LINES))
        lines.append(f"- findings: {shown}")
    else:
        lines.append("- findings: none")
    for test in failing[:_MAX_LINES]:
        lines.append(f"  - failed: `{test.nodeid}`")
    if audit is not None:
        failed = [line for line in audit.lines if line.verdict == "fail"]
        if failed:
            lines.append(f"- audit: {plural(len(failed), 'line')} failed")
            lines += [f"  - FAIL {line.check}" for line in failed]
        else:
            counts = Counter(line.verdict for line in audit.lines)
            lines.append(
                f"- audit: {counts['pass']} pass, {counts['cannot judge']} cannot judge, no fail"
            )
    if coverage is not None and coverage.uncovered:
        lines.append(
            f"- tracking plan: {plural(len(coverage.never_seen), 'planned event')} never seen"
        )
    if report is not None:
        lines.append(f"- report: `{report}`")
    return mask_secrets("\n".join(lines)) + "\n"
