"""A regression run in CI: the tracking plan's coverage, the run's records as JSON Lines, the job
summary GitHub shows, the JUnit XML's properties, and one report from many workers and shards."""

from __future__ import annotations

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
    result = suite.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=3)
    root = ElementTree.parse(suite.path / "junit.xml").getroot()
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert properties["test_signup"] == {
        "analytics_client_events": "0",
        "analytics_server_events": "1",
        "analytics_persons": "1",
        "analytics_rejected": "0",
        "analytics_findings": "",
    }
    assert properties["test_no_analytics"] == {}
