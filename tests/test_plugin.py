"""The pytest plugin, run in a fresh inner session through ``pytester``."""

from __future__ import annotations

import faker  # noqa: F401  (imported once here: pytester forgets modules an inner run imports)
import hypothesis  # noqa: F401
import pytest
from support import INNER_INI

BATCH = '{"api_key": "phc_k", "batch": [{"event": "paid", "distinct_id": "u1"}]}'


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(f"BATCH = {BATCH!r}\n")
    # pytest-playwright keeps a global soft-assertion scope that cannot nest in-process; the
    # browser road's own tests run it in a subprocess.
    pytester.makeini(INNER_INI)
    return pytester


def test_the_fixture_records_and_each_test_gets_a_fresh_recorder(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from conftest import BATCH
        from pytest_hybrid_analytics import Analytics

        def test_one(analytics):
            assert isinstance(analytics, Analytics)
            assert analytics.api.handle("POST", "/batch/", {}, BATCH).status == 200
            assert analytics.wait_for("paid", source="server")[0].distinct_id == "u1"

        def test_two(analytics):
            assert analytics.events == []
    """)
    suite.runpytest().assert_outcomes(passed=2)


def test_rejected_requests_fail_the_test_at_teardown(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        def test_bad_body(analytics):
            analytics.api.handle("POST", "/e/", {}, b"\\x1f\\x8bjunk", transport="browser")
    """)
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_bad_body*"])
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: 1 PostHog request was rejected during the test; the events in it "
            "are not on the timeline.",
            "    Rejected requests (1):",
            "      *  POST /e/  (6 bytes, browser): the body is not valid gzip (*",
            "    Next step: fix what each reason names, or mark the test "
            "@pytest.mark.analytics(allow_rejected=True) if bad input is what it tests "
            "(README, 'Rejected requests').",
        ],
        consecutive=True,
    )


def test_the_marker_allows_rejected_requests(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest

        @pytest.mark.analytics(allow_rejected=True)
        def test_bad_body_on_purpose(analytics):
            analytics.api.handle("POST", "/e/", {}, b"not json")
            assert analytics.rejected[0].reason.startswith("the body is neither JSON")
    """)
    suite.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "@pytest.mark.analytics(allow_rejcted=True)",
            "*TypeError: @pytest.mark.analytics got unknown keyword allow_rejcted; it takes "
            "allow_baseline, allow_pii, allow_plan, allow_rejected, allow_warnings",
        ),
        (
            "@pytest.mark.analytics(True)",
            "*TypeError: @pytest.mark.analytics takes keyword arguments only, "
            "got positional (True,)",
        ),
    ],
)
def test_a_wrong_marker_is_an_error_at_once(
    suite: pytest.Pytester, marker: str, message: str
) -> None:
    suite.makepyfile(f"""
        import pytest

        {marker}
        def test_x(analytics):
            pass
    """)
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_a_failing_test_shows_the_timeline_and_no_second_error(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from conftest import BATCH

        def test_fails(analytics):
            analytics.api.handle("POST", "/batch/", {}, BATCH)
            analytics.api.handle("POST", "/batch/", {}, b"garbage")
            assert analytics.find("refund"), "no refund"
    """)
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Analytics events -*",
            "Captured timeline (1 event, 1 person):",
            "  time          source  event  distinct_id  person",
            "  *  server  paid   u1           P1",
            "Persons:",
            "  P1 = u1",
            "Rejected requests (1):",
            "  *  POST /batch/  (7 bytes, unknown road): the body is neither JSON, gzip nor*",
        ],
        consecutive=True,
    )
    assert "ERROR at teardown" not in result.stdout.str()


def test_a_wait_for_failure_names_the_query_in_the_test_output(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        def test_waits(analytics):
            analytics.wait_for("purchase_completed", source="server", timeout=0.01)
    """)
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: wait_for('purchase_completed', source='server'): expected 1 "
            "matching event within 0.01 s, 0 arrived.",
            "E * Captured timeline (0 events, 0 persons):",
            "E *   (no events were recorded)",
            "E * Next step: no PostHog request reached the recorder.*",
        ],
        consecutive=True,
    )
    assert "recorder.py" not in result.stdout.str()


def test_the_factory_fixture_is_seeded_per_test(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from pytest_hybrid_analytics import AnalyticsFactory

        SEEN = []

        def test_a(analytics_factory, request):
            SEEN.append(analytics_factory.user())
            assert SEEN[0] == AnalyticsFactory(seed=request.node.nodeid).user()

        def test_a_again(analytics_factory):
            SEEN.append(analytics_factory.user())
            assert SEEN[0] != SEEN[1]

        def test_builds_requests(analytics, analytics_factory):
            user = analytics_factory.user()
            assert "@" in user.email and user.user_id.startswith("user_")
            raw = analytics_factory.server_event("paid", distinct_id=user.user_id)
            request = analytics_factory.request([raw], sdk="node")
            assert request.headers["Content-Encoding"] == "gzip"
            analytics.api.handle("POST", request.url, request.headers, request.body)
            assert analytics.wait_for("paid")[0].distinct_id == user.user_id
    """)
    suite.runpytest().assert_outcomes(passed=3)


def test_the_marker_is_registered(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.analytics([*], allow_rejected=False, allow_pii=False, allow_plan=False, "
            "allow_warnings=False, allow_baseline=False): *"
        ]
    )
