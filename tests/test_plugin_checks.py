"""The checks every test meets at teardown (PII guard, tracking plan), the run-wide HTML report
and audit, and the diagnostics a failing test shows: the plugin's wiring, through pytester."""

from __future__ import annotations

import re

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
            "    Next step: fix the event or the plan, or let this test through with "
            "@pytest.mark.analytics(allow_plan=[[]'wrong-source', 'wrong-type'[]]) (README, "
            "'Tracking plan').",
        ]
    )


def test_the_plan_hint_names_the_codes_found(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        BATCH = ('{"api_key": "k", "batch": [{"event": "purchase_completed", "distinct_id": "u", '
                 '"properties": {"amount": "12", "$lib": "posthog-python"}}]}')

        def test_wrong_type(analytics):
            analytics.api.handle("POST", "/batch/", {}, BATCH)
    """)
    result = suite.runpytest("--analytics-tracking-plan=plan.yaml")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: The tracking plan was broken (1):",
            "      [[]wrong-type[]] 'purchase_completed' (server) property 'amount' is string "
            "'12'; the plan says number",
            "    Next step: fix the event or the plan, or let this test through with "
            "@pytest.mark.analytics(allow_plan=[[]'wrong-type'[]]) (README, 'Tracking plan').",
        ],
        consecutive=True,
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


OUTCOMES_SUITE = """
    import re

    import pytest
    from posthog import Posthog

    # A long-lived client, as a web app keeps one (created at import, never shut down).
    CLIENT = Posthog("phc_project", sync_mode=True)

    def test_passes(analytics):
        CLIENT.capture("subscription_started", distinct_id="u1", properties={"plan": "pro"})
        analytics.wait_for("subscription_started", source="server")

    def test_skipped_inside(analytics):
        pytest.skip("no payment provider in CI")

    @pytest.mark.skip(reason="flaky upstream")
    def test_skipped_by_marker(analytics):
        pass

    @pytest.mark.xfail(reason="known bug 12")
    def test_xfails(analytics):
        assert analytics.find("refund_issued"), "no refund tracked"

    @pytest.mark.xfail(reason="fixed since")
    def test_xpasses(analytics):
        pass

    def test_fails(analytics):
        assert analytics.find("order_created"), "the checkout broke"

    def test_without_analytics():
        pass
"""


def sections(html: str) -> dict[str, str]:
    """Each test's section of the report, by node id."""
    found = re.findall(
        r"<section class='test card (\w+)' id='t\d+'>(.*?)</section>", html, flags=re.S
    )
    return {
        re.search(r"<code class='nodeid'>(.*?)</code>", body).group(1): f"{outcome} {body}"  # type: ignore[union-attr]
        for outcome, body in found
    }


def test_the_report_shows_every_outcome_and_counts_only_tests(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_outcomes=OUTCOMES_SUITE)
    result = suite.runpytest("--analytics-report=out", "--analytics-audit")
    result.assert_outcomes(passed=2, failed=1, skipped=2, xfailed=1, xpassed=1)
    html = (suite.path / "out" / "analytics-report.html").read_text()
    summary = re.search(r"<p class=\"summary\">(.*?) · generated", html).group(1)  # type: ignore[union-attr]
    assert summary == (
        "6 tests · <b class='bad'>1 failed</b> · 2 skipped · 1 xfailed · 1 xpassed · 1 event "
        "(0 client, 1 server) · 0 findings"
    )
    tests = sections(html)
    assert [(nodeid, body.split()[0]) for nodeid, body in tests.items()] == [
        ("test_outcomes.py::test_fails", "failed"),  # failing tests first
        ("test_outcomes.py::test_passes", "passed"),
        ("test_outcomes.py::test_skipped_inside", "skipped"),
        ("test_outcomes.py::test_skipped_by_marker", "skipped"),
        ("test_outcomes.py::test_xfails", "xfailed"),
        ("test_outcomes.py::test_xpasses", "xpassed"),
    ]
    assert "AssertionError: the checkout broke" in tests["test_outcomes.py::test_fails"]
    assert (
        "<span class='reason skipped'><b>Skipped:</b> no payment provider in CI</span>"
        in tests["test_outcomes.py::test_skipped_inside"]
    )
    assert (
        "<span class='reason skipped'><b>Skipped:</b> flaky upstream</span>"
        in tests["test_outcomes.py::test_skipped_by_marker"]
    )
    xfailed = tests["test_outcomes.py::test_xfails"]
    assert "<span class='reason xfailed'><b>Expected to fail:</b> known bug 12</span>" in xfailed
    assert "<summary>The expected failure</summary>" in xfailed
    assert "AssertionError: no refund tracked" in xfailed
    assert (
        "<span class='reason xpassed'><b>Passed, though expected to fail:</b> fixed since</span>"
        in tests["test_outcomes.py::test_xpasses"]
    )
    # The client the suite kept alive is a note of the session's end, not a test.
    assert "&lt;session end&gt;" not in html
    session = re.search(r"<section class='card session' id='session-end'>(.*?)</section>", html)
    assert session is not None
    assert re.fullmatch(
        r"<h3>SDK lifecycle at session end <span class='muted'>\(1\)</span></h3><ul><li>posthog "
        r"client created at test_outcomes\.py:\d+: never shut down .*</li></ul>",
        session.group(1),
    )
    result.stdout.fnmatch_lines(
        [
            "Analytics audit: the guide's Validation Checklist, judged from 6 tests and 1 event",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "  PASS          Critical events tracked server-side for reliability",
            "                tracked by the server: 'subscription_started'",
            "  CANNOT JUDGE  Server-side SDK shutdown on process exit",
            "                the tests' process kept 1 posthog client running (created at "
            "test_outcomes.py:*), as a web app keeps a long-lived one, and none lost an event: "
            "whether the app shuts it down on process exit (atexit) cannot be seen from the tests",
        ],
        consecutive=True,
    )
    assert result.stdout.str().count("Analytics audit:") == 1
