"""Seven promises no other test pinned (issue 19): each test names the promise in its docstring
and the bug it catches, and was seen failing on that bug, made by hand in the package source.

Through public behaviour: the published posthog-js in Chromium, a backend's own ``requests`` and
``httpx`` senders over real HTTP, and :func:`parse_capture_request`. Nothing here reaches a
real host: the look-alike and PostHog host names resolve to a loopback echo server in
this process, which only a request the roads do not claim reaches.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from playwright.sync_api import Page
from web_app import WebApp

from pytest_hybrid_analytics import Analytics, parse_capture_request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIST = FIXTURES / "node_modules" / "posthog-js" / "dist"
NOON = datetime(2026, 3, 1, 12, tzinfo=UTC)
#: A POSIX zone string (no zoneinfo file needed): UTC+05:45, a whole day's worth of bugs away
#: from UTC, with minutes so that an hours-only offset is wrong too.
NEPAL = "NPT-5:45"
NEPAL_OFFSET = 5 * 3600 + 45 * 60


def _batch(*events: dict[str, object], **envelope: object) -> bytes:
    return json.dumps({"api_key": "phc_promise", **envelope, "batch": list(events)}).encode()


# -- 1. capture v1's created_at -------------------------------------------------------------


def test_capture_v1_created_at_dates_the_events_that_carry_no_timestamp() -> None:
    """Promise: in a capture v1 body (``{created_at, batch}``), an event without its own
    ``timestamp`` is dated by the envelope's ``created_at``, as ``sent_at`` dates a v0 batch;
    an event with a timestamp keeps it.

    Bug caught: ``created_at`` ignored, so such events take the arrival time."""
    body = json.dumps(
        {
            "created_at": "2026-03-01T12:00:00Z",
            "batch": [
                {"event": "undated", "uuid": "a", "distinct_id": "u", "properties": {}},
                {
                    "event": "dated",
                    "uuid": "b",
                    "distinct_id": "u",
                    "timestamp": "2026-03-01T11:59:58Z",
                    "properties": {},
                },
            ],
        }
    )
    headers = {"Authorization": "Bearer phc_v1", "PostHog-Sdk-Info": "posthog-python/7.91.1"}
    arrived = datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
    undated, dated = parse_capture_request(
        "https://us.i.posthog.com/i/v1/analytics/events", headers, body, received_at=arrived
    )
    assert (undated.event, undated.timestamp, undated.raw_timestamp) == ("undated", NOON, None)
    assert undated.received_at == arrived
    assert (dated.event, dated.timestamp) == ("dated", datetime(2026, 3, 1, 11, 59, 58, tzinfo=UTC))


# -- 2. a timestamp without a zone is UTC ---------------------------------------------------


@pytest.fixture
def nepal_time() -> Iterator[None]:
    """The process's local zone is UTC+05:45 for the test (``TZ`` and ``time.tzset()``), then
    what it was."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = NEPAL
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.usefixtures("nepal_time")
def test_a_timestamp_without_a_zone_is_utc_whatever_the_machines_zone() -> None:
    """Promise: a zone-less timestamp (``"2026-03-01T12:00:00"``), on an event or as a batch's
    ``sent_at``, is read as UTC, as PostHog's ingestion reads it, on a machine whose local zone
    is not UTC too.

    Bug caught: the zone-less time read as the machine's local time (``astimezone(UTC)`` on a
    naive datetime), invisible on a UTC machine; here the machine is at UTC+05:45."""
    assert time.localtime().tm_gmtoff == NEPAL_OFFSET  # else this test could not fail
    [event] = parse_capture_request(
        "https://us.i.posthog.com/batch/",
        {},
        _batch({"event": "order_placed", "distinct_id": "u", "timestamp": "2026-03-01T12:00:00"}),
    )
    assert (event.timestamp, event.raw_timestamp) == (NOON, "2026-03-01T12:00:00")
    [undated] = parse_capture_request(
        "https://us.i.posthog.com/batch/",
        {},
        _batch({"event": "undated", "distinct_id": "u"}, sent_at="2026-03-01T12:00:00"),
    )
    assert undated.timestamp == NOON


# -- 3. $is_server decides the side -----------------------------------------------------------


def test_is_server_true_wins_over_browser_looking_properties() -> None:
    """Promise: an event marked ``$is_server: true`` is a server event even when it also carries
    browser context (``$current_url``, ``$browser``, ``$device_type``: a backend forwarding what
    the page told it), when the road does not say the side; without the mark, the same
    properties make it a client event.

    Bug caught: ``source`` chosen from the browser-looking properties before ``$is_server``."""
    browserish = {
        "$current_url": "https://shop.example/checkout",
        "$browser": "Chrome",
        "$device_type": "Desktop",
    }
    headers = {"User-Agent": "python-requests/2.32.3"}
    marked, unmarked = parse_capture_request(
        "https://us.i.posthog.com/batch/",
        headers,
        _batch(
            {
                "event": "checkout",
                "distinct_id": "u",
                "properties": {"$is_server": True, **browserish},
            },
            {"event": "checkout", "distinct_id": "u", "properties": browserish},
        ),
    )
    assert (marked.source, unmarked.source) == ("server", "client")


