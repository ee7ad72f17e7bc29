"""The checks every test meets at teardown (PII guard, tracking plan), the run-wide HTML report
and audit, and the diagnostics a failing test shows: the plugin's wiring, through pytester."""

from __future__ import annotations

import faker  # noqa: F401  (imported once here: pytester forgets modules an inner run imports)
import hypothesis  # noqa: F401
import pytest
from support import INNER_INI

CARD_EVENT = (
    '{"event": "payment_submitted", "properties": {"distinct_id": "anon", "$lib": "web", '
    '"token": "phc_abcdefghijklmnop", "card_number": "4242 4242 4242 4242"}}'
)
PLAN = """
allow_unplanned: false
events:
  purchase_completed:
    kind: payment
    properties:
      amount: number
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(f"CARD_EVENT = {CARD_EVENT!r}\n")
    pytester.makefile(".yaml", plan=PLAN)
    pytester.makeini(INNER_INI)
    return pytester


def test_sensitive_client_data_fails_the_test_at_teardown(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest
        from conftest import CARD_EVENT

        def test_card(analytics):
            analytics.api.handle("POST", "/i/v0/e/", {}, CARD_EVENT)

        @pytest.mark.analytics(allow_pii=["card_number"])
        def test_card_allowed(analytics):
            analytics.api.handle("POST", "/i/v0/e/", {}, CARD_EVENT)
    """)
    result = suite.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_card *",
            "E   AssertionError: Sensitive data in client events (1):",
            "      [[]card-number[]] 'payment_submitted' (client) property 'card_number': a card "
            "number (Visa, 16 digits, Luhn-valid): '**** **** **** 4242'",
            "    Next step: keep card numbers, passwords and tokens on the server*",
        ]
    )
    assert "4242 4242 4242 4242" not in result.stdout.str()


def test_the_guard_can_watch_both_sides_or_none(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from conftest import CARD_EVENT

        def test_card(analytics):
            analytics.api.handle("POST", "/i/v0/e/", {}, CARD_EVENT)
    """)
    suite.runpytest("-o", "analytics_pii=off").assert_outcomes(passed=1)
    result = suite.runpytest("-o", "analytics_pii=sometimes")
    result.stderr.fnmatch_lines(
        ["ERROR: analytics_pii must be one of client, server, both, off, got 'sometimes'"]
    )


def test_the_tracking_plan_fails_what_breaks_it(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest

        BATCH = ('{"api_key": "k", "batch": [{"event": "purchase_completed", "distinct_id": "u", '
                 '"properties": {"amount": "12", "$lib": "web"}}]}')

        def test_wrong(analytics):
            analytics.api.handle("POST", "/batch/", {}, BATCH)

        @pytest.mark.analytics(allow_plan=["wrong-source", "wrong-type"])
        def test_allowed(analytics):
            analytics.api.handle("POST", "/batch/", {}, BATCH)
    """)
    result = suite.runpytest("--analytics-tracking-plan=plan.yaml")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: *PII guard: client, tracking plan: */plan.yaml",
            "E   AssertionError: The tracking plan was broken (2):",
            "      [[]wrong-source[]] *",
            "      [[]wrong-type[]] *",
            "    Next step: fix the event or the plan*",
        ]
    )


def test_a_broken_plan_file_stops_the_run(suite: pytest.Pytester) -> None:
    suite.makefile(".yaml", broken="events: [1, 2")
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest("--analytics-tracking-plan=broken.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: tracking plan */broken.yaml*"])


def test_the_html_report_and_the_audit(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import requests
        from posthog import Posthog

        def test_server(analytics):
            client = Posthog("phc_project", sync_mode=True)
            client.capture("purchase_completed", distinct_id="u1", properties={"amount": 1})
            client.shutdown()
            analytics.wait_for("purchase_completed")

        def test_fails(analytics):
            analytics.api.handle("POST", "/batch/", {}, '{"batch": [{"event": "late", '
                                 '"distinct_id": "u", "timestamp": "2020-01-01T00:00:00"}]}')
            assert analytics.find("never")
    """)
    result = suite.runpytest("--analytics-report=out", "--analytics-audit")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Analytics diagnostics -*",
            "[[]timestamp-without-zone[]] 'late' (server) was sent with the timestamp*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= analytics audit =*",
            "Analytics audit*",
            "*Server-side SDK initialized in application*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: HTML report written to *out/analytics-report.html"]
    )
    html = (suite.path / "out" / "analytics-report.html").read_text()
    assert "test_fails" in html
    assert html.index("test_fails") < html.index("test_server")  # failing tests first
    assert "phc_project" not in html
