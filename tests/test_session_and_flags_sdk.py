"""The "one user, one story" checks against the published SDKs: posthog-js 1.449.2 in Chromium,
posthog-python 7.91.1 in a Flask app, posthog-node 5.70.0 in a node process. (The checks on
hand-made events: ``test_session_and_flag_checks.py``.)

The app: a Flask app (``PosthogFlaskIntegration(app)``, one ``posthog`` client on PostHog's cloud
host, which the requests road claims) served on 127.0.0.1 in a thread. It serves
``session_page.html`` (posthog-js by the snippet, with ``tracing_headers: ['127.0.0.1']`` or
without) and two views the page calls with ``fetch``: ``/api/pay`` captures ``order_paid`` for
the user; ``/api/checkout`` evaluates ``new-checkout`` with ``evaluate_flags``, reads it with
``get_flag`` and captures ``checkout_rendered`` with that snapshot. posthog-node runs
``fixtures/node_session.mjs``, a ``node:http`` backend on another port of the same host that
captures inside ``withContext`` with the session and distinct id of the page's headers.

What the SDKs do, as these tests show it:

- posthog-js with ``tracing_headers: [hostname]`` loads ``/static/tracing-headers.js`` lazily,
  then wraps ``window.fetch`` (and, by its source, ``XMLHttpRequest.open``): a request to a
  listed hostname, on any port (the list is matched against ``URL.hostname``), carries
  ``X-POSTHOG-SESSION-ID``, ``X-POSTHOG-WINDOW-ID`` and ``X-POSTHOG-DISTINCT-ID``. posthog-js's
  own requests never do, even to a listed host (it keeps the ``fetch`` it found at load).
- ``PosthogFlaskIntegration`` opens a fresh context per request and reads the session header
  (``set_context_session``) and the distinct id header (``identify_context``): every
  ``capture`` during the request, on any client, gets ``$session_id`` (not ``$window_id``)
  unless its properties set one, and the request's ``$current_url``, ``$request_path``, ...
- posthog-node's ``withContext({sessionId, distinctId}, fn)`` puts ``$session_id`` on what is
  captured inside ``fn``.
- posthog-python 7.91 deprecates ``personal_api_key`` (use ``secret_key``) and
  ``get_feature_flag`` (use ``evaluate_flags(...).get_flag(key)``); posthog-node 5.70 deprecates
  ``getFeatureFlag`` (``evaluateFlags(...).getFlag(key)``). A snapshot read with
  ``send_feature_flag_events=False`` sends no ``$feature_flag_called``.

Two false alarms of the flag checks this correct usage first met are pinned at the end of the
file: two backends each reporting once, and an event captured right after ``identify``.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, request
from playwright.sync_api import Page, Request
from posthog import Posthog
from posthog.contexts import get_context_session_id
from posthog.integrations.flask import PosthogFlaskIntegration
from werkzeug.serving import make_server

from pytest_hybrid_analytics import (
    Analytics,
    assert_flag_exposures,
    assert_flags_consistent,
    assert_identified_before,
    assert_session_linked,
)

PAGE = Path(__file__).resolve().parent / "session_page.html"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "phc_session_project"
USER = "user-1"
FLAG = "new-checkout"
CLOCK = r"\d\d:\d\d:\d\d\.\d{3}"
TRACING = ("x-posthog-session-id", "x-posthog-window-id", "x-posthog-distinct-id")


# -- the app ------------------------------------------------------------------------------------


def make_app(posthog: Posthog) -> Flask:
    """The shop's backend: PostHog's Flask integration and one ``posthog`` client."""
    app = Flask(__name__)
    PosthogFlaskIntegration(app)

    @app.get("/")
    def checkout_page() -> tuple[str, int, dict[str, str]]:
        hostname = urlsplit(request.host_url).hostname
        tracing = request.args.get("tracing") == "on"
        options = {"tracing_headers": [hostname]} if tracing else {}
        html = PAGE.read_text().replace("__POSTHOG_OPTIONS__", json.dumps(options))
        return html, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.post("/api/pay")
    def pay() -> dict[str, Any]:
        body = request.get_json()
        posthog.capture("order_paid", distinct_id=body["user_id"], properties={"amount": 42.5})
        return {"headers": tracing_headers(request.headers), "session": get_context_session_id()}

    @app.post("/api/checkout")
    def checkout() -> dict[str, Any]:
        body = request.get_json()
        # ``evaluate_for``: the bug of evaluating for another id (a service account, say).
        flags = posthog.evaluate_flags(body.get("evaluate_for", body["user_id"]), flag_keys=[FLAG])
        variant = flags.get_flag(FLAG, send_feature_flag_events=body.get("exposure", True))
        posthog.capture("checkout_rendered", distinct_id=body["user_id"], flags=flags)
        return {"variant": variant}

    return app


def tracing_headers(headers: Any) -> dict[str, str]:
    """The ``X-POSTHOG-*`` headers of a request, names lower-cased."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-posthog-")}


