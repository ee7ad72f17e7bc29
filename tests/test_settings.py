"""Settings that name something that is not there stop the run with a usage error that says
what to give instead, whether they come from the ini file or the environment."""

from __future__ import annotations

import pytest
from support import INNER_INI


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    pytester.makepyfile("def test_x(): pass")
    return pytester


def test_a_posthog_js_folder_with_no_posthog_js_is_a_usage_error(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_ANALYTICS_POSTHOG_JS", str(inner.path / "nowhere"))
    result = inner.runpytest_subprocess("-p", "hybrid_analytics")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*analytics_posthog_js (or HYBRID_ANALYTICS_POSTHOG_JS) names '*nowhere', which holds "
            "no posthog-js: give the posthog-js package folder (the one with dist/array.js, e.g. "
            "node_modules/posthog-js), or unset it*"
        ]
    )


def test_a_chromium_that_does_not_exist_is_a_usage_error(inner: pytest.Pytester) -> None:
    inner.makeini(INNER_INI + "    analytics_chromium = /opt/no/such/chrome\n")
    result = inner.runpytest_subprocess("-p", "hybrid_analytics")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*analytics_chromium (or HYBRID_ANALYTICS_CHROMIUM) names '/opt/no/such/chrome', which*"]
    )


def test_a_chromium_on_the_path_by_name_is_accepted(inner: pytest.Pytester) -> None:
    inner.makeini(INNER_INI + "    analytics_chromium = chromium\n")
    inner.runpytest_subprocess("-p", "hybrid_analytics").assert_outcomes(passed=1)
