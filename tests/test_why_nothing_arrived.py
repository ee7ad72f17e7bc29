"""Why nothing arrived: the real cause in the failure.

- The ``posthog`` SDK's own errors and warnings, which it logs and swallows (a ``capture`` with
  the signature of posthog 5, a capture on a client the app shut down), with the app's call site:
  ``analytics.sdk_log``, the ``wait_for`` failure, and the ``sdk-error`` diagnostic.
- The page's own script errors, in real Chromium: an inline script broken by a string ending in
  a backslash, a page that never calls ``posthog.init``, a posthog-js file that cannot load:
  ``analytics.page_errors``, shown when no client event arrived.
- One ``POSTHOG_HOST`` for both sides of an app in a subprocess: the collector serves its page
  posthog-js's own files and remote config, and marks the page's events ``client``.

Run as a script, this module is that app (``python tests/test_why_nothing_arrived.py``).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from posthog import Posthog
from web_app import WebApp

from pytest_hybrid_analytics import Analytics, SdkLogRecord
from pytest_hybrid_analytics._checks.diagnostics import diagnose
from pytest_hybrid_analytics._roads.browser import ApiHostGate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGES = FIXTURES / "web"
DIST = FIXTURES / "node_modules" / "posthog-js" / "dist"
HERE = os.path.relpath(__file__)


def _next_line() -> int:
    """The number of the line after the caller's."""
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno + 1


def _failure(analytics: Analytics, event: str, **query: Any) -> str:
    """The text of a ``wait_for`` that times out (short: nothing more is coming)."""
    with pytest.raises(AssertionError) as failure:
        analytics.wait_for(event, timeout=0.2, **query)
    return str(failure.value)


# -- the server SDK's swallowed errors -------------------------------------------------------


def test_a_capture_with_the_pre_v6_signature_is_named_with_the_apps_call_site(
    analytics: Analytics,
) -> None:
    created = _next_line()
    posthog = Posthog("phc_why", sync_mode=True)
    called = _next_line()
    posthog.capture("user-7", "user_registered")  # posthog 5's (distinct_id, event)

    [record] = analytics.sdk_log
    assert isinstance(record, SdkLogRecord)
    assert (record.level, record.logger, record.site, record.client_site) == (
        "ERROR",
        "posthog",
        f"{HERE}:{called}",
        f"{HERE}:{created}",
    )
    assert record.message == (
        "Error in capture: Client.capture() takes 2 positional arguments but 3 were given"
    )
    assert record.time.tzinfo is UTC
    message = _failure(analytics, "user_registered", source="server")
    assert message.endswith(
        "\nThe posthog SDK logged 1 error during the test (analytics.sdk_log):\n"
        f"  ERROR from posthog at {HERE}:{called}: Error in capture: Client.capture() takes 2 "
        "positional arguments but 3 were given. The app passes capture() more than the event "
        "name positionally, the signature before posthog 6 (capture(distinct_id, event, "
        "properties)): call capture(event, distinct_id=..., properties=...)."
    )


def test_a_capture_on_a_client_the_app_shut_down_is_named_plainly(analytics: Analytics) -> None:
    created = _next_line()
    posthog = Posthog("phc_why")
    posthog.shutdown()  # at the end of a first startup...
    called = _next_line()
    posthog.capture("user_signed_up", distinct_id="user-8")  # ...reused on the second

    message = _failure(analytics, "user_signed_up")
    assert message.endswith(
        "\nThe posthog SDK logged 1 warning during the test (analytics.sdk_log):\n"
        f"  The app captured on a posthog client it had shut down (created at {HERE}:{created}):"
        f" the SDK dropped 'user_signed_up' at {HERE}:{called} (posthog: 'analytics lane "
        "received event user_signed_up after shutdown, dropping it'). Keep one client for the "
        "process and call shutdown() only at exit, or create a new client after shutdown()."
    )
    assert analytics.sdk_log[0].dropped_after_shutdown == "user_signed_up"
    assert [str(note) for note in analytics.client_notes] == [
        f"posthog client created at {HERE}:{created}: used after shutdown(): the SDK dropped "
        f"'user_signed_up' at {HERE}:{called}"
    ]


