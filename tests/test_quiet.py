"""Installing the plugin adds no warning to a user's run: not its own, not its dependencies'."""

from __future__ import annotations

import pytest


def test_a_users_browser_suite_runs_without_a_warning(pytester: pytest.Pytester) -> None:
    # A user with no pytest-asyncio of their own (the plugin no longer depends on it).
    pytester.makeini("""
        [pytest]
        addopts = -p no:cacheprovider -p no:asyncio
    """)
    pytester.makepyfile("""
        def test_page(analytics, page):
            page.set_content("<p>hello</p>")
            assert page.inner_text("p") == "hello"
            assert analytics.events == []
    """)
    result = pytester.runpytest_subprocess("-p", "hybrid_analytics", "--browser", "chromium")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*warnings summary*")
    result.stdout.no_fnmatch_line("*Warning*")
