"""Third-party requests of attached pages, on a closed network (``analytics_block_third_party``).

An app's pages load CSS, fonts and scripts from public CDNs; on a CI network that reaches
nothing, Chromium takes seconds to give up on each host, and the page's ``load`` (and
posthog-js, loaded after them) waits. With the setting on, a ``context.route`` in every
attached context answers (``empty``: a 200 with an empty body of the right type) or aborts
(``abort``: ``net::ERR_BLOCKED_BY_CLIENT``) each request to a host that is not the page's own,
the loopback, or PostHog's (its cloud hosts and ``analytics_hosts``), and counts it per host.

The route's pattern is a regular expression Chromium matches itself, and it leaves out the
loopback, PostHog's hosts and the hosts the context's pages were navigated to: under
Playwright's sync API a route handler only runs while the test calls into Playwright, so an
app request the route caught while the test waits in ``analytics.wait_for`` would hang until
then. A page navigated to a new host (``page.goto``: the test is in Playwright) makes the
route learn that host and leave it out from then on.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pytest_hybrid_analytics._model.text import plural

__all__ = ["MODES", "ThirdPartyBlock"]

#: ``off``: requests pass; ``abort``: they fail at once; ``empty``: a 200 with an empty body.
MODES = ("off", "abort", "empty")
#: PostHog's cloud hosts (and their asset hosts), never third-party.
_POSTHOG = r"(?:[^/?#@]*\.)?posthog\.com"
_LOOPBACK = r"localhost|[^/?#@]*\.localhost|127(?:\.\d{1,3}){3}|\[::1\]"
_TYPES = {
    "script": "application/javascript",
    "stylesheet": "text/css",
    "document": "text/html",
    "font": "font/woff2",
}
#: The most blocked URLs remembered (to say so in a page's errors).
_MAX_URLS = 2000


class ThirdPartyBlock:
    """The run's setting and what it blocked, per host (thread-safe: routes run in the tests'
    threads). ``extra`` are hosts that are PostHog's too (``analytics_hosts``).

    >>> block = ThirdPartyBlock("abort", extra=["analytics.example.com"])
    >>> block.third_party("https://cdn.example.com/x.js", page="http://127.0.0.1:8000/")
    True
    >>> block.third_party("http://127.0.0.1:8000/app.js", page="http://127.0.0.1:8000/")
    False
    """

    def __init__(self, mode: str = "off", *, extra: Iterable[str] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.extra = {host.strip().lower() for host in extra if host.strip()}
        self.counts: Counter[str] = Counter()
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        """Whether requests are blocked at all."""
        return self.mode != "off"

    def third_party(self, url: str, *, page: str | None) -> bool:
        """Whether a request to ``url`` from a page at ``page`` goes to a host that is neither
        the page's, the loopback's nor PostHog's."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return False
        if _loopback(host) or host in self.extra or re.fullmatch(_POSTHOG, host):
            return False
        return host != (urlsplit(page or "").hostname or "").lower()

    def pattern(self, own: Iterable[str] = ()) -> re.Pattern[str]:
        """The URLs a context's route takes: http(s) to any host but the loopback, PostHog's,
        and ``own`` (the hosts the context's pages were navigated to)."""
        hosts = "|".join(
            [_LOOPBACK, _POSTHOG, *(re.escape(h) for h in sorted({*self.extra, *own}))]
        )
        return re.compile(rf"^https?://(?:[^/?#@]*@)?(?!(?:{hosts})(?::\d+)?(?:[/?#]|$))")

    def record(self, url: str) -> None:
        """Count one blocked request."""
        host = (urlsplit(url).hostname or "?").lower()
        with self._lock:
            self.counts[host] += 1
            if len(self._urls) < _MAX_URLS:
                self._urls.add(url)

    def blocked(self, url: str) -> bool:
        """Whether a request to ``url`` was blocked (a page's script that "failed to load")."""
        with self._lock:
            return url in self._urls

    def merge(self, counts: Mapping[str, int]) -> None:
        """Add what another process (a pytest-xdist worker) blocked."""
        with self._lock:
            self.counts.update({str(host): int(n) for host, n in counts.items()})

    def summary(self) -> str | None:
        """What was blocked, for the end of the run (``None``: nothing)."""
        with self._lock:
            counts = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        if not counts:
            return None
        total = sum(n for _, n in counts)
        done = "aborted" if self.mode == "abort" else "answered empty"
        hosts = ", ".join(f"{host} x{n}" for host, n in counts)
        return (
            f"analytics_block_third_party = {self.mode}: {plural(total, 'request')} to "
            f"{plural(len(counts), 'third-party host')} {done}: {hosts}"
        )

    def attach(self, context: Any) -> None:
        """Route the third-party requests of a Playwright ``BrowserContext``'s pages."""
        if self.on:
            _ContextRoute(self, context).install()


class _ContextRoute:
    """One context's route, whose pattern leaves out the hosts its pages were navigated to."""

    def __init__(self, block: ThirdPartyBlock, context: Any) -> None:
        self._block = block
        self._context = context
        self._own: set[str] = set()
        self._pattern = block.pattern()

    def install(self) -> None:
        self._context.route(self._pattern, self.handle)

    def handle(self, route: Any) -> None:
        request = route.request
        page = _page_url(request)
        if page == _NAVIGATION:  # the test chose where the page goes: that host is the app's
            self._learn(request.url)
            route.fallback()
        elif page is None or not self._block.third_party(request.url, page=page):
            route.fallback()
        else:
            self._block.record(request.url)
            if self._block.mode == "abort":
                route.abort("blockedbyclient")
            else:
                kind = _TYPES.get(request.resource_type, "text/plain")
                headers = {"Content-Type": kind, "Access-Control-Allow-Origin": "*"}
                route.fulfill(status=200, headers=headers, body=b"")

    def _learn(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        if not host or host in self._own or not self._block.third_party(url, page=None):
            return
        self._own.add(host)
        old, self._pattern = self._pattern, self._block.pattern(self._own)
        self._context.route(self._pattern, self.handle)
        self._context.unroute(old, self.handle)


_NAVIGATION = "a main frame's navigation"


def _page_url(request: Any) -> str | None:
    """The URL of the page a request belongs to: :data:`_NAVIGATION` for a main frame's own
    navigation, ``None`` for a request no page made (a service worker's: let through)."""
    try:
        frame = request.frame
        if frame.parent_frame is None and request.is_navigation_request():
            return _NAVIGATION
        return str(frame.page.main_frame.url)
    except Exception:  # noqa: BLE001 - a service worker's request has no frame
        return None


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
