"""The browser road: posthog-js in a Playwright browser context, with no change to the app.

Observed against posthog-js 1.449.2 in Chromium (docs/posthog-js-wire.md), three things break a
naive harness, and this module answers each:

- headless Chromium is a bot to posthog-js, which drops every event;
- the batch flushes every 3 s;
- the ``sendBeacon`` posthog-js sends at ``pagehide`` (queued events and ``$pageleave``) never
  reaches Playwright's ``route``, and route handlers do not even run while a sync test blocks
  in ``wait_for``.

So an init script (``browser_init.js``) adjusts the options the page passes to
``posthog.init`` (bot filter off, short flush, ``rewriteRequestPath``), and every SDK request
goes over real HTTP to the harness's loopback collector under ``/t/<token>/browser/...``, where
:class:`BrowserGate` turns it back into the original URL for the fake PostHog API. A
``context.route`` on PostHog's hosts serves the loader ``array.js`` of the snippet from a local
posthog-js and is a safety net for anything not rewritten.

posthog-js's own files come from a local posthog-js, or from the published package fetched once
from the npm registry and cached (``_roads.posthog_js``): a file that cannot be had is a
rejected request whose reason says why and the fixes. With ``analytics_block_third_party`` on,
a second route answers or aborts the page's requests to hosts other than its own, the
loopback's and PostHog's (``_roads.third_party``).

A page that uses the collector itself as its ``api_host`` (an app in another process with one
``POSTHOG_HOST`` for its server SDK and its templates) asks it for the snippet's
``/static/array.js`` before the init script can rewrite anything: :class:`ApiHostGate` serves
posthog-js's own files from the same local posthog-js, and a file it cannot serve is a rejected
request whose reason says the fix.

What the page's own scripts do wrong (an uncaught error, a script that failed to load, no
``posthog.init`` at all) the init script tells the harness over the collector too, one POST
after the other (so in order) to ``/t/<token>/browser/page-note``, kept in
``analytics.page_errors``: Playwright's ``pageerror`` and ``requestfailed`` events are only
delivered while the test calls into Playwright, not while it blocks in ``wait_for``, and only
the page knows it never called ``posthog.init``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_hybrid_analytics._model.events import RejectedRequest, Source
from pytest_hybrid_analytics._model.text import clip
from pytest_hybrid_analytics._model.wire import split_url
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.fake_api import Answer, Endpoint
from pytest_hybrid_analytics._roads.posthog_js import PostHogJs, PostHogJsError, find_posthog_js
from pytest_hybrid_analytics._roads.third_party import ThirdPartyBlock

__all__ = [
    "POSTHOG_HOSTS",
    "ApiHostGate",
    "BrowserGate",
    "PostHogJsFiles",
    "attach",
    "context_of",
    "find_posthog_js",
    "flush_pages",
    "init_script",
    "nudge_pages",
    "record_page_note",
    "static_file",
]

#: Every PostHog cloud host: ingestion (us.i, eu.i), assets (us-assets.i), app.
POSTHOG_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*posthog\.com(:\d+)?/", re.IGNORECASE)
_STATIC = re.compile(r"/static/(?:[^/]+/)?(?P<name>[\w.-]+\.js)$")
_SCRIPT = (Path(__file__).parent / "browser_init.js").read_text(encoding="utf-8")
_JS = {"Content-Type": "application/javascript", "Access-Control-Allow-Origin": "*"}
#: Where the init script sends what the page's own scripts did (under the test's collector base).
_PAGE_NOTE = "/browser/page-note"
#: The most a page's notes may weigh (a runaway error loop is capped in the page too).
_MAX_NOTE = 16 * 1024
#: Where pages get posthog-js's own files: a ``dist/`` folder, a :class:`PostHogJs` (a local
#: package, or the published one fetched on first use), or none.
PostHogJsFiles = Path | PostHogJs | None


def init_script(collector_base: str, flush_ms: int = 250) -> str:
    """The init script for pages whose SDK requests go to ``collector_base``.

    ``flush_ms`` is posthog-js's batch interval under test (it clamps to 250..5000); ``0``
    turns batching off so every event leaves at once.
    """
    return _SCRIPT.replace("__COLLECTOR__", json.dumps(collector_base.rstrip("/"))).replace(
        "__FLUSH_MS__", str(int(flush_ms))
    )


def static_file(url: str, dist: PostHogJsFiles) -> tuple[Answer | None, str | None]:
    """posthog-js's own file for a ``/static/...js`` URL: ``(answer, None)`` when it can be
    served, ``(None, reason)`` when it is one but cannot be (the reason says the fix), and
    ``(None, None)`` when ``url`` is not one of posthog-js's files.

    A published posthog-js not fetched yet is fetched now (once for the run)."""
    match = _STATIC.search(split_url(url)[0])
    if match is None:
        return None, None
    name = match["name"]
    if dist is None:
        return None, (
            f"{url} is posthog-js's own {name}, which the harness serves from a local "
            "posthog-js, and it found none: install posthog-js where the tests run (npm "
            "install posthog-js) or set analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to its "
            "folder (README, 'Browser')"
        )
    if isinstance(dist, PostHogJs):
        try:
            folder = dist.dist()
        except PostHogJsError as error:
            return None, f"{url} is posthog-js's own {name}: {error}"
    else:
        folder = dist
    file = folder / name
    if not file.is_file():
        if isinstance(dist, PostHogJs) and dist.registry is not None:
            return None, (
                f"{url}: the published posthog-js {dist.version} the harness serves ({folder}) "
                f"has no {name}; set analytics_posthog_js_version / "
                "HYBRID_ANALYTICS_POSTHOG_JS_VERSION to a version that has it (the version the "
                "page expects) (README, 'Browser')"
            )
        return None, (
            f"{url}: the local posthog-js the harness serves from ({folder}) has no {name}; "
            "set analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js that has it "
            "(the version the page expects) (README, 'Browser')"
        )
    return Answer(200, dict(_JS), file.read_bytes()), None


def record_page_note(
    page_errors: list[str], note: Any, *, blocked: ThirdPartyBlock | None = None
) -> None:
    """Keep what one note the init script sent says, as a line of ``page_errors``; a page that
    calls ``posthog.init`` after it was reported as never calling it takes that back. A script
    that failed to load because ``blocked`` blocked it says so.

    >>> record_page_note(analytics.page_errors, {"kind": "no-init", "page": url})
    >>> analytics.page_errors
    ['http://127.0.0.1:8000/ never called posthog.init']
    """
    if not isinstance(note, dict):
        return
    kind, page = note.get("kind"), clip(str(note.get("page") or "the page"), 300)
    if kind == "error":
        message = clip(str(note.get("message") or "Uncaught error"), 500)
        source = note.get("source")
        where = f"{clip(str(source), 300)}:{note.get('line')}:{note.get('column')}"
        page_errors.append(f"{message} ({where if source else page})")
    elif kind == "script":
        src = str(note.get("src") or "(unknown)")
        why = ""
        if blocked is not None and blocked.blocked(src):
            why = f" (blocked: analytics_block_third_party = {blocked.mode})"
        page_errors.append(f"the script {clip(src, 300)} failed to load on {page}{why}")
    elif kind == "no-init":
        page_errors.append(_no_init(page, snippet=note.get("snippet") is True))
    elif kind == "init":
        for snippet in (False, True):
            if _no_init(page, snippet=snippet) in page_errors:
                page_errors.remove(_no_init(page, snippet=snippet))


def _no_init(page: str, *, snippet: bool) -> str:
    if snippet:
        return (
            f"{page} called posthog.init on the snippet, but posthog-js itself never ran (its "
            "array.js did not load)"
        )
    return f"{page} never called posthog.init"


def _static(
    api: Endpoint,
    dist: PostHogJsFiles,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    transport: str,
) -> Answer | None:
    """posthog-js's own file for a GET of one, or a 404 kept as a rejected request whose reason
    says the fix; ``None`` for any other request."""
    if method.upper() != "GET":
        return None
    served, reason = static_file(url, dist)
    if served is not None or reason is None:
        return served
    api.reject(RejectedRequest("GET", url, dict(headers or {}), b"", reason, transport, 404))
    return Answer(404, {**_JS, "Content-Type": "text/plain; charset=utf-8"}, reason.encode())


class BrowserGate:
    """Between the collector and the fake API for requests a page sent through the init script:
    restores the original URL, says they came from the client, serves posthog-js's own files,
    and keeps what the init script tells about the page's own scripts in ``page_errors``.

    >>> gate = BrowserGate(analytics.api, dist, pages=analytics)
    >>> gate.handle("POST", "/t/abc/browser/https/us.i.posthog.com/e/", headers, body)

    ``pages`` is the test whose ``page_errors`` the init script's notes go to (``None``: a test
    that already ended, whose notes are dropped); ``blocked`` the run's third-party block, so
    a script it blocked is said to be blocked.
    """

    def __init__(
        self,
        api: Endpoint,
        dist: PostHogJsFiles,
        *,
        pages: Analytics | None = None,
        blocked: ThirdPartyBlock | None = None,
    ) -> None:
        self._api = api
        self._dist = dist
        self._pages = pages
        self._blocked = blocked

    @staticmethod
    def original_url(path: str) -> str | None:
        """``/…/browser/https/us.i.posthog.com/e/?x`` -> ``https://us.i.posthog.com/e/?x``."""
        _, marker, rest = path.partition("/browser/")
        scheme, _, remainder = rest.partition("/")
        if not marker or scheme not in ("http", "https") or not remainder:
            return None
        return f"{scheme}://{remainder}"

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer one request a page sent."""
        if split_url(url)[0].endswith(_PAGE_NOTE):
            return self._note(method, headers, body)
        original = self.original_url(url) or url
        served = _static(self._api, self._dist, method, original, headers, "browser")
        if served is not None:
            return served
        return self._api.handle(
            method, original, headers, body, source="client", transport="browser", gone=gone
        )

    def _note(
        self, method: str, headers: Mapping[str, str] | None, body: bytes | str | None
    ) -> Answer:
        cors = {"Access-Control-Allow-Origin": "*"}
        raw = body.encode() if isinstance(body, str) else bytes(body or b"")
        if method.upper() != "POST" or len(raw) > _MAX_NOTE:
            return Answer(204, cors)
        try:
            note = json.loads(raw)
        except ValueError:
            return Answer(204, cors)
        if self._pages is not None:
            record_page_note(self._pages.page_errors, note, blocked=self._blocked)
            self._pages.wake()  # a test may wait on analytics.page_errors
        return Answer(204, cors)

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request the collector could not read whole."""
        self._api.reject(request)


