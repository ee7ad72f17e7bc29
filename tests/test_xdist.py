"""pytest-xdist: a suite of browser and server-road tests under ``-n 2`` gives the same results as
serial, each worker with its own collector port and recorder, and no event crossing between tests.

The browser tests come first in the suite, so xdist's first batches (two tests to each worker)
give both workers pages at the same time: posthog-js in two Chromiums, each page sending to its
own worker's collector under its own test's token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

SUITE = """
import json
import os
import threading
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect
from posthog import Posthog

N = range(6)
PAGES = range(4)


def report(analytics, name, page_id=None, **extra):
    # One line per test; the page's own distinct id is written as <page>.
    line = {
        "test": name,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "serial"),
        "port": urlsplit(analytics.host).port,
        "events": sorted(
            [e.event, "<page>" if e.distinct_id == page_id else e.distinct_id, e.transport]
            for e in analytics.events
        ),
        "page_id": page_id,
        **extra,
    }
    with open(os.environ["RESULTS"], "a") as out:
        out.write(json.dumps(line) + "\\n")


@pytest.mark.parametrize("n", PAGES)
def test_posthog_js_in_a_page(analytics, page, site, n):
    sent = []
    page.on("request", lambda request: sent.append(request.url))
    url = f"{site}/web/click.html?n={n}"
    page.goto(url)
    expect(page.locator("#status")).to_have_text("ready")
    page.click("#click")
    analytics.wait_for("clicked", source="client", page=str(n))
    analytics.flush()  # every event the page captured so far is recorded
    page_id = page.evaluate("window.__hybridAnalytics.instances[0].get_distinct_id()")
    sdk = [sent_to for sent_to in sent if not sent_to.startswith(site + "/")]
    mine = analytics.host + "/browser/https/"
    report(analytics, f"page_{n}", page_id, sdk=len(sdk), elsewhere=[
        sent_to for sent_to in sdk if not sent_to.startswith(mine)
    ])
    assert {e.distinct_id for e in analytics.events} == {page_id}
    assert {e.properties["$current_url"] for e in analytics.events} == {url}


@pytest.mark.parametrize("n", N)
def test_sdk_to_the_tests_host(analytics, n):
    client = Posthog("phc_k", host=analytics.host, sync_mode=True)
    client.capture(f"host_{n}", distinct_id=f"h{n}")
    client.shutdown()
    analytics.wait_for(f"host_{n}")
    report(analytics, f"host_{n}")
    assert [e.event for e in analytics.events] == [f"host_{n}"]


@pytest.mark.parametrize("n", N)
def test_requests_road(analytics, n):
    body = {"api_key": "k", "batch": [{"event": f"road_{n}", "distinct_id": f"r{n}"}] * 3}
    assert requests.post("https://us.i.posthog.com/batch/", json=body, timeout=5).ok
    analytics.wait_for(f"road_{n}", count=3)
    report(analytics, f"road_{n}")
    assert len(analytics.events) == 3


@pytest.mark.parametrize("n", N)
def test_threaded_sdk_claimed_in_process(analytics, n):
    client = Posthog("phc_k", host="https://eu.i.posthog.com")
    senders = [
        threading.Thread(target=client.capture, args=(f"sdk_{n}",), kwargs={"distinct_id": f"s{t}"})
        for t in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    client.shutdown()
    analytics.wait_for(f"sdk_{n}", count=4)
    report(analytics, f"sdk_{n}")
    assert {e.event for e in analytics.events} == {f"sdk_{n}"}
"""

#: The inner suite's pages: the repository's ``fixtures/`` on 127.0.0.1, one server per worker.
CONFTEST = """
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def site():
    handler = functools.partial(Quiet, directory={fixtures!r})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{{server.server_address[1]}}"
    server.shutdown()
    server.server_close()
"""

TESTS = 4 + 3 * 6


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Run under an outer pytest-xdist, the inner runs would inherit the outer worker's name.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {FIXTURES / "node_modules" / "posthog-js"}
        asyncio_default_fixture_loop_scope = function
        filterwarnings = ignore::pytest.PytestAssertRewriteWarning
    """)
    pytester.makeconftest(CONFTEST.format(fixtures=str(FIXTURES)))
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, *args: str
) -> list[dict[str, Any]]:
    results = inner.path / f"{name}.jsonl"
    monkeypatch.setenv("RESULTS", str(results))
    # In a subprocess both times: in this process the outer harness would claim the inner
    # SDK's requests to analytics.host before they reach the inner collector.
    outcome = inner.runpytest_subprocess(*args, timeout=180)
    outcome.assert_outcomes(passed=TESTS)
    return [json.loads(line) for line in results.read_text().splitlines()]