@dataclass(frozen=True)
class Shop:
    url: str
    posthog: Posthog


@pytest.fixture
def shop(analytics: Analytics) -> Iterator[Shop]:
    """The Flask app on 127.0.0.1 in a thread; its ``sync_mode`` client has sent each event
    before the view answers."""
    client = Posthog(KEY, host="https://us.i.posthog.com", sync_mode=True)
    try:
        server = make_server("127.0.0.1", 0, make_app(client), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Shop(f"http://127.0.0.1:{server.server_port}", client)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    finally:
        client.shutdown()


@pytest.fixture
def node_backend(analytics: Analytics) -> Iterator[str]:
    """``fixtures/node_session.mjs`` pointed at ``analytics.host``; its URL. Closing its stdin
    makes it call ``shutdown()`` and exit."""
    process = subprocess.Popen(
        ["node", str(FIXTURES / "node_session.mjs"), str(analytics.host), KEY],
        cwd=FIXTURES,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        ready = json.loads(process.stdout.readline())  # one line once it listens
        yield f"http://127.0.0.1:{ready['port']}"
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


# -- the page -----------------------------------------------------------------------------------


def open_checkout(analytics: Analytics, page: Page, shop: Shop, *, tracing: bool) -> str:
    """Load the checkout page; returns its ``$session_id`` (from its ``$pageview``). With
    ``tracing``, waits until posthog-js has loaded its tracing-headers extension and wrapped
    ``window.fetch``."""
    page.goto(f"{shop.url}/?tracing={'on' if tracing else 'off'}")
    [pageview] = analytics.wait_for("$pageview", source="client")
    if tracing:
        page.wait_for_function("() => window.fetch.__posthog_wrapped__ === true")
    session = pageview.properties["$session_id"]
    assert isinstance(session, str)
    assert session
    return session


def anonymous_id(analytics: Analytics) -> str:
    [pageview] = analytics.find("$pageview", source="client")
    assert pageview.distinct_id is not None
    assert pageview.distinct_id != USER
    return pageview.distinct_id


def identify(analytics: Analytics, page: Page, user: str = USER) -> None:
    page.evaluate("user => posthog.identify(user)", user)
    analytics.wait_for("$identify", source="client", distinct_id=user)


def call(page: Page, url: str, **body: Any) -> dict[str, Any]:
    """The page's own ``fetch`` to a backend (``callBackend`` in the page); the JSON answer."""
    answer = page.evaluate("([url, body]) => callBackend(url, body)", [url, body])
    assert isinstance(answer, dict)
    return answer


def wait_for_flags(page: Page, user: str, variant: str, *, loads: int = 1) -> None:
    """Until posthog-js got ``loads`` flags answers for ``user`` with ``variant``
    (``onFeatureFlags`` in the page)."""
    page.wait_for_function(
        "([user, variant, loads]) => window.flagLoads.filter("
        "l => l.id === user && l.variant === variant).length >= loads",
        arg=[user, variant, loads],
    )


def read_flag(page: Page, times: int) -> list[Any]:
    """The app reads the flag ``times`` times, as a render loop would."""
    values = page.evaluate(
        "([flag, times]) => Array.from({length: times}, () => posthog.getFeatureFlag(flag))",
        [FLAG, times],
    )
    assert isinstance(values, list)
    return values


def browser_shows(analytics: Analytics, page: Page, variant: str) -> None:
    """The page reads the flag once (it renders the variant) and its ``$feature_flag_called``
    is recorded before the test goes on to the server. The wait also keeps
    ``assert_flags_consistent`` clear of its false alarm
    (``test_an_event_captured_right_after_identify_is_no_disagreement``): ``$identify`` carries
    the flags of before the reload identify starts, and may reach the harness after the
    reloaded ``/flags`` request; an exposure recorded after both makes the browser's latest
    value the right one whatever their order."""
    assert read_flag(page, 1) == [variant]
    reported: dict[str, Any] = {"$feature_flag": FLAG, "$feature_flag_response": variant}
    analytics.wait_for("$feature_flag_called", source="client", distinct_id=USER, **reported)


def split(analytics: Analytics) -> None:
    """The rollout under test: everyone ``control``, the user ``test``."""
    analytics.flags.set(FLAG, "control")
    analytics.flags.set(FLAG, "test", distinct_id=USER)


def exposures(analytics: Analytics, source: str) -> list[tuple[str | None, Any]]:
    return [
        (e.distinct_id, e.properties["$feature_flag_response"])
        for e in analytics.find("$feature_flag_called", source=source, **{"$feature_flag": FLAG})
    ]


def short(session: str) -> str:
    """A session id as the checks print it."""
    return f"{session[:6]}…{session[-4:]}"


# -- 1. server events in the browser's session ---------------------------------------------------


def test_flask_with_tracing_headers_links_the_server_event(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r))
    session = open_checkout(analytics, page, shop, tracing=True)
    identify(analytics, page)
    answer = call(page, "/api/pay", user_id=USER)
    [paid] = analytics.wait_for("order_paid", source="server")
    analytics.flush()

    # What posthog-js sent the app, and what the Flask integration made of it.
    [pageview] = analytics.find("$pageview", source="client")
    assert answer["headers"] == {
        "x-posthog-session-id": session,
        "x-posthog-window-id": pageview.properties["$window_id"],
        "x-posthog-distinct-id": USER,
    }
    assert answer["session"] == session
    [to_app] = [r for r in seen if r.url == f"{shop.url}/api/pay"]
    assert {k: v for k, v in to_app.headers.items() if k in TRACING} == answer["headers"]
    # posthog-js's own requests to the collector (127.0.0.1 too, a listed host) carry none.
    own = [r for r in seen if r.url.startswith(str(analytics.host))]
    assert any("/flags/" in r.url for r in own)
    assert any("/e/" in r.url for r in own)
    assert not [r.url for r in own if set(r.headers) & set(TRACING)]

    assert (paid.lib, paid.distinct_id, paid.properties["$session_id"]) == (
        "posthog-python",
        USER,
        session,
    )
    assert "$window_id" not in paid.properties
    assert paid.properties["$request_path"] == "/api/pay"
    assert_session_linked(analytics)
    assert_session_linked(analytics, events=[paid])


def test_flask_without_tracing_headers_is_not_linked(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    session = open_checkout(analytics, page, shop, tracing=False)
    identify(analytics, page)
    answer = call(page, "/api/pay", user_id=USER)
    [paid] = analytics.wait_for("order_paid", source="server")
    analytics.flush()

    assert page.evaluate("() => window.fetch.__posthog_wrapped__ === true") is False
    assert answer == {"headers": {}, "session": None}
    assert "$session_id" not in paid.properties
    person = analytics.person(USER)
    assert person is not None
    with pytest.raises(AssertionError) as info:
        assert_session_linked(analytics)
    message = str(info.value)
    assert message.startswith(
        "Expected every server event of a person with a browser session to carry that "
        "session's $session_id; 1 event does not:\n"
    ), message
    assert re.search(
        rf"\n  1\. 'order_paid' \(server, {USER} = {person.label}\) at {CLOCK} has no "
        rf"\$session_id; by its time it belongs to session S1 \({re.escape(short(session))}\), "
        rf"{CLOCK}-{CLOCK}, \d+ client events\n",
        message,
    ), message
    assert "tracing_headers: ['shop.example.com']" in message
    assert "posthog.integrations.flask.PosthogFlaskIntegration(app)" in message


def test_posthog_node_with_context_links_the_server_event(
    analytics: Analytics, page: Page, shop: Shop, node_backend: str
) -> None:
    session = open_checkout(analytics, page, shop, tracing=True)
    identify(analytics, page)
    # Another port of the listed host: posthog-js sends its headers there too (after Chromium's
    # CORS preflight, which the node backend answers).
    answer = call(page, f"{node_backend}/api/renew", user_id=USER)
    [renewed] = analytics.wait_for("subscription_renewed", source="server")
    analytics.flush()

    assert answer["headers"]["x-posthog-session-id"] == session
    assert answer["headers"]["x-posthog-distinct-id"] == USER
    assert answer["context"] == {"sessionId": session, "distinctId": USER, "properties": {}}
    assert (renewed.lib, renewed.distinct_id, renewed.properties["$session_id"]) == (
        "posthog-node",
        USER,
        session,
    )
    assert_session_linked(analytics)
    assert_session_linked(analytics, events=[renewed])


# -- 2. identify before the first identified action ----------------------------------------------


def test_checkout_captured_before_identify_fails(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    open_checkout(analytics, page, shop, tracing=False)
    anon = anonymous_id(analytics)
    page.evaluate("() => posthog.capture('checkout_started')")
    [started] = analytics.wait_for("checkout_started", source="client")
    identify(analytics, page)
    analytics.flush()

    assert started.distinct_id == anon
    with pytest.raises(AssertionError) as info:
        assert_identified_before(analytics, "checkout_started")
    message = str(info.value)
    assert message.startswith(
        f"Expected every event of {USER!r}'s person from its first 'checkout_started' ("
    ), message
    assert re.search(
        rf"1 event left under an anonymous one:\n  'checkout_started' \(client\) at {CLOCK} "
        rf"under {re.escape(repr(anon))}\nNext step: identify the user before 'checkout_started'",
        message,
    ), message


def test_identify_then_checkout_passes(analytics: Analytics, page: Page, shop: Shop) -> None:
    open_checkout(analytics, page, shop, tracing=False)
    identify(analytics, page)
    page.evaluate("() => posthog.capture('checkout_started')")
    [started] = analytics.wait_for("checkout_started", source="client")
    analytics.flush()

    assert started.distinct_id == USER
    checked = assert_identified_before(analytics, "checkout_started")
    assert [e.event for e in checked] == ["checkout_started"]


# -- 3. one flag value per user on both sides ----------------------------------------------------


def test_browser_python_and_node_agree_on_the_split(
    analytics: Analytics, page: Page, shop: Shop, node_backend: str
) -> None:
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    anon = anonymous_id(analytics)
    wait_for_flags(page, anon, "control")
    identify(analytics, page)
    wait_for_flags(page, USER, "test")  # posthog-js reloads the flags on identify
    browser_shows(analytics, page, "test")
    assert call(page, "/api/checkout", user_id=USER) == {"variant": "test"}
    assert call(page, f"{node_backend}/api/renew", user_id=USER, flag=FLAG)["variant"] == "test"
    [rendered] = analytics.wait_for("checkout_rendered", source="server")
    [renewed] = analytics.wait_for("subscription_renewed", source="server")
    analytics.flush()

    assert [(c.source, c.sdk, c.distinct_id, c.keys, c.values) for c in analytics.flag_calls] == [
        ("client", "posthog-js", anon, None, {FLAG: "control"}),
        ("client", "posthog-js", USER, None, {FLAG: "test"}),
        ("server", "posthog-python", USER, (FLAG,), {FLAG: "test"}),
        ("server", "posthog-node", USER, (FLAG,), {FLAG: "test"}),
    ]
    assert rendered.properties[f"$feature/{FLAG}"] == "test"  # capture(..., flags=snapshot)
    assert renewed.properties[f"$feature/{FLAG}"] == "test"
    assert_flags_consistent(analytics)


def test_a_server_evaluation_for_the_service_id_fails(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    identify(analytics, page)
    wait_for_flags(page, USER, "test")
    browser_shows(analytics, page, "test")
    answer = call(page, "/api/checkout", user_id=USER, evaluate_for="checkout-service")
    assert answer == {"variant": "control"}  # what the service account gets
    [rendered] = analytics.wait_for("checkout_rendered", source="server")
    analytics.flush()

    assert rendered.distinct_id == USER
    assert rendered.properties[f"$feature/{FLAG}"] == "control"
    service = analytics.person("checkout-service")  # its $feature_flag_called made a person
    user = analytics.person(USER)
    assert service is not None
    assert user is not None
    assert service != user
    with pytest.raises(AssertionError) as info:
        assert_flags_consistent(analytics)
    message = str(info.value)
    assert (
        f"flag 'new-checkout': the server evaluated it for 'checkout-service' (person "
        f"{service.label}, answered 'control') and sent the value on $feature/new-checkout on "
        f"'checkout_rendered' (server, 'user-1') (person {user.label}): evaluate flags with the "
        "id of the user the request is for"
    ) in message, message
    # The cause is the one disagreement said: the value the event carried is explained by the
    # evaluation for the service id, not reported again as the browser's and server's split.
    assert "found 1 disagreement:" in message
    assert "the browser had" not in message


def test_local_evaluation_gives_the_per_user_value(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    split(analytics)
    open_checkout(analytics, page, shop, tracing=False)
    identify(analytics, page)
    wait_for_flags(page, USER, "test")
    browser_shows(analytics, page, "test")
    calls_before = len(analytics.flag_calls)

    # A backend that loads the definitions (secret_key; personal_api_key is deprecated in 7.91).
    local = Posthog(KEY, host="https://us.i.posthog.com", secret_key="phx_local", sync_mode=True)
    try:
        for_user = local.evaluate_flags(USER, flag_keys=[FLAG])
        for_visitor = local.evaluate_flags("visitor-9", flag_keys=[FLAG])
        assert (for_user.get_flag(FLAG), for_visitor.get_flag(FLAG)) == ("test", "control")
        local.capture("checkout_rendered", distinct_id=USER, flags=for_user)
    finally:
        local.shutdown()
    analytics.wait_for("checkout_rendered", source="server")
    analytics.flush()

    # One definitions request, no /flags call: both evaluated in the process.
    assert [(c.source, c.endpoint, c.distinct_id) for c in analytics.flag_calls[calls_before:]] == [
        ("server", "definitions", None)
    ]
    called = {
        e.distinct_id: (e.properties["$feature_flag_response"], e.properties["locally_evaluated"])
        for e in analytics.find("$feature_flag_called", source="server")
    }
    assert called == {USER: ("test", True), "visitor-9": ("control", True)}
    assert_flags_consistent(analytics)


# -- 4. exposures ----------------------------------------------------------------------------


def test_posthog_js_reports_each_value_once_however_often_read(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    anon = anonymous_id(analytics)
    wait_for_flags(page, anon, "control")
    assert read_flag(page, 3) == ["control"] * 3
    identify(analytics, page)
    wait_for_flags(page, USER, "test")
    assert read_flag(page, 3) == ["test"] * 3
    page.evaluate("() => posthog.reloadFeatureFlags()")
    wait_for_flags(page, USER, "test", loads=2)
    assert read_flag(page, 3) == ["test"] * 3
    assert call(page, "/api/checkout", user_id=USER) == {"variant": "test"}
    analytics.wait_for("checkout_rendered", source="server")
    analytics.flush()

    # Nine reads in the browser, one $feature_flag_called per value; the server reported its read.
    assert exposures(analytics, "client") == [(anon, "control"), (USER, "test")]
    assert exposures(analytics, "server") == [(USER, "test")]
    assert_flag_exposures(analytics, FLAG)
    assert_flag_exposures(analytics)


def test_a_server_read_without_an_exposure_fails(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    identify(analytics, page)
    wait_for_flags(page, USER, "test")
    assert read_flag(page, 2) == ["test"] * 2
    assert call(page, "/api/checkout", user_id=USER, exposure=False) == {"variant": "test"}
    analytics.wait_for("checkout_rendered", source="server")
    analytics.flush()

    assert exposures(analytics, "client") == [(USER, "test")]
    assert exposures(analytics, "server") == []
    [server_call] = [c for c in analytics.flag_calls if c.source == "server"]
    assert server_call.asked_for(FLAG)
    with pytest.raises(AssertionError) as info:
        assert_flag_exposures(analytics, FLAG)
    assert re.search(
        rf"flag 'new-checkout': the server read it for 'user-1' \(posthog-python, {CLOCK}\) and "
        r"no \$feature_flag_called was sent for that person: the read does not count as an "
        r"exposure \(send_feature_flag_events=False",
        str(info.value),
    ), str(info.value)

    # The next request reads it with the event: the user is exposed, the check passes.
    assert call(page, "/api/checkout", user_id=USER) == {"variant": "test"}
    analytics.wait_for("$feature_flag_called", source="server", distinct_id=USER)
    assert_flag_exposures(analytics, FLAG)


# -- correct SDK usage the flag checks once raised false alarms on --------------------------


def test_two_backends_each_reporting_once_are_not_duplicates(
    analytics: Analytics, page: Page, shop: Shop, node_backend: str
) -> None:
    # posthog-python and posthog-node each remember what they reported: one exposure each.
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    identify(analytics, page)
    wait_for_flags(page, USER, "test")
    browser_shows(analytics, page, "test")
    assert call(page, "/api/checkout", user_id=USER) == {"variant": "test"}
    assert call(page, f"{node_backend}/api/renew", user_id=USER, flag=FLAG)["variant"] == ("test")
    called = analytics.wait_for("$feature_flag_called", source="server", count=2)
    analytics.flush()
    assert sorted(str(e.lib) for e in called) == ["posthog-node", "posthog-python"]
    assert_flags_consistent(analytics)
    assert_flag_exposures(analytics, FLAG)


def test_an_event_captured_right_after_identify_is_no_disagreement(
    analytics: Analytics, page: Page, shop: Shop
) -> None:
    # An event captured right after identify carries the flags of before the reload and can
    # reach the harness after the browser's /flags answer for the user: the browser's value is
    # what it was answered, not what a lagging event carries.
    split(analytics)
    open_checkout(analytics, page, shop, tracing=True)
    wait_for_flags(page, anonymous_id(analytics), "control")
    # The login handler: identify, then track (posthog-js reloads the flags in between).
    page.evaluate("user => { posthog.identify(user); posthog.capture('checkout_started') }", USER)
    wait_for_flags(page, USER, "test")
    [started] = analytics.wait_for("checkout_started", source="client", distinct_id=USER)
    assert call(page, "/api/checkout", user_id=USER) == {"variant": "test"}
    analytics.wait_for("checkout_rendered", source="server")
    analytics.flush()
    # What makes the false alarm: captured before the reloaded flags came (it carries the
    # flags the browser had), recorded after the browser's /flags call for the user.
    [user_call] = [
        c for c in analytics.flag_calls if c.source == "client" and c.distinct_id == USER
    ]
    assert started.properties[f"$feature/{FLAG}"] == "control"
    assert user_call.at < started.received_at
    assert_flags_consistent(analytics)
