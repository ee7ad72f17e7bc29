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
from pytest_hybrid_analytics._reports.audit import CHECKLIST, audit
from pytest_hybrid_analytics._reports.html import (
    MAX_COLUMNS,
    MAX_MARKS,
    REPORT_NAME,
    render_html,
    write_report,
)
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


def box(page: Page, selector: str, *, has_text: str | None = None) -> dict[str, float]:
    """Where the one element ``selector`` matches is drawn."""
    found = page.locator(selector, has_text=has_text).bounding_box()
    assert found is not None, selector
    return dict(found)


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
    assert page.locator("#t0 .merge").count() == 1
    # the merge's line runs down both lanes, between the event before it and the merge
    line = box(page, "#t0 .merge")
    before = box(page, "#t0 .mark", has_text="checkout_submitted")
    identify = box(page, "#t0 .mark", has_text="$identify")
    assert before["x"] + before["width"] < line["x"] <= identify["x"]
    server = box(page, "#t0 .lane.server")
    assert line["y"] < box(page, "#t0 .lane.client")["y"]
    assert line["y"] + line["height"] >= server["y"] + server["height"]
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
        "SPLIT PERSON (1)",
        "PII GUARD (2)",
        "TRACKING PLAN (1)",
        "DIAGNOSTICS (1)",
        "DUPLICATES (1)",
        "REJECTED REQUESTS (1)",
        "SDK LIFECYCLE (1)",
    ]
    assert texts(page, "#t0 .findings li")[0] == (
        "split-person server events (<img src=x onerror=alert(1)>) by 'db-9' (P2) are on a "
        "person the client never had (the client's: P1): no $identify or alias joins that id "
        "to the client's. show"
    )
    assert texts(page, "#t0 .findings li")[3] == (
        "wrong-source 'purchase_completed' was sent by the client; the plan allows only the "
        "server (kind 'payment': payment processing is tracked server-side) show"
    )
    page.locator("#t0 .findings a.show").nth(3).click()
    assert page.locator("#t0 .mark.selected").count() == 1
    assert page.locator("#t0 .mark.selected .time").inner_text() == "12:00:03.300"
    assert "phc_…d8c7" in page.locator("#t0 .failure pre").inner_text()


def test_audit_section(report_page: Page) -> None:
    page = report_page
    summary = page.locator(".audit summary").inner_text()
    assert summary.startswith("Audit: the guide's Validation Checklist")
    page.locator(".audit summary").click()
    assert page.locator(".audit tr").count() == len(CHECKLIST)


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


# -- a timeline that reads at a glance ---------------------------------------------------------

LONG_NAME = (
    "tests/e2e/test_checkout_journey.py::test_an_anonymous_visitor_signs_up_picks_the_annual_"
    "pro_plan_and_pays_by_card[chromium-eu-cloud-annual-plan-with-coupon-WELCOME20]"
)


def journey(count: int) -> list[Any]:
    """A browser journey of ``count`` events: a page every 2.5 s with a few client events and
    the server's answers, an ``$identify`` (with person properties) on the second page."""
    events: list[Any] = []
    page = 0
    while len(events) < count:
        at, who = page * 2.5, "anon-1" if page < 1 else "user-1"
        events += [
            make_event("$pageview", who, at=at, **{"$current_url": f"https://shop.test/{page}"}),
            make_event("$autocapture", who, at=at + 0.4, **{"$event_type": "click"}),
            make_event(f"step_{page}_completed", who, at=at + 0.45, step=page),
            make_event(f"step_{page}_saved", "user-1", source="server", at=at + 0.5, step=page),
        ]
        if page == 1:
            events.append(
                make_event(
                    "$identify",
                    "user-1",
                    at=at + 0.2,
                    **{
                        "$anon_distinct_id": "anon-1",
                        "$set": {"email": "ada@example.com", "password": "hunter2"},
                        "$set_once": {"first_seen": "2026-03-01"},
                    },
                )
            )
        page += 1
    return events[:count]


def open_report(browser: Browser, path: Path, width: int = 1400) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    return page, requests