def test_two_workers_give_the_serial_results_each_with_its_own_collector(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = run(inner, monkeypatch, "serial", "-p", "no:xdist")
    parallel = run(inner, monkeypatch, "parallel", "-n", "2")

    def by_test(lines: list[dict[str, Any]]) -> dict[str, list[Any]]:
        return {line["test"]: line["events"] for line in lines}

    assert len(serial) == len(parallel) == TESTS
    assert by_test(parallel) == by_test(serial)
    assert by_test(serial)["road_0"] == [["road_0", "r0", "requests"]] * 3
    assert by_test(serial)["host_5"] == [["host_5", "h5", "collector"]]
    for n in range(4):  # only the page's own events, none from another page or test
        assert by_test(serial)[f"page_{n}"] == [
            ["$autocapture", "<page>", "browser"],
            ["$pageview", "<page>", "browser"],
            ["clicked", "<page>", "browser"],
        ]

    assert {line["worker"] for line in serial} == {"serial"}
    assert len({line["port"] for line in serial}) == 1
    ports: dict[str, set[int]] = {}
    for line in parallel:
        ports.setdefault(line["worker"], set()).add(line["port"])
    assert sorted(ports) == ["gw0", "gw1"]  # both workers ran tests
    assert all(len(found) == 1 for found in ports.values())  # one collector per worker
    assert ports["gw0"] != ports["gw1"]

    pages = [line for line in serial + parallel if line["test"].startswith("page_")]
    assert sorted({line["worker"] for line in pages}) == ["gw0", "gw1", "serial"]
    assert len({line["page_id"] for line in pages}) == 8  # a new person in every page
    for line in pages:  # every SDK request went to its own worker's collector and test
        assert line["sdk"] >= 2, line
        assert line["elsewhere"] == [], line


# -- the run's reports under -n 2: one audit, one HTML file, every test ----------------------------

REPORT_SUITE = """
import os

import pytest
import requests
from posthog import Posthog

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "serial")


@pytest.mark.parametrize("n", range(8))
def test_server(analytics, n):
    client = Posthog("phc_k", host=analytics.host, sync_mode=True)
    client.capture("order_created", distinct_id=f"u{n}", properties={"worker": WORKER})
    client.shutdown()
    analytics.wait_for("order_created", source="server")


@pytest.mark.parametrize("n", range(4))
def test_client_road(analytics, n):
    event = {"event": "$pageview", "properties": {"distinct_id": f"a{n}", "$lib": "web",
                                                  "worker": WORKER}}
    assert requests.post("https://us.i.posthog.com/i/v0/e/", json=event, timeout=5).ok
    analytics.wait_for("$pageview", source="client")


def test_skipped(analytics):
    pytest.skip("no payment provider here")


@pytest.mark.xfail(reason="known bug")
def test_xfails(analytics):
    assert analytics.find("refund_issued")


def test_without_analytics():
    pass
"""
REPORT_TESTS = 8 + 4 + 2  # the tests that ask for analytics


def reported(inner: pytest.Pytester, *args: str) -> tuple[str, str, list[str]]:
    """Run the suite with the report and the audit: (its terminal output, the HTML, the files
    in the report's directory)."""
    out = inner.path / f"out{len(list(inner.path.glob('out*')))}"
    result = inner.runpytest_subprocess(
        f"--analytics-report={out}", "--analytics-audit", *args, timeout=180
    )
    result.assert_outcomes(passed=13, skipped=1, xfailed=1)
    files = sorted(path.name for path in out.iterdir())
    return result.stdout.str(), (out / "analytics-report.html").read_text(), files


def test_two_workers_give_one_audit_and_one_report_of_every_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_suite=REPORT_SUITE)
    serial_out, serial_html, serial_files = reported(inner, "-p", "no:xdist")
    out, html, files = reported(inner, "-n", "2")

    assert "2 workers [15 items]" in out
    assert serial_files == files == ["analytics-report.html"]  # no per-worker file
    for text in (serial_out, out):
        assert text.count("analytics audit") == 1
        assert (
            text.count(
                "Analytics audit: the guide's Validation Checklist, judged from 14 tests and "
                "12 events"
            )
            == 1
        )
        assert text.count("hybrid-analytics: HTML report written to") == 1
        assert "  PASS          Critical events tracked server-side for reliability" in text
    for page in (serial_html, html):
        summary = page.split('<p class="summary">')[1].split(" · generated")[0]
        assert summary == (
            f"{REPORT_TESTS} tests · <b class='good'>0 failed</b> · 1 skipped · 1 xfailed · "
            "12 events (4 client, 8 server) · 0 findings"
        )
        assert page.count("<section class='test card ") == REPORT_TESTS
        assert page.count("class='mark server'") == 8
        assert page.count("class='mark client'") == 4
        assert (
            "<span class='reason skipped'><b>Skipped:</b> no payment provider here</span>" in page
        )
        assert "test_without_analytics" not in page
    # Every worker's tests are in the one report, their events with them.
    assert '"worker": "gw0"' in html
    assert '"worker": "gw1"' in html
    assert '"worker": "serial"' in serial_html


def test_a_worker_that_crashes_is_named_not_silently_dropped(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_suite="""
        import os

        import pytest


        @pytest.mark.parametrize("n", range(4))
        def test_fine(analytics, n):
            pass


        def test_crash(analytics):
            os._exit(1)
        """
    )
    result = inner.runpytest_subprocess(
        "-n", "2", "--analytics-report=out", "--analytics-audit", timeout=180
    )
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: 1 pytest-xdist worker (gw?) went down before handing over its "
            "tests' records: the audit and the report leave those tests out."
        ]
    )
    assert sorted(path.name for path in (inner.path / "out").iterdir()) == ["analytics-report.html"]