# -- 4. the collector answers after storing -----------------------------------------------------


def test_the_collector_answers_only_once_the_events_are_stored(analytics: Analytics) -> None:
    """Promise: the loopback collector answers a request only after its events are stored, so
    an assertion right after the sender got its HTTP answer already sees every event, with no
    wait. A backend's own sender posts one batch of 20,000 events over real HTTP: storing them
    takes long enough (0.15 s here) that, were the answer sent first, the assertion would run
    before they are there.

    Bug caught: the collector answering 200 before the fake API stored the events."""
    event = {"event": "bulk", "distinct_id": "u-bulk", "properties": {"$lib": "posthog-python"}}
    body = json.dumps({"api_key": "phc_collector", "batch": [event] * 20_000})
    answer = requests.post(f"{analytics.host}/batch/", data=body, timeout=30)
    stored = analytics.find("bulk")  # no wait
    assert (answer.json(), len(stored), stored[-1].transport) == (
        {"status": 1},
        20_000,
        "collector",
    )


# -- 5. and 6. what the in-process roads claim ------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers what it was asked: method, path, ``Host`` and body."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _echo(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        told = {"method": self.command, "path": self.path, "host": self.headers["Host"]}
        body = json.dumps({**told, "body": sent}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _echo


@pytest.fixture
def echo() -> Iterator[int]:
    """A loopback HTTP server that echoes each request; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_apps_own_post_passes_the_httpx_and_requests_roads_untouched(
    analytics: Analytics, echo: int
) -> None:
    """Promise: a POST the app makes to its own (non-PostHog) service, with ``httpx`` or
    ``requests``, reaches that service unchanged and gets its answer, even on a path PostHog
    also uses (``/batch/``) with a PostHog-shaped body; the fake API neither answers nor
    records it.

    Bug caught: the httpx road claiming any POST (the pass-through test only used GET)."""
    for path, body in [
        ("/api/orders", '{"order": 7}'),
        ("/batch/", _batch({"event": "not_posthogs", "distinct_id": "u"}).decode()),
    ]:
        url = f"http://127.0.0.1:{echo}{path}"
        by_httpx = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        by_requests = requests.post(url, data=body, timeout=5)
        expected = {"method": "POST", "path": path, "host": f"127.0.0.1:{echo}", "body": body}
        assert (by_httpx.json(), by_requests.json()) == (expected, expected)
    assert (analytics.events, analytics.rejected, analytics.faults.attempts) == ([], [], [])


LOOK_ALIKES = ["notposthog.com", "myposthog.com", "posthog.com.evil.io", "us.i.posthog.com.evil.io"]
POSTHOG_HOSTS = ["us.i.posthog.com", "eu.i.posthog.com", "app.posthog.com"]


@pytest.fixture
def loopback_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name in :data:`LOOK_ALIKES` and :data:`POSTHOG_HOSTS` resolves to 127.0.0.1 in
    this process: a request the roads do not claim reaches the :func:`echo` server, never the
    real host."""
    real = socket.getaddrinfo
    names = {*LOOK_ALIKES, *POSTHOG_HOSTS}

    def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return real("127.0.0.1" if name in names else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _post_to(host: str, port: int) -> tuple[str, object, object]:
    """A PostHog-shaped POST to ``http://<host>:<port>/batch/`` by ``requests`` and by
    ``httpx``: the body, and each answer."""
    body = _batch({"event": f"sent_to_{host}", "distinct_id": "u"}).decode()
    url = f"http://{host}:{port}/batch/"
    by_requests = requests.post(url, data=body, timeout=5).json()
    by_httpx = httpx.post(url, content=body).json()
    return body, by_requests, by_httpx


@pytest.mark.usefixtures("loopback_dns")
@pytest.mark.parametrize("host", LOOK_ALIKES)
def test_a_look_alike_of_posthogs_domain_is_not_posthogs(
    analytics: Analytics, echo: int, host: str
) -> None:
    """Promise: only ``posthog.com`` and its subdomains are PostHog's cloud: a request to a
    look-alike domain goes where it was sent, by ``requests`` and ``httpx`` alike, unclaimed
    and unrecorded.

    Bug caught: look-alike domains claimed as PostHog hosts (a suffix or substring match)."""
    body, by_requests, by_httpx = _post_to(host, echo)
    expected = {"method": "POST", "path": "/batch/", "host": f"{host}:{echo}", "body": body}
    assert by_requests == by_httpx == expected
    assert analytics.events == []


@pytest.mark.usefixtures("loopback_dns")
@pytest.mark.parametrize("host", POSTHOG_HOSTS)
def test_posthogs_cloud_hosts_are_claimed(analytics: Analytics, echo: int, host: str) -> None:
    """Promise: PostHog's cloud hosts are claimed by both in-process roads: answered by the
    fake API, recorded, never sent on (here the echo server would have answered).

    Bug caught: a claim rule so strict that PostHog's own hosts escape (the other side of
    the look-alike test)."""
    _, by_requests, by_httpx = _post_to(host, echo)
    assert (by_requests, by_httpx) == ({"status": 1}, {"status": 1})
    assert sorted(e.transport for e in analytics.find(f"sent_to_{host}")) == ["httpx", "requests"]


# -- 7. posthog-js's batch interval under test --------------------------------------------------

#: The batch interval posthog-js's own request queue resolved, in the page. Its bundles rename
#: private fields, so the field is found by asking the queue's own class: two queues built
#: with intervals 1111 and 2222 hold them under the same key. ``null`` if not found once.
QUEUE_INTERVAL = """() => {
  const instance = window.__hybridAnalytics.instances[0];
  const queue = instance._requestQueue || Object.values(instance).find((v) =>
    v && typeof v === 'object' && typeof v.enqueue === 'function' &&
    typeof v.unload === 'function' && typeof v.retriableRequest !== 'function');
  const Queue = queue.constructor;
  const one = new Queue(() => undefined, {flush_interval_ms: 1111});
  const two = new Queue(() => undefined, {flush_interval_ms: 2222});
  const keys = Object.keys(one).filter((k) => one[k] === 1111 && two[k] === 2222);
  return keys.length === 1 ? queue[keys[0]] : null;
}"""


@pytest.mark.parametrize("style", ["snippet.html", "module.html"])
def test_posthog_js_batches_at_the_interval_under_test(
    analytics: Analytics, page: Page, web_app: WebApp, style: str
) -> None:
    """Promise: in a page under test, posthog-js's request queue sends its batch every
    ``analytics_flush_ms`` (250 ms by default) instead of its own 3 s, whatever way the page
    loads it (snippet, npm bundle); read from the queue posthog-js built, not timed.

    Bug caught: the batch interval under test not applied (the suite only got slower)."""
    page.goto(f"{web_app.url}/{style}")
    page.wait_for_function("window.__hybridAnalytics.instances.length > 0")
    assert page.evaluate(QUEUE_INTERVAL) == 250


def test_the_analytics_flush_ms_setting_reaches_posthog_js(pytester: pytest.Pytester) -> None:
    """Promise: ``analytics_flush_ms`` in the ini is the interval posthog-js's request queue
    uses in the pages of that run.

    Bug caught: the setting read but never handed to the pages (they keep 250 ms)."""
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {DIST.parent}
        analytics_flush_ms = 1000
        asyncio_default_fixture_loop_scope = function
    """)
    pytester.makepyfile(f"""
        from pathlib import Path

        PAGE = '''<!doctype html><html><body><script type="module">
        import posthog from "/posthog.js";
        posthog.init("phc_flush_ms", {{api_host: "https://eu.i.posthog.com"}});
        </script></body></html>'''

        def test_interval(analytics, page):
            module = (Path({str(DIST)!r}) / "module.js").read_bytes()
            page.route("http://shop.example/**", lambda route: route.fulfill(
                body=module if route.request.url.endswith(".js") else PAGE,
                content_type="text/javascript" if route.request.url.endswith(".js")
                else "text/html"))
            page.goto("http://shop.example/")
            page.wait_for_function("window.__hybridAnalytics.instances.length > 0")
            assert page.evaluate({QUEUE_INTERVAL!r}) == 1000
    """)
    result = pytester.runpytest_subprocess("--browser", "chromium", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


# -- the suite's non-UTC pass -------------------------------------------------------------------


def test_the_non_utc_pass_really_runs_outside_utc() -> None:
    """Promise: ``make unit`` runs the suite with a local zone other than UTC (the Makefile sets
    ``TZ`` to a POSIX zone string and ``HYBRID_ANALYTICS_EXPECT_TZ=1``), since users' CI machines
    are not all UTC.

    Bug caught: the pass silently running in UTC (an unknown zone name means UTC to the C
    library, and a ``TZ`` that is lost on the way does too)."""
    if os.environ.get("HYBRID_ANALYTICS_EXPECT_TZ") != "1":
        pytest.skip("not the non-UTC pass (make unit sets HYBRID_ANALYTICS_EXPECT_TZ=1)")
    assert time.localtime().tm_gmtoff != 0, f"TZ={os.environ.get('TZ')!r} is UTC"
    assert datetime.now().astimezone().utcoffset() != datetime.now(UTC).utcoffset()


@pytest.mark.skipif(
    not os.environ.get("HYBRID_ANALYTICS_EXPECT_FAST"),
    reason="only in the pass of `make unit` with the fast extra (PYTHONPATH=.fast)",
)
def test_the_fast_pass_really_decodes_with_the_fast_extra() -> None:
    """Promise: the second decoding pass of ``make unit`` runs on msgspec and ISA-L; a pass
    that silently fell back to the standard library would prove nothing about them."""
    from pytest_hybrid_analytics._model.wire import fast_decoders

    assert fast_decoders() == ("msgspec", "isal")