def test_a_33_event_journey_fits_the_width_with_both_lanes_in_view(
    browser: Browser, tmp_path: Path
) -> None:
    path = write_report([RecordedTest(LONG_NAME, "passed", events=journey(33))], tmp_path)
    page, requests = open_report(browser, path)
    scroller = page.locator("#t0 .scroller")
    assert scroller.evaluate("s => s.scrollWidth - s.clientWidth") == 0
    assert page.evaluate("document.scrollingElement.scrollWidth") == 1400
    assert page.locator("#t0 .mark").count() == 33
    edge = box(page, "#t0 .scroller")
    for mark in page.locator("#t0 .mark").all():
        where = mark.bounding_box()
        assert where is not None
        assert edge["x"] < where["x"]
        assert where["x"] + where["width"] < edge["x"] + edge["width"]
    # both lanes on one screen, the server lane's events among them
    client, server = box(page, "#t0 .lane.client"), box(page, "#t0 .lane.server")
    assert server["y"] + server["height"] - client["y"] < 700
    assert len(texts(page, "#t0 .mark.server .name")) == 8
    # a column per page (MAX_COLUMNS, and one for the merge), each pause labelled
    assert page.locator("#t0 .tick").count() == MAX_COLUMNS + 1
    assert texts(page, "#t0 .gap") == ["+2 s"] * (MAX_COLUMNS - 1)
    assert texts(page, "#t0 .tick .at")[:4] == ["0 s", "2.5 s", "2.7 s", "5 s"]
    # the long test name wraps inside its card
    name, card = box(page, "#t0 .nodeid"), box(page, "#t0")
    assert name["x"] + name["width"] <= card["x"] + card["width"]
    assert name["height"] > 30
    assert requests == [path.as_uri()]
    page.context.close()


def test_a_narrow_page_scrolls_the_timeline_with_the_lane_names_in_view(
    browser: Browser, tmp_path: Path
) -> None:
    path = write_report([RecordedTest("t::journey", "passed", events=journey(33))], tmp_path)
    page, _ = open_report(browser, path, width=800)
    scroller = page.locator("#t0 .scroller")
    assert scroller.evaluate("s => s.scrollWidth > s.clientWidth")
    scroller.evaluate("s => { s.scrollLeft = s.scrollWidth }")
    edge = box(page, "#t0 .scroller")
    for lane in ("client", "server"):
        assert abs(box(page, f"#t0 .lane.{lane}")["x"] - edge["x"]) <= 1
    page.context.close()


def test_a_200_event_test_keeps_its_columns_and_folds_runs_of_like_events(
    browser: Browser, tmp_path: Path
) -> None:
    events = [make_event("$pageview", "u", at=0)]
    for batch in range(8):
        start = 1 + batch * 3
        events.append(make_event("import_started", "u", at=start, batch=batch))
        events += [
            make_event(
                "row_imported",
                "u",
                source="server",
                at=start + 0.1 + row / 100,
                batch=batch,
                row=row,
            )
            for row in range(23)
        ]
    events += [make_event("import_done", "u", at=25 + n, n=n) for n in range(7)]
    assert len(events) == 200
    path = write_report([RecordedTest("t::import", "passed", events=events)], tmp_path)
    page, _ = open_report(browser, path)
    assert page.locator("#t0 .tick").count() == MAX_COLUMNS
    assert page.locator("#t0 .scroller").evaluate("s => s.scrollWidth - s.clientWidth") == 0
    assert page.locator("#t0 .mark").count() == 200
    folds = texts(page, "#t0 .fold .name")
    # a column per batch, the last one's with the client's run that follows (lanes in order)
    assert folds == ["row_imported ×23"] * 7 + ["import_done ×7", "row_imported ×23"]
    assert texts(page, "#t0 .fold .span")[0] == "12:00:01.100 – 01.320"
    assert page.locator("#t0 .mark.server").first.is_visible() is False
    assert box(page, "#t0 .grid")["height"] < 300  # folded: two marks at most a stack
    page.locator("#t0 .fold").first.click()
    assert page.locator("#t0 .mark.server:visible").count() == 23
    page.locator("#t0 .mark.server").nth(3).click()
    assert page.locator("#t0 .panel tr", has_text="row").inner_text() == "row\t3"
    page.context.close()


def test_identify_shows_the_person_properties_it_sets_on_their_own(
    browser: Browser, tmp_path: Path
) -> None:
    path = write_report([RecordedTest("t::journey", "passed", events=journey(12))], tmp_path)
    page, _ = open_report(browser, path)
    page.locator("#t0 .mark", has_text="$identify").click()
    panel = page.locator("#t0 .panel")
    assert panel.locator(".merge-note").inner_text() == (
        "Merge: anon-1 → user-1: one person from here on"
    )
    assert panel.locator("p.muted").inner_text() == "No event properties of its own."
    assert panel.locator("h5").inner_text() == "PERSON PROPERTIES"
    rows = panel.locator("table.person-props tr").all_inner_texts()
    assert [row.replace("\t", " = ") for row in rows] == [
        "$set_once — set once: kept if the person already has it",
        "first_seen = 2026-03-01",
        "$set — set: replaces the value",
        "email = ada@example.com",
        "password = ********",
    ]
    panel.locator("summary", has_text="SDK properties").click()
    sdk = panel.locator("details table").inner_text()
    assert "$anon_distinct_id" in sdk
    assert "$set" not in sdk
    assert "hunter2" not in path.read_text()
    page.context.close()


