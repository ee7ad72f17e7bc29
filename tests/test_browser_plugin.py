"""The browser road inside a user's own suite: pytest-playwright's options and fixtures, a page
on a public-looking origin, and the launch of a Chromium that exists on this machine.

Run in a subprocess: pytest-playwright keeps global state that cannot nest in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_hybrid_analytics.browser import CLOSED_NETWORK_ARGS, launch_options

DIST = Path(__file__).resolve().parent.parent / "fixtures" / "node_modules" / "posthog-js" / "dist"


def test_a_users_suite_with_its_own_context_args(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {DIST.parent}
        asyncio_default_fixture_loop_scope = function
    """)
    pytester.makeconftest("""
        import pytest

        @pytest.fixture(scope="session")
        def browser_context_args(browser_context_args):
            return {**browser_context_args, "locale": "de-DE", "viewport": {"width": 900,
                                                                             "height": 700}}
    """)
    pytester.makepyfile(f"""
        from pathlib import Path

        PAGE = '''<!doctype html><html><body><button id="go">Go</button>
        <script type="module">
        import posthog from "/posthog.js";
        posthog.init("phc_user_suite", {{api_host: "https://eu.i.posthog.com"}});
        document.getElementById("go").onclick = () => posthog.capture("went");
        </script></body></html>'''

        def test_shop(analytics, page, browser_name):
            assert browser_name == "chromium"
            module = (Path({str(DIST)!r}) / "module.js").read_bytes()
            page.route("http://shop.example/**", lambda route: route.fulfill(
                body=module if route.request.url.endswith(".js") else PAGE,
                content_type="text/javascript" if route.request.url.endswith(".js")
                else "text/html"))
            page.goto("http://shop.example/")
            pageview = analytics.wait_for("$pageview")[0]
            assert pageview.properties["$viewport_width"] == 900
            page.click("#go")
            assert analytics.wait_for("went")[0].transport == "browser"
            assert page.evaluate("navigator.language") == "de-DE"
    """)
    result = pytester.runpytest_subprocess("--browser", "chromium", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"hybrid-analytics: *posthog-js files: {DIST}, PII guard: client, *"]
    )


def test_launch_options_use_a_chromium_that_exists() -> None:
    chromium = launch_options({}, browser_name="chromium", bundled="/nonexistent/chrome")
    assert chromium["executable_path"].endswith("chromium")
    assert Path(chromium["executable_path"]).exists()
    assert set(CLOSED_NETWORK_ARGS) <= set(chromium["args"])
    mine = launch_options(
        {"executable_path": "/opt/my/chrome", "args": ["--foo"]},
        browser_name="chromium",
        bundled=None,
    )
    assert mine["executable_path"] == "/opt/my/chrome"
    assert mine["args"][0] == "--foo"
    configured = launch_options(
        {}, browser_name="chromium", bundled=None, configured="/usr/local/bin/chrome-for-testing"
    )
    assert configured["executable_path"] == "/usr/local/bin/chrome-for-testing"
    bundled = launch_options({}, browser_name="chromium", bundled=str(DIST / "array.js"))
    assert "executable_path" not in bundled
    assert launch_options({"slow_mo": 5}, browser_name="firefox", bundled=None) == {"slow_mo": 5}
    assert launch_options({"channel": "chrome"}, browser_name="chromium", bundled=None) == {
        "channel": "chrome"
    }