def test_an_error_in_the_apps_before_send_is_placed_in_the_apps_code(
    analytics: Analytics,
) -> None:
    plans: dict[str, str] = {}

    def before_send(message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "properties": {"plan": plans[message["event"]]}}

    posthog = Posthog("phc_why", sync_mode=True, before_send=before_send)
    posthog.capture("checkout_started", distinct_id="user-9")

    raised = before_send.__code__.co_firstlineno + 1  # its return line: the KeyError
    [record] = analytics.sdk_log
    assert (record.level, record.site) == ("ERROR", f"{HERE}:{raised}")
    assert record.message == "Error in before_send callback: 'checkout_started'"
    assert analytics.events == []


def test_only_warnings_and_errors_of_the_posthog_loggers_are_kept(analytics: Analytics) -> None:
    warned = _next_line() + 1
    logging.getLogger("posthog").info("flags loaded")
    logging.getLogger("posthog.feature_flags").warning("flag %s not found", "beta")
    logging.getLogger("myapp").error("not PostHog's")

    [record] = analytics.sdk_log
    assert (record.level, record.logger, record.message, record.site) == (
        "WARNING",
        "posthog.feature_flags",
        "flag beta not found",
        f"{HERE}:{warned}",
    )


def test_sdk_errors_are_a_diagnostic_finding(analytics: Analytics) -> None:
    posthog = Posthog("phc_why", sync_mode=True)
    called = _next_line()
    for user in ("user-1", "user-2"):
        posthog.capture(user, "user_registered")

    [finding] = diagnose(analytics.events, sdk_log=analytics.sdk_log)
    assert (finding.kind, finding.code) == ("diagnostic", "sdk-error")
    assert finding.message == (
        f"ERROR from posthog at {HERE}:{called + 1}: Error in capture: Client.capture() takes "
        "2 positional arguments but 3 were given. The app passes capture() more than the event "
        "name positionally, the signature before posthog 6 (capture(distinct_id, event, "
        "properties)): call capture(event, distinct_id=..., properties=...) (logged 2 times). "
        "The SDK logged it and went on; the app was never told."
    )


# -- the page's own script errors (real Chromium) --------------------------------------------


def _page_errors(analytics: Analytics, count: int) -> list[str]:
    """``analytics.page_errors`` once the page has told ``count`` things (the init script sends
    them by beacon; the recorder wakes its waiters for each)."""
    assert analytics.wait_until(lambda: len(analytics.page_errors) >= count, timeout=10)
    return analytics.page_errors