def split_run() -> list[RecordedTest]:
    """Three ways one person becomes two, and a test where two persons are meant."""
    refused = [
        make_event("$pageview", "anon-1", at=0),
        make_event("$identify", "user-1", at=1, **{"$anon_distinct_id": "anon-1"}),
        make_event("$pageview", "anon-2", at=5),  # a second device
        make_event("$create_alias", "anon-2", source="server", at=6, alias="user-1"),
    ]
    stranger = [
        make_event("$identify", "user-1", at=0, **{"$anon_distinct_id": "anon-1"}),
        make_event("order_created", "42", source="server", at=1),
        make_event("order_paid", "42", source="server", at=2),
    ]
    reset = [make_event("signed_up", "anon-1", at=0), make_event("paid", "anon-2", at=1)]
    message = "AssertionError: Expected all events to belong to one person; found 2 persons:"
    return [
        RecordedTest("t::refused", "passed", events=refused),
        RecordedTest("t::stranger", "passed", events=stranger),
        RecordedTest("t::reset", "failed", events=reset, message=message),
        RecordedTest("t::two_users", "passed", events=reset),
        RecordedTest("t::one", "passed", events=journey(12)),
    ]


def test_a_split_person_is_a_finding() -> None:
    html = render_html(split_run(), generated=WHEN)
    sections = html.split("<section class='test card ")[1:]
    reset, refused, stranger, two_users, one = sections
    assert "<b class='bad'>2 persons: split</b>" in refused
    assert "<span class='split-flag'" in refused
    assert (
        "<h3>Split person <span class='muted'>(1)</span></h3><ul><li><code class='code'>"
        "split-person</code> &#x27;$create_alias&#x27; (server) asked to join &#x27;user-1&#x27; "
        "(P1) with &#x27;anon-2&#x27; (P2); PostHog refuses it (cannot_merge_already_identified), "
        "so they stay two persons. <a href='#' class='show' data-key='t1-3'>show</a></li></ul>"
    ) in refused
    assert "<div class='merge refused end' " in refused
    assert "user-1 ✕ anon-2</span>" in refused
    assert (
        "server events (order_created, order_paid) by &#x27;42&#x27; (P2) are on a person the "
        "client never had (the client&#x27;s: P1): no $identify or alias joins that id to the "
        "client&#x27;s."
    ) in stranger
    assert "<b class='bad'>2 persons: split</b>" in stranger
    assert (
        "the test expected one person (assert_same_person failed); the events make 2: P1 "
        "(&#x27;anon-1&#x27;); P2 (&#x27;anon-2&#x27;). No $identify or alias joins them."
    ) in reset
    for meant in (two_users, one):
        assert "split" not in meant.split("<script")[0]
    assert "2 persons" in two_users
    # counted with the findings: in the header, the contents and the test's line
    assert (
        "5 tests · <b class='bad'>1 failed</b> · 23 events (18 client, 5 server) · 3 findings"
        in (html)
    )
    assert (
        "<span class='muted'>4 events · 1 finding · <b class='bad'>split person</b></span>" in html
    )
    assert "<b class='warn'>1 finding</b>" in refused


def test_the_split_event_is_flagged_and_says_why(browser: Browser, tmp_path: Path) -> None:
    path = write_report(split_run()[:1], tmp_path)
    page, _ = open_report(browser, path)
    alias = page.locator("#t0 .mark", has_text="$create_alias")
    assert alias.get_attribute("class") == "mark server flagged"
    assert alias.get_attribute("data-merge") == ""
    alias.click()
    panel = page.locator("#t0 .panel")
    assert panel.locator(".merge-note.refused").inner_text() == (
        "Merge: refused by PostHog (cannot_merge_already_identified): user-1 ✕ anon-2 stay two "
        "persons"
    )
    assert texts(page, "#t0 .panel .note") == [
        "split person: '$create_alias' (server) asked to join 'user-1' (P1) with 'anon-2' (P2); "
        "PostHog refuses it (cannot_merge_already_identified), so they stay two persons."
    ]
    assert shown(page, "#t0 .people .split-flag") == ["SPLIT PERSON"]
    page.context.close()


def test_columns_cut_at_pauses_and_merges_start_one() -> None:
    """Over MAX_COLUMNS marks: the longest pauses end columns, and a merge begins one."""
    bursts = [
        make_event(f"e{burst}_{n}", "anon-1", at=burst * 10 + n * 0.05)
        for burst in range(3)
        for n in range(6)
    ]
    identify = make_event("$identify", "user-1", at=12.01, **{"$anon_distinct_id": "anon-1"})
    html = render_html([RecordedTest("t::bursts", events=[*bursts, identify])])
    assert html.count("class='tick") == MAX_COLUMNS + 1
    gaps = [part.split("</span>")[0].split(">")[1] for part in html.split("class='gap'")[1:]]
    assert gaps == ["+9.75 s", "+1.76 s", "+7.99 s"]
    ticks = html.split("<div class='tick")[1:]
    started = [tick.split("title='")[1][:12] for tick in ticks]
    assert "12:00:10.000" in started
    assert "12:00:20.000" in started
    assert "12:00:12.010" in started  # the $identify starts its column
    assert html.count("<div class='merge") == 1