class ApiHostGate:
    """Between the collector and the fake API for everything the init script did not send: an
    SDK in another process (``host=analytics.host``), and a page that uses the collector itself
    as its ``api_host`` (one ``POSTHOG_HOST`` for an app's server SDK and its templates). Serves
    such a page posthog-js's own files (the snippet's ``/static/array.js``...) from the local
    posthog-js; a file it cannot serve is a rejected request whose reason says the fix. Remote
    config and flags are the fake API's; the collector says which requests came from a browser
    (``source``).

    >>> gate = ApiHostGate(analytics.api, dist)
    >>> gate.handle("GET", "/t/abc/static/array.js", headers, b"").status
    200
    """

    def __init__(self, api: Endpoint, dist: PostHogJsFiles) -> None:
        self._api = api
        self._dist = dist

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer one request."""
        served = _static(self._api, self._dist, method, url, headers, transport)
        if served is not None:
            return served
        return self._api.handle(
            method, url, headers, body, source=source, transport=transport, gone=gone
        )

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request the collector could not read whole."""
        self._api.reject(request)


def context_of(target: Any) -> Any:
    """The Playwright ``BrowserContext`` of ``target`` (a context, or a page)."""
    context = getattr(target, "context", target)
    if callable(context):  # Page.context is a property in the sync API, a method elsewhere
        context = context()
    return context


