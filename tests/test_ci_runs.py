"""A regression run in CI: the tracking plan's coverage, the run's records as JSON Lines, the job
summary GitHub shows, the JUnit XML's properties, and one report from many workers and shards."""

from __future__ import annotations

import difflib
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from support import INNER_INI

from pytest_hybrid_analytics._reports.records import load_run_lines

PLAN = """
events:
  signed_up:
    source: server
    properties: {plan: string}
  checkout_started:
    source: client
  refund_issued:
    source: server
"""

#: A suite whose tests send events through the fake API (server SDK shapes: the collector's
#: and the requests road's work is proven elsewhere).
SUITE = """
import json


def send(analytics, event, distinct_id, lib="posthog-python", **properties):
    body = {"api_key": "phc_k", "batch": [
        {"event": event, "distinct_id": distinct_id, "properties": {"$lib": lib, **properties}}
    ]}
    assert analytics.api.handle("POST", "/batch/", {}, json.dumps(body)).status == 200


def test_signup(analytics):
    send(analytics, "signed_up", "u1", plan="pro")


def test_checkout_from_the_server(analytics):
    send(analytics, "checkout_started", "u2")


def test_no_analytics():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    pytester.makefile(".yaml", plan=PLAN)
    pytester.makepyfile(test_shop=SUITE)
    return pytester


def test_plan_coverage_lists_what_no_test_saw_and_can_fail_the_run(suite: pytest.Pytester) -> None:
    # allow_plan: the wrong side is reported by coverage here, not by the per-test plan check.
    suite.makeconftest(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.analytics(allow_plan=True))\n"
    )
    result = suite.runpytest("--analytics-tracking-plan=plan.yaml")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*= tracking plan coverage =*",
            "Tracking plan coverage: 1 of 3 planned events seen from a side the plan allows",
            "  never seen: 'refund_issued' (server)",
            "  only from the wrong side: 'checkout_started' sent by the server, planned for the "
            "client",
        ]
    )
    failing = suite.runpytest(
        "--analytics-tracking-plan=plan.yaml", "--analytics-plan-coverage=fail"
    )
    failing.assert_outcomes(passed=3)
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines(["hybrid-analytics: --analytics-plan-coverage=fail: the run *"])


def test_a_covered_plan_prints_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makefile(".yaml", plan="events:\n  signed_up:\n    source: server\n")
    pytester.makepyfile(test_shop=SUITE.split("def test_checkout")[0])
    result = pytester.runpytest(
        "--analytics-tracking-plan=plan.yaml", "--analytics-plan-coverage=fail"
    )
    assert result.ret == 0
    assert "tracking plan coverage" not in result.stdout.str()


def test_the_runs_records_as_json_lines(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--analytics-jsonl=out/run.jsonl")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["hybrid-analytics: records written to out/run.jsonl"])
    tests, _ = load_run_lines(Path(suite.path, "out/run.jsonl").read_text())
    assert [(t.nodeid, t.outcome, [e.event for e in t.events]) for t in tests] == [
        ("test_shop.py::test_signup", "passed", ["signed_up"]),
        ("test_shop.py::test_checkout_from_the_server", "passed", ["checkout_started"]),
    ]


def test_the_github_job_summary(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = suite.path / "summary.md"
    summary.write_text("earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = suite.runpytest("--analytics-report=out")
    result.assert_outcomes(passed=3)
    text = summary.read_text()
    assert text.startswith("earlier steps\n### PostHog analytics (pytest-hybrid-analytics)\n")
    assert "- 2 tests with analytics, 0 failures: 0 client and 2 server events, 2 persons" in text
    assert "- audit: " in text
    assert "- report: `out/analytics-report.html`" in text


def test_the_junit_xml_carries_each_tests_counts_and_findings(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--junitxml=junit.xml", "--analytics-summary")
    result.assert_outcomes(passed=3)
    # The terminal's per-test summary says the same in words, not as these properties.
    result.stdout.fnmatch_lines(["test_shop.py::test_signup: 1 event (1 server), 1 person"])
    assert "analytics_client_events" not in result.stdout.str()
    root = ElementTree.parse(suite.path / "junit.xml").getroot()
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert properties["test_signup"].pop("hybrid_analytics_summary").startswith("1 event")
    assert properties["test_signup"] == {
        "analytics_client_events": "0",
        "analytics_server_events": "1",
        "analytics_persons": "1",
        "analytics_rejected": "0",
        "analytics_findings": "",
    }
    assert properties["test_no_analytics"] == {}


SHARD_A = """
import json

