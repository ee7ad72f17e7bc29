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
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_hybrid_analytics._model.events import RejectedRequest, Source
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.fake_api import Answer, Endpoint

__all__ = [
    "POSTHOG_HOSTS",
    "BrowserGate",
    "attach",
    "context_of",
    "find_posthog_js",
    "flush_pages",
    "init_script",
]

#: Every PostHog cloud host: ingestion (us.i, eu.i), assets (us-assets.i), app.
POSTHOG_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*posthog\.com(:\d+)?/", re.IGNORECASE)
_STATIC = re.compile(r"/static/(?:[^/]+/)?(?P<name>[\w.-]+\.js)$")
_SCRIPT = (Path(__file__).parent / "browser_init.js").read_text(encoding="utf-8")
_JS = {"Content-Type": "application/javascript", "Access-Control-Allow-Origin": "*"}


def init_script(collector_base: str, flush_ms: int = 250) -> str:
    """The init script for pages whose SDK requests go to ``collector_base``.

    ``flush_ms`` is posthog-js's batch interval under test (it clamps to 250..5000); ``0``
    turns batching off so every event leaves at once.
    """
    return _SCRIPT.replace("__COLLECTOR__", json.dumps(collector_base.rstrip("/"))).replace(
        "__FLUSH_MS__", str(int(flush_ms))
    )


def find_posthog_js(start: Path, configured: str | None = None) -> Path | None:
    """The ``dist/`` folder of a local posthog-js package, to serve the SDK's own files from.

    ``configured`` (the ``analytics_posthog_js`` ini key or ``HYBRID_ANALYTICS_POSTHOG_JS``)
    names a package folder; otherwise ``node_modules/posthog-js`` is looked for in ``start``,
    its ``fixtures/`` and their parents.
    """
    if configured:
        folder = Path(configured).expanduser()
        dist = folder if folder.name == "dist" else folder / "dist"
        return dist if (dist / "array.js").is_file() else None
    for base in (start, *start.parents):
        for candidate in (base / "node_modules", base / "fixtures" / "node_modules"):
            dist = candidate / "posthog-js" / "dist"
            if (dist / "array.js").is_file():
                return dist
    return None


class BrowserGate:
    """Between the collector and the fake API for requests a page sent through the init script:
    restores the original URL, says they came from the client, serves posthog-js's own files.

    >>> gate = BrowserGate(analytics.api, dist)
    >>> gate.handle("POST", "/t/abc/browser/https/us.i.posthog.com/e/", headers, body)
    """

    def __init__(self, api: Endpoint, dist: Path | None) -> None:
        self._api = api
        self._dist = dist

    @staticmethod
    def original_url(path: str) -> str | None:
        """``/…/browser/https/us.i.posthog.com/e/?x`` -> ``https://us.i.posthog.com/e/?x``."""
        _, marker, rest = path.partition("/browser/")
        scheme, _, remainder = rest.partition("/")
        if not marker or scheme not in ("http", "https") or not remainder:
            return None
        return f"{scheme}://{remainder}"

    def static(self, url: str) -> Answer | None:
        """posthog-js's own file for a ``/static/...js`` URL, or ``None``."""
        match = _STATIC.search(url.split("?", 1)[0])
        if match is None or self._dist is None:
            return None
        file = self._dist / match["name"]
        if not file.is_file():
            return None
        return Answer(200, dict(_JS), file.read_bytes())

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
    ) -> Answer:
        """Answer one request a page sent."""
        original = self.original_url(url) or url
        if method.upper() == "GET":
            served = self.static(original)
            if served is not None:
                return served
        return self._api.handle(
            method, original, headers, body, source="client", transport="browser"
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
    dist: Path | None,
    flush_ms: int = 250,
) -> None:
    """Make every page of a Playwright ``BrowserContext`` deliver its PostHog events to
    ``analytics``."""
    context.add_init_script(init_script(collector_base, flush_ms))
    gate = BrowserGate(analytics.api, dist)

    def posthog_host(route: Any) -> None:
        request = route.request
        if request.method == "GET":
            served = gate.static(request.url)
            if served is not None:
                route.fulfill(status=served.status, headers=served.headers, body=served.body)
                return
            if _STATIC.search(request.url.split("?", 1)[0]):
                reason = (
                    f"the page loads {request.url} from PostHog's CDN; the harness serves "
                    "it from a local posthog-js and found none: set analytics_posthog_js "
                    "(README, 'Browser')"
                )
                analytics.api.reject(
                    RejectedRequest(
                        "GET", request.url, dict(request.headers), b"", reason, "route", 404
                    )
                )
                route.fulfill(status=404, body=reason)
                return
        answer = analytics.api.handle(
            request.method,
            request.url,
            request.headers,
            request.post_data_buffer,
            source="client",
            transport="route",
        )
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
