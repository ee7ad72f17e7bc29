"""The browser road inside a user's own suite: pytest-playwright's options and fixtures, a page
on a public-looking origin, and the launch of a Chromium that exists on this machine.

Run in a subprocess: pytest-playwright keeps global state that cannot nest in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_hybrid_analytics._roads.chromium import CLOSED_NETWORK_ARGS, launch_options

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


def test_flush_sends_what_posthog_js_holds_and_the_last_events_land_in_their_test(
    pytester: pytest.Pytester,
) -> None:
    # With a 5 s batch, only a real flush gets events in within the 2 s the test allows; and
    # the click that ends the second test is only recorded if the harness flushes the page
    # before pytest-playwright closes the context.
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {DIST.parent}
        analytics_flush_ms = 5000
        asyncio_default_fixture_loop_scope = function
    """)
    web = DIST.parent.parent.parent / "web"
    pytester.makepyfile(f"""
        from pathlib import Path

        WEB = Path({str(web)!r})
        MODULES = Path({str(DIST.parent.parent)!r})

        def serve(page):
            def answer(route):
                path = route.request.url.split("shop.example", 1)[1].split("?")[0]
                if path.startswith("/node_modules/"):
                    body = (MODULES / path.removeprefix("/node_modules/")).read_bytes()
                    route.fulfill(body=body, content_type="text/javascript")
                else:
                    route.fulfill(body=(WEB / "click.html").read_bytes(),
                                  content_type="text/html")
            page.route("http://shop.example/**", answer)
            page.goto("http://shop.example/click.html")
            page.wait_for_selector("text=ready")

        def test_flush(analytics, page):
            serve(page)
            page.click("#click")
            analytics.flush(timeout=2)
            assert [e.event for e in analytics.find("clicked")] == ["clicked"]

        def test_ends_with_a_click(analytics, page):
            serve(page)
            page.click("#click")
    """)
    result = pytester.runpytest_subprocess("--analytics-summary")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_ends_with_a_click*: * events (* client), 0 persons (* events with no person)",
            "  client: *clicked*",
        ]
    )