def attach(
    analytics: Analytics,
    context: Any,
    *,
    collector_base: str,
    dist: PostHogJsFiles,
    flush_ms: int = 250,
    block: ThirdPartyBlock | None = None,
) -> None:
    """Make every page of a Playwright ``BrowserContext`` deliver its PostHog events to
    ``analytics``; with ``block`` on, its pages' third-party requests are answered or aborted.
    """
    context.add_init_script(init_script(collector_base, flush_ms))
    if block is not None:
        block.attach(context)  # first: the PostHog route, added later, is asked first

    def posthog_host(route: Any) -> None:
        request = route.request
        served = _static(analytics.api, dist, request.method, request.url, request.headers, "route")
        if served is not None:
            route.fulfill(status=served.status, headers=served.headers, body=served.body)
            return
        answer = analytics.api.handle(
            request.method,
            request.url,
            request.headers,
            request.post_data_buffer,
            source="client",
            transport="route",
        )
        if answer.failure:
            route.abort("connectionclosed" if answer.failure == "closed" else "timedout")
            return
        route.fulfill(status=answer.status, headers=answer.headers, body=answer.body)

    context.route(POSTHOG_HOSTS, posthog_host)

    def console(message: Any) -> None:
        text = message.text
        if "[PostHog" in text or "posthog" in text.lower():
            analytics.console.append(f"{message.type}: {text}")

    context.on("console", console)


def flush_pages(contexts: list[Any]) -> list[str]:
    """Make posthog-js in every open page of ``contexts`` send its batch queue now; returns the
    uuids of the events it sent."""
    sent: list[str] = []
    for context in contexts:
        try:
            pages = list(context.pages)
        except Exception:  # noqa: BLE001 - a closed context has nothing left to send
            continue
        for page in pages:
            try:
                uuids = page.evaluate(
                    "window.__hybridAnalytics ? window.__hybridAnalytics.flush() : []"
                )
            except Exception:  # noqa: BLE001 - a page closing or navigating away
                continue
            sent.extend(str(uuid) for uuid in uuids or ())
    return sent


def nudge_pages(contexts: list[Any], within: float | None) -> None:
    """While a wait is on (``within``: its timeout in seconds), posthog-js in every open page of
    ``contexts`` sends its batch the moment it has one, by firing its own batch timer early (a
    timer due later than ``within`` is left alone: it would not have delivered in time);
    ``None``: the wait is over, batches wait for their timer again."""
    script = (
        "ms => window.__hybridAnalytics && window.__hybridAnalytics.nudge "
        "&& window.__hybridAnalytics.nudge(ms)"
    )
    ms = None if within is None else within * 1000
    for context in contexts:
        try:
            pages = list(context.pages)
        except Exception:  # noqa: BLE001 - a closed context has nothing to send
            continue
        for page in pages:
            try:
                page.evaluate(script, ms)
            except Exception:  # noqa: BLE001 - a page closing or navigating away
                continue
