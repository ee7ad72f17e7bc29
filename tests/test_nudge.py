"""A wait nudges the pages: posthog-js's own batch timer fires at once, so what a page holds
arrives while the test waits, sent as posthog-js always sends it; a timer the wait could not
have outlived is left alone.

The pages batch every 5 s (``analytics_flush_ms = 5000``, posthog-js's longest), so a 1 s wait
is not nudged and cannot see an event that waits for that timer; and of two pages, the one whose
test waits sends first although the other's timers were armed first. Run in subprocesses:
pytest-playwright keeps global state that cannot nest in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

DIST = Path(__file__).resolve().parent.parent / "fixtures" / "node_modules" / "posthog-js" / "dist"
WEB = DIST.parent.parent.parent / "web"

SUITE = f"""
import pytest
from pathlib import Path

WEB = Path({str(WEB)!r})
MODULES = Path({str(DIST.parent.parent)!r})
TWICE = '''<script>
document.getElementById("click").addEventListener("click", () => {{
  window.__hybridAnalytics.instances[0].capture("clicked_too");
}});
</script>'''
def serve(page, extra=""):
    def answer(route):
        path = route.request.url.split("shop.example", 1)[1].split("?")[0]
        if path.startswith("/node_modules/"):
            body = (MODULES / path.removeprefix("/node_modules/")).read_bytes()
            route.fulfill(body=body, content_type="text/javascript")
        else:
            html = (WEB / "click.html").read_text().replace("</body>", extra + "</body>")
            route.fulfill(body=html, content_type="text/html")
    page.route("http://shop.example/**", answer)
    page.goto("http://shop.example/click.html")
    page.wait_for_selector("text=ready")
    page.wait_for_function("window.__hybridAnalytics.instances.length > 0")


def test_events_of_one_click_leave_in_one_request_the_usual_way(analytics, page):
    serve(page, TWICE)
    page.click("#click")
    both = analytics.wait_for(lambda name: name.startswith("clicked"), count=2, timeout=8)
    # one request (one arrival), to the endpoint and in the encoding of the page's batches
    assert len({{e.received_at for e in both}}) == 1, both
    pageview = analytics.find("$pageview")
    assert pageview, analytics.timeline()
    assert {{(e.encoding, e.transport) for e in both}} == {{
        (pageview[0].encoding, pageview[0].transport)
    }}
    assert {{e.endpoint for e in both}} <= {{"/e/", "/i/v0/e/"}}


def test_a_wait_shorter_than_the_batch_is_not_nudged(analytics, page):
    serve(page)
    page.click("#click")
    with pytest.raises(AssertionError, match="clicked"):
        analytics.wait_for("clicked", timeout=1)
    analytics.flush()
    assert len(analytics.find("clicked")) == 1


def test_the_nudge_ends_with_the_wait(analytics, page):
    serve(page)
    page.click("#click")
    analytics.wait_for("clicked", timeout=8)
    page.click("#click")
    # the batch timer decides again: 5 s, longer than this wait
    with pytest.raises(AssertionError, match="clicked"):
        analytics.wait_for("clicked", count=2, timeout=1)
    analytics.flush()
    assert len(analytics.find("clicked")) == 2
"""


def test_waits_nudge_the_pages_batch_timer(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {DIST.parent}
        analytics_flush_ms = 5000
        asyncio_default_fixture_loop_scope = function
    """)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3)


TWO_TESTS = f"""
import pytest
from pathlib import Path
from playwright.sync_api import expect

from pytest_hybrid_analytics._roads.chromium import launch_options
from pytest_hybrid_analytics._roads.harness import Harness

WEB = Path({str(WEB)!r})
MODULES = Path({str(DIST.parent.parent)!r})
DIST = Path({str(DIST)!r})


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_type):
    return launch_options(
        browser_type_launch_args, browser_name=browser_type.name,
        bundled=browser_type.executable_path,
    )


def open_page(browser, analytics):
    context = browser.new_context()
    analytics.attach(context)
    page = context.new_page()

    def answer(route):
        path = route.request.url.split("shop.example", 1)[1].split("?")[0]
        if path.startswith("/node_modules/"):
            body = (MODULES / path.removeprefix("/node_modules/")).read_bytes()
            route.fulfill(body=body, content_type="text/javascript")
        else:
            route.fulfill(body=(WEB / "click.html").read_bytes(), content_type="text/html")

    page.route("http://shop.example/**", answer)
    page.goto("http://shop.example/click.html")
    expect(page.locator("#status")).to_have_text("ready")
    return context, page


def test_the_waiting_tests_page_sends_first(browser):
    with Harness(posthog_js=DIST, flush_ms=5000) as harness:
        held, waiting = harness.begin(), harness.begin()
        held_context, held_page = open_page(browser, held)  # its batch timers are armed first
        waiting_context, waiting_page = open_page(browser, waiting)
        held_page.click("#click")
        waiting_page.click("#click")
        waiting.wait_for("clicked", timeout=8)
        # Left to their timers, the held page would have sent first; the wait nudged only the
        # page of the test that waits.
        assert held.find("clicked") == [], held.timeline()
        held.flush()
        assert len(held.find("clicked")) == 1
        for context in (held_context, waiting_context):
            context.close()
        harness.end(held)
        harness.end(waiting)
"""


def test_a_wait_nudges_only_its_own_pages(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        addopts = -p no:cacheprovider -p no:hybrid_analytics
        asyncio_default_fixture_loop_scope = function
    """)
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
