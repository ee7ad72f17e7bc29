"""The HTML report, opened from disk in the real Chromium: lanes, marks, properties, order.

The browser is pytest-playwright's session ``browser`` (the plugin launches the system's
Chromium with the closed-network flags; one sync Playwright per session, as its API requires).
The page is opened with ``file://`` in a fresh context and every request it makes is recorded,
so a fetch to anywhere else fails the test. A screenshot of the report is saved in the test's
temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from support import T0, MakeEvent, make_event, replay

from pytest_hybrid_analytics import ClientNote, PiiGuard, RejectedRequest, TrackingPlan
from pytest_hybrid_analytics._checks.diagnostics import diagnose
from pytest_hybrid_analytics._reports.audit import audit
from pytest_hybrid_analytics._reports.html import MAX_MARKS, REPORT_NAME, render_html, write_report
from pytest_hybrid_analytics._reports.records import RecordedTest

PAYLOADS = Path(__file__).parent / "payloads"
KEY = "phc_4f9a7c2e81b3d6a5f0e9d8c7"
FAILED = "tests/test_shop.py::test_checkout_is_tracked_once"


def the_run() -> list[RecordedTest]:
    """A passing test of real posthog-js traffic, then the checkout that went wrong."""
    ev: MakeEvent = make_event
    checkout = [
        ev("$pageview", "anon-7", at=0, token=KEY, **{"$current_url": "https://shop.test/"}),
        ev("checkout_button_clicked", "anon-7", at=1.2, cart_total=99.99, item_count=3),
        ev("checkout_submitted", "anon-7", at=2, card="4242 4242 4242 4242", password="hunter2"),
        ev("$identify", "user-42", at=2.5, **{"$anon_distinct_id": "anon-7"}),
        ev("purchase_completed", "user-42", source="server", at=3.1, amount="99.99"),
        ev("purchase_completed", "user-42", at=3.3, amount="99.99"),
        ev("<img src=x onerror=alert(1)>", "db-9", source="server", at=9, note="</script><b>"),
    ]
    rejected = [
        RejectedRequest(
            "POST",
            "http://127.0.0.1:5000/t/abc/e/",
            {},
            b"\x1f\x8bjunk",
            "the body is not valid gzip",
            "collector",
            400,
            received_at=T0 + timedelta(seconds=4),
        )
    ]
    notes = [ClientNote("app/analytics.py:12", "2 queued events flushed at teardown", 2)]
    plan = TrackingPlan.from_dict(
        {"allow_unplanned": True, "events": {"purchase_completed": {"kind": "payment"}}}
    )
    findings = [
        *PiiGuard().check(checkout),
        *plan.check(checkout),
        *diagnose(checkout, notes=notes),
    ]
    return [
        RecordedTest(
            "tests/test_real.py::test_identify_flow",
            "passed",
            events=replay("posthog-js-identify").events,
        ),
        RecordedTest("tests/test_home.py::test_static", "passed"),
        RecordedTest(
            FAILED,
            "failed",
            events=checkout,
            rejected=rejected,
            notes=notes,
            findings=findings,
            message=f"AssertionError: Expected no duplicate events; key {KEY}",
        ),
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = the_run()
    return write_report(run, tmp_path_factory.mktemp("report"), audit=audit(run))


@pytest.fixture
def report_page(browser: Browser, report: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text))
    page.goto(report.as_uri())
    yield page
    context.close()
    assert requests == [report.as_uri()], "the report must not fetch anything"
    assert problems == []


def texts(page: Page, selector: str) -> list[str]:
    return [(text or "").strip() for text in page.locator(selector).all_text_contents()]


def shown(page: Page, selector: str) -> list[str]:
    """What a reader sees of each match (CSS text-transform and line breaks applied)."""
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_the_report_is_one_file_in_the_directory(report: Path) -> None:
    assert report.name == REPORT_NAME
    assert sorted(p.name for p in report.parent.iterdir()) == [REPORT_NAME]
    html = report.read_text()
    for secret in (KEY, "hunter2", "4242 4242 4242 4242", "4242424242424242"):
        assert secret not in html
    assert "<script src" not in html
    assert '<link rel="stylesheet"' not in html


def test_failing_tests_come_first(report_page: Page) -> None:
    page = report_page
    assert texts(page, "section.test .nodeid") == [
        FAILED,
        "tests/test_real.py::test_identify_flow",
        "tests/test_home.py::test_static",
    ]
    assert shown(page, ".toc .badge") == ["FAILED", "PASSED", "PASSED"]
    assert page.locator("section.test.failed > details").get_attribute("open") == ""
    assert page.locator("#t2 > details").get_attribute("open") is None


def test_lanes_and_marks_with_name_time_and_distinct_id(report_page: Page) -> None:
    page = report_page
    assert shown(page, "#t0 .lane span") == ["CLIENT", "SERVER", "REJECTED"]
    client = texts(page, "#t0 .mark.client .name")
    server = texts(page, "#t0 .mark.server .name")
    assert client == [
        "$pageview",
        "checkout_button_clicked",
        "checkout_submitted",
        "$identify",
        "purchase_completed",
    ]
    assert server == ["purchase_completed", "<img src=x onerror=alert(1)>"]
    assert texts(page, "#t0 .mark.client .time") == [
        "12:00:00.000",
        "12:00:01.200",
        "12:00:02.000",
        "12:00:02.500",
        "12:00:03.300",
    ]
    assert texts(page, "#t0 .mark.server .who") == ["P1 user-42", "P2 db-9"]
    assert texts(page, "#t0 .people .person") == ["P1 anon-7, user-42", "P2 db-9"]
    assert page.locator("img").count() == 0  # the event name stayed text


def test_marks_are_coloured_by_person(report_page: Page) -> None:
    page = report_page
    colours = page.locator("#t0 .mark.client, #t0 .mark.server").evaluate_all(
        "marks => marks.map(m => getComputedStyle(m).borderLeftColor)"
    )
    assert len(set(colours[:6])) == 1  # anon-7 and user-42 are one person
    assert colours[6] != colours[0]


def test_merges_duplicates_and_rejected_requests_are_drawn(report_page: Page) -> None:
    page = report_page
    assert texts(page, "#t0 .merge-label") == ["anon-7 → user-42"]
    assert page.locator("#t0 line.merge").count() == 1
    assert page.locator("#t0 path.merge-link").count() == 1
    assert texts(page, "#t0 .mark.dup .name") == ["purchase_completed", "purchase_completed"]
    assert shown(page, "#t0 .mark.rejected") == ["✖ rejected 400\n12:00:04.000\nPOST /t/abc/e/"]
    assert texts(page, "#t1 .merge-label") == ["01a22572-2ca6… → user-42", "alias-42 → user-42"]
    assert texts(page, "#t0 .gap") == ["+1.2 s", "+5 s"]


def test_a_click_shows_the_properties_masked(report_page: Page) -> None:
    page = report_page
    page.locator("#t0 .mark", has_text="checkout_submitted").click()
    panel = page.locator("#t0 .panel")
    assert panel.locator("h4").inner_text() == "checkout_submitted"
    rows = panel.locator("table").first.locator("tr").all_inner_texts()
    assert [row.replace("\t", " = ") for row in rows] == [
        "card = **** **** **** 4242",
        "password = ********",
    ]
    assert panel.locator("tr.flagged").count() == 2
    assert texts(page, "#t0 .panel .note") == [
        "[card-number] 'checkout_submitted' (client) property 'card': a card number (Visa, 16 "
        "digits, Luhn-valid): '**** **** **** 4242'",
        "[password] 'checkout_submitted' (client) property 'password': its name says it is a "
        "password: ********",
    ]
    assert page.locator("#t0 .mark.selected .name").inner_text() == "checkout_submitted"

    page.locator("#t0 .mark.client", has_text="$pageview").click()
    assert "token: " not in panel.inner_text()
    assert panel.locator("p.muted").inner_text() == "No properties of its own, only the SDK's."
    panel.locator("summary", has_text="SDK properties").click()
    assert panel.locator("tr", has_text="token").inner_text() == "token\tphc_…d8c7"
    assert panel.locator("tr", has_text="$current_url").inner_text() == (
        "$current_url\thttps://shop.test/"
    )
    page.locator("#t0 .mark.rejected").click()
    assert panel.locator("h4").inner_text() == "Rejected request"
    assert "reason: the body is not valid gzip" in panel.inner_text()


def test_findings_are_listed_and_lead_to_their_event(report_page: Page) -> None:
    page = report_page
    assert shown(page, "#t0 .findings h3") == [
        "PII GUARD (2)",
        "TRACKING PLAN (1)",
        "DIAGNOSTICS (1)",
        "DUPLICATES (1)",
        "REJECTED REQUESTS (1)",
        "SDK LIFECYCLE (1)",
    ]
    assert texts(page, "#t0 .findings li")[2] == (
        "wrong-source 'purchase_completed' was sent by the client; the plan allows only the "
        "server (kind 'payment': payment processing is tracked server-side) show"
    )
    page.locator("#t0 .findings a.show").nth(2).click()
    assert page.locator("#t0 .mark.selected").count() == 1
    assert page.locator("#t0 .mark.selected .time").inner_text() == "12:00:03.300"
    assert "phc_…d8c7" in page.locator("#t0 .failure pre").inner_text()


def test_audit_section(report_page: Page) -> None:
    page = report_page
    summary = page.locator(".audit summary").inner_text()
    assert summary.startswith("Audit: the guide's Validation Checklist")
    page.locator(".audit summary").click()
    assert page.locator(".audit tr").count() == 11


def test_screenshot(report_page: Page, tmp_path: Path) -> None:
    page = report_page
    page.locator("#t0 .mark.dup").first.click()
    shot = tmp_path / "analytics-report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")


# -- without the browser ---------------------------------------------------------------------------


def test_a_long_test_draws_the_ends_and_counts_the_middle() -> None:
    events = [make_event("tick", "u", at=n, n=n) for n in range(MAX_MARKS + 50)]
    html = render_html([RecordedTest("t::long", events=events)])
    assert html.count("class='mark client'") == MAX_MARKS
    assert "50 events in the middle of this test are not drawn." in html


def test_an_empty_run_and_an_empty_test() -> None:
    when = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert "No test used the analytics fixture." in render_html([], generated=when)
    html = render_html([RecordedTest("t::nothing", "passed")], generated=when)
    assert "No PostHog event reached the recorder in this test." in html
    assert "generated 2026-03-01 12:00:00 UTC" in html


def test_embedded_data_cannot_close_its_script(tmp_path: Path) -> None:
    event: Any = make_event("x", "u", note="</script><script>alert(1)</script>")
    html = render_html([RecordedTest("t::x", events=[event])])
    assert html.count("<script") == 2  # the data block and the report's own script
    assert "\\u003c/script\\u003e" in html


def test_gaps_between_marks_read_in_the_right_unit() -> None:
    events = [make_event("e", "u", at=at, n=at) for at in (0, 0.5, 30, 200, 7400, 300000)]
    html = render_html([RecordedTest("t::gaps", events=events)])
    gaps = [part.split("</span>")[0] for part in html.split("class='gap'")[1:]]
    assert [gap.split(">")[1] for gap in gaps] == ["+29.5 s", "+3 min", "+2 h 00 min", "+3 days"]


# -- outcomes, counts and wording --------------------------------------------------------------

WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


def outcomes_run() -> list[RecordedTest]:
    return [
        RecordedTest("t::passes", "passed", events=[make_event("signed_up", "u")]),
        RecordedTest("t::skipped", "skipped", reason="no payment provider in CI"),
        RecordedTest(
            "t::xfails", "xfailed", message="AssertionError: no refund", reason="known bug 12"
        ),
        RecordedTest("t::xpasses", "xpassed", reason="fixed since"),
        RecordedTest("t::fails", "failed", message="AssertionError: the checkout broke"),
        RecordedTest("t::errors", "error", message="fixture 'shop' failed"),
    ]


def test_the_header_counts_each_outcome_and_only_tests() -> None:
    note = ClientNote("app/analytics.py:12", "never shut down", finding=False)
    html = render_html(outcomes_run(), generated=WHEN, session_notes=[note, note])
    assert (
        "<p class=\"summary\">6 tests · <b class='bad'>2 failed</b> · 1 skipped · 1 xfailed · "
        "1 xpassed · 1 event (1 client, 0 server) · 0 findings · generated 2026-03-01 12:00:00 "
        "UTC</p>"
    ) in html
    assert html.count("<section class='test card ") == 6
    assert (
        "<section class='card session' id='session-end'><h3>SDK lifecycle at session end "
        "<span class='muted'>(2)</span></h3><ul><li>posthog client created at "
        "app/analytics.py:12: never shut down</li><li>posthog client created at "
        "app/analytics.py:12: never shut down</li></ul></section>"
    ) in html
    assert "session-end" not in render_html(outcomes_run(), generated=WHEN)


def test_one_event_and_one_finding_are_singular() -> None:
    event = make_event("checkout_submitted", "u", card="4242 4242 4242 4242")
    findings = PiiGuard().check([event])
    assert len(findings) == 1
    html = render_html([RecordedTest("t::one", events=[event], findings=findings)], generated=WHEN)
    assert (
        "1 test · <b class='good'>0 failed</b> · 1 event (1 client, 0 server) · 1 finding" in html
    )
    assert "<span class='muted'>1 event · 1 finding</span>" in html
    assert "<b class='warn'>1 finding</b>" in html
    events = [make_event("tick", "u", at=n, n=n) for n in range(MAX_MARKS + 1)]
    one_more = render_html([RecordedTest("t::long", events=events)])
    assert "1 event in the middle of this test is not drawn." in one_more


def test_skipped_xfailed_and_xpassed_tests_show_their_badge_and_reason(
    browser: Browser, tmp_path: Path
) -> None:
    path = write_report(outcomes_run(), tmp_path)
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    assert shown(page, ".toc .badge") == [
        "FAILED",
        "ERROR",
        "PASSED",
        "SKIPPED",
        "XFAILED",
        "XPASSED",
    ]
    assert shown(page, "section.test .reason") == [
        "Skipped: no payment provider in CI",
        "Expected to fail: known bug 12",
        "Passed, though expected to fail: fixed since",
    ]
    assert texts(page, "section.test .failure summary") == [
        "Failure",
        "Failure",
        "The expected failure",
    ]
    assert page.locator("#t4 .failure").get_attribute("open") is None  # folded: it was expected
    assert page.locator("#t0 .failure pre").inner_text() == "AssertionError: the checkout broke"
    context.close()
    assert requests == [path.as_uri()]