def send(analytics, uuid, event, distinct_id, lib, **properties):
    props = {"$lib": lib, **properties}
    if lib == "web":
        props["distinct_id"] = distinct_id
    body = {"api_key": "phc_k", "batch": [{"event": event, "uuid": uuid,
            "timestamp": "2026-03-01T12:00:0%dZ" % len(uuid), "distinct_id": distinct_id,
            "properties": props}]}
    assert analytics.api.handle("POST", "/batch/", {}, json.dumps(body)).status == 200

def test_browse(analytics):
    send(analytics, "a1", "$pageview", "anon-1", "web")
    send(analytics, "a22", "signed_up", "anon-1", "posthog-python", plan="pro")
"""
SHARD_B = (
    SHARD_A.split("def test_browse")[0]
    + """
def test_buy(analytics):
    send(analytics, "b1", "purchase_completed", "user-2", "posthog-python", amount=9.5)
    send(analytics, "b22", "purchase_completed", "user-2", "web", amount=9.5)
"""
)


def _sections(html: str) -> list[str]:
    """Each test's section of a report, in a stable order, without what differs between runs
    of the same tests (when it was generated, when each event arrived)."""
    body = re.sub(r"generated [^<]*", "", html)
    body = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", "<time>", body)
    return sorted(re.findall(r"<section class='test card.*?</section>", body, re.DOTALL))


def _audit(output: str) -> str:
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Analytics audit:"))
    end = next(n for n, line in enumerate(lines[start:], start) if " cannot judge." in line)
    return "\n".join(lines[start : end + 1])


def test_one_report_whether_plain_on_two_workers_or_in_two_shards_merged(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_a=SHARD_A, test_b=SHARD_B)
    outputs = {"plain": [], "xdist": ["-n", "2"]}
    audits, reports = {}, {}
    for name, extra in outputs.items():
        result = pytester.runpytest_subprocess(
            *extra, "-p", "no:randomly", "--analytics-audit", f"--analytics-report={name}"
        )
        result.assert_outcomes(passed=2)
        audits[name] = _audit(result.stdout.str())
        reports[name] = _sections(Path(pytester.path, name, "analytics-report.html").read_text())
    for shard in ("a", "b"):
        result = pytester.runpytest_subprocess(
            f"test_{shard}.py", f"--analytics-jsonl={shard}.jsonl"
        )
        result.assert_outcomes(passed=1)
    merged = pytester.run(
        sys.executable,
        "-m",
        "pytest_hybrid_analytics.cli",
        "report",
        "a.jsonl",
        "b.jsonl",
        "--html",
        "merged/analytics-report.html",
        "--audit",
    )
    # The purchase tracked on both sides fails the audit's duplicates line: exit status 1.
    assert merged.ret == 1, merged.stderr.str()
    audits["shards"] = _audit(merged.stdout.str())
    reports["shards"] = _sections(Path(pytester.path, "merged/analytics-report.html").read_text())
    assert audits["plain"].startswith(
        "Analytics audit: the guide's Validation Checklist, judged from 2 tests and 4 events"
    )
    assert "  FAIL          No duplicate events tracked" in audits["plain"]
    assert audits["xdist"] == audits["plain"]
    assert audits["shards"] == audits["plain"]
    assert len(reports["plain"]) == 2
    _same(reports["xdist"], reports["plain"])
    _same(reports["shards"], reports["plain"])


def _same(these: list[str], those: list[str]) -> None:
    """The same sections; else the first difference, tag by tag."""
    for one, other in zip(these, those, strict=True):
        if one != other:
            diff = difflib.unified_diff(one.split("><"), other.split("><"), lineterm="", n=1)
            raise AssertionError("\n".join(list(diff)[:40]))