def test_an_inline_script_broken_by_a_backslash_is_why_no_client_event_arrived(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    url = f"{web_app.url}/why-inline-error.html"
    page.goto(url)
    assert _page_errors(analytics, 2) == [
        f"Uncaught SyntaxError: Invalid or unexpected token ({url}:6:15)",
        f"{url} never called posthog.init",
    ]
    message = _failure(analytics, "$pageview", source="client")
    assert message.endswith(
        "\nNo client event arrived, and the attached pages reported (analytics.page_errors):\n"
        f"  Uncaught SyntaxError: Invalid or unexpected token ({url}:6:15)\n"
        f"  {url} never called posthog.init"
    )


def test_a_page_that_never_calls_posthog_init(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    url = f"{web_app.url}/why-no-init.html"
    page.goto(url)  # posthog-js loads (array.js), and nothing calls init
    assert _page_errors(analytics, 1) == [f"{url} never called posthog.init"]
    assert page.evaluate("typeof window.posthog.capture") == "function"
    message = _failure(analytics, "$pageview")
    assert message.endswith(
        "\nNo client event arrived, and the attached pages reported (analytics.page_errors):\n"
        f"  {url} never called posthog.init"
    )


def test_a_page_that_calls_init_later_takes_it_back(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    url = f"{web_app.url}/why-late-init.html"
    page.goto(url)
    assert _page_errors(analytics, 1) == [f"{url} never called posthog.init"]
    page.click("#consent")  # posthog.init once the visitor agrees
    analytics.wait_for("$pageview", source="client")
    assert analytics.wait_until(lambda: analytics.page_errors == [], timeout=10)


@pytest.mark.analytics(allow_rejected=True)
def test_a_posthog_js_file_that_cannot_be_served(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    url = f"{web_app.url}/why-missing-file.html"
    file = "https://us-assets.i.posthog.com/static/array.legacy.js"
    page.goto(url)
    assert _page_errors(analytics, 2) == [
        f"the script {file} failed to load on {url}",
        f"{url} never called posthog.init",
    ]
    [rejected] = analytics.rejected
    assert (rejected.url, rejected.status, rejected.transport) == (file, 404, "route")
    assert rejected.reason == (
        f"{file}: the local posthog-js the harness serves from ({DIST}) has no array.legacy.js; "
        "set analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js that has it (the "
        "version the page expects) (README, 'Browser')"
    )
    message = _failure(analytics, "$pageview")
    assert "\nNext step: requests were rejected above; fix what their reasons name" in message
    assert message.endswith(
        "\nNo client event arrived, and the attached pages reported (analytics.page_errors):\n"
        f"  the script {file} failed to load on {url}\n"
        f"  {url} never called posthog.init"
    )


def test_page_errors_are_not_blamed_once_client_events_arrive(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    url = f"{web_app.url}/snippet.html"
    page.goto(url)
    analytics.wait_for("$pageview", source="client")
    page.evaluate("setTimeout(() => { throw new Error('the carousel broke') })")
    [error] = _page_errors(analytics, 1)
    assert error.startswith("Uncaught Error: the carousel broke (")
    assert "page_errors" not in _failure(analytics, "purchase_clicked")


# -- one POSTHOG_HOST for both sides, out of process -----------------------------------------


@pytest.fixture
def one_host_app(analytics: Analytics) -> Iterator[str]:
    """This module run as the app, in a subprocess, with ``POSTHOG_HOST=analytics.host`` for
    its server SDK and its template's ``api_host``; its base URL."""
    assert analytics.host is not None
    app = subprocess.Popen(
        [sys.executable, __file__],
        env={
            "POSTHOG_HOST": analytics.host,
            "POSTHOG_KEY": "phc_one_host",
            "PATH": "/usr/bin:/bin",
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        port = app.stdout.readline().split()[-1]  # blocks until the app listens
        yield f"http://127.0.0.1:{port}"
    finally:
        app.terminate()
        app.communicate(timeout=10)


def test_one_posthog_host_for_both_sides_of_an_app_in_a_subprocess(
    analytics: Analytics, page: Page, one_host_app: str
) -> None:
    served: dict[str, int] = {}
    page.on("response", lambda response: served.setdefault(response.url, response.status))
    page.goto(one_host_app)
    [pageview] = analytics.wait_for("$pageview", source="client")
    assert served[f"{analytics.host}/static/array.js"] == 200  # the snippet, from the collector
    assert (pageview.api_key, pageview.lib) == ("phc_one_host", "web")

    page.click("#signup")
    expect(page.locator("#status")).to_have_text("signed up")
    [clicked] = analytics.wait_for("signup_clicked", source="client")
    [signed_up] = analytics.wait_for("user_signed_up", source="server", plan="free")
    assert signed_up.distinct_id == clicked.distinct_id == pageview.distinct_id
    assert (signed_up.transport, signed_up.lib) == ("collector", "posthog-python")
    assert analytics.rejected == []
    assert analytics.page_errors == []


def test_a_page_the_harness_does_not_attach_uses_the_collector_as_its_api_host(
    analytics: Analytics, browser: Browser, one_host_app: str
) -> None:
    # A browser the harness knows nothing of, made to look like a person's (else posthog-js
    # drops every event as a bot): the collector is all it talks to.
    context = browser.new_context(
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Safari/537.36"
    )
    context.add_init_script("Object.defineProperty(navigator, 'webdriver', {get: () => false})")
    try:
        page = context.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(one_host_app)
        [pageview] = analytics.wait_for("$pageview", source="client")
        assert pageview.transport == "collector"
        assert f"{analytics.host}/static/array.js" in asked
        assert any(u.startswith(f"{analytics.host}/array/phc_one_host/config") for u in asked)

        # A page's hand-rolled send carries no $lib: the request says it came from a browser.
        page.evaluate(
            """host => fetch(host + '/i/v0/e/', {method: 'POST', body: JSON.stringify(
                {event: 'raw_clicked', distinct_id: 'r1', properties: {}})})""",
            analytics.host,
        )
        assert analytics.wait_for("raw_clicked")[0].source == "client"
    finally:
        context.close()
    body = {"api_key": "phc_x", "event": "raw_sent", "distinct_id": "r1", "properties": {}}
    assert requests.post(f"{analytics.host}/i/v0/e/", json=body, timeout=10).ok
    assert analytics.wait_for("raw_sent")[0].source == "server"  # the same, from a backend


@pytest.mark.parametrize(
    ("headers", "source"),
    [
        ({}, "server"),
        ({"User-Agent": "posthog-node/5.70.0", "Sec-Fetch-Mode": "cors"}, "server"),
        ({"User-Agent": "node", "Sec-Fetch-Mode": "cors"}, "server"),  # Node's fetch
        ({"User-Agent": "python-requests/2.32"}, "server"),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "empty"}, "client"),
        ({"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/140.0"}, "client"),
    ],
    ids=["nothing", "posthog-node", "node-fetch", "requests", "fetch-metadata", "browser-ua"],
)
def test_the_collector_tells_a_browser_by_the_request(
    analytics: Analytics, headers: dict[str, str], source: str
) -> None:
    body = json.dumps({"api_key": "phc_x", "event": "sent", "distinct_id": "d1", "properties": {}})
    answer = requests.post(f"{analytics.host}/e/", data=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert analytics.wait_for("sent")[0].source == source


@pytest.mark.analytics(allow_rejected=True)
def test_a_file_the_collector_cannot_serve_is_rejected_with_the_fix(analytics: Analytics) -> None:
    url = f"{analytics.host}/static/array.legacy.js"
    answer = requests.get(url, timeout=10)
    reason = (
        f"/t/{url.split('/t/')[1]}: the local posthog-js the harness serves from ({DIST}) has "
        "no array.legacy.js; set analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to a "
        "posthog-js that has it (the version the page expects) (README, 'Browser')"
    )
    assert (answer.status_code, answer.text) == (404, reason)
    [rejected] = analytics.rejected
    assert (rejected.method, rejected.reason, rejected.transport) == ("GET", reason, "collector")


def test_without_a_local_posthog_js_the_reason_says_where_to_get_one() -> None:
    analytics = Analytics()
    answer = ApiHostGate(analytics.api, None).handle("GET", "/t/abc/static/array.js", {}, b"")
    reason = (
        "/t/abc/static/array.js is posthog-js's own array.js, which the harness serves from a "
        "local posthog-js, and it found none: install posthog-js where the tests run (npm "
        "install posthog-js) or set analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to its "
        "folder (README, 'Browser')"
    )
    assert (answer.status, answer.body.decode()) == (404, reason)
    assert [r.reason for r in analytics.rejected] == [reason]


# -- the app -------------------------------------------------------------------------------


def _serve_app() -> None:
    """A WSGI app whose one ``POSTHOG_HOST`` setting serves its server SDK (the published
    ``posthog``, on its defaults) and its template's ``api_host`` (the posthog-js snippet).

    GET /             the sign-up page (``fixtures/web/why-api-host.html``)
    POST /api/signup  {"distinct_id": ...} -> captures user_signed_up on the server
    """
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    host, key = os.environ["POSTHOG_HOST"], os.environ["POSTHOG_KEY"]
    posthog = Posthog(key, host=host)
    template = (PAGES / "why-api-host.html").read_text(encoding="utf-8")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/api/signup":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(size))
            posthog.capture(
                "user_signed_up", distinct_id=body["distinct_id"], properties={"plan": "free"}
            )
            posthog.flush()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        if environ["PATH_INFO"] == "/":
            page = template.replace("{{ POSTHOG_HOST }}", host).replace("{{ POSTHOG_KEY }}", key)
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page.encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    print(f"listening on {server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        posthog.shutdown()


if __name__ == "__main__":
    _serve_app()


def test_the_sdks_error_reaches_the_diagnostics_section_of_a_failing_test(
    pytester: pytest.Pytester,
) -> None:
    from support import INNER_INI

    pytester.makeini(INNER_INI)
    pytester.makepyfile("""
        from posthog import Posthog

        def test_registration(analytics):
            client = Posthog("phc_inner", sync_mode=True)
            client.capture("user-7", "user_registered")  # posthog 5's (distinct_id, event)
            analytics.wait_for("user_registered", source="server", timeout=0.2)
    """)
    result = pytester.runpytest("-p", "hybrid_analytics")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Analytics diagnostics -*",
            "*sdk-error] *Client.capture() takes 2 positional arguments but 3 were given*",
        ]
    )
