"""The harness for a whole run: the loopback collector and the in-process roads, each handing
requests to the fake PostHog API of whichever test is current.

Free of pytest: the plugin starts one per process (so pytest-xdist workers never share a
port or a recorder) and tells it which ``Analytics`` is current; outside pytest it works as a
context manager.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

from pytest_hybrid_analytics._httpx_road import HttpxRoad
from pytest_hybrid_analytics._requests_road import RequestsRoad
from pytest_hybrid_analytics.api import Endpoint, FakePostHog
from pytest_hybrid_analytics.browser import BrowserGate
from pytest_hybrid_analytics.collector import Collector
from pytest_hybrid_analytics.harness import Analytics
from pytest_hybrid_analytics.hosts import PostHogHosts
from pytest_hybrid_analytics.lifecycle import ClientNote, ClientWatch

__all__ = ["Harness"]

_TOKEN = re.compile(r"^/t/(?P<token>[0-9a-f]{12})(?=/|$)")


class Harness:
    """Every road into the fake PostHog API, for one process.

    >>> with Harness() as harness:
    ...     analytics = harness.begin()          # what the ``analytics`` fixture does
    ...     Posthog("phc_key").capture("signed_up", distinct_id="u1")   # claimed, not sent
    ...     analytics.wait_for("signed_up")
    ...     harness.end(analytics)
    """

    def __init__(
        self,
        *,
        extra_hosts: Iterable[str] = (),
        posthog_js: Path | None = None,
        flush_ms: int = 250,
    ) -> None:
        #: posthog-js's ``dist/`` to serve the SDK's own files to pages from (or ``None``).
        self.posthog_js = posthog_js
        #: posthog-js's batch interval in attached pages (``0``: no batching).
        self.flush_ms = flush_ms
        self._lock = threading.Lock()
        self._current: Analytics | None = None
        self._by_token: dict[str, Analytics] = {}
        #: Where requests go while no test is current: answered, kept, never sent.
        self.idle = FakePostHog()
        #: Where requests for a test that already ended go: never into the next test.
        self.late = FakePostHog()
        self.collector = Collector(self._route)
        self.hosts = PostHogHosts(extra=extra_hosts, exclude=[self.collector.netloc])
        self._requests = RequestsRoad(self.hosts, self._api)
        self._httpx = HttpxRoad(self.hosts, self._api)
        self.clients = ClientWatch()
        self._mark = 0

    def _api(self) -> FakePostHog:
        current = self._current
        return current.api if current is not None else self.idle

    def _route(self, path: str) -> Endpoint:
        match = _TOKEN.match(path)
        if match is None:
            return self._api()
        analytics = self._by_token.get(match["token"])
        api = analytics.api if analytics is not None else self.late
        if path[match.end() :].startswith("/browser/"):
            return BrowserGate(api, self.posthog_js)
        return api

    @property
    def url(self) -> str:
        """The collector's base URL (``http://127.0.0.1:<port>``)."""
        return self.collector.url

    def start(self) -> Harness:
        """Start the collector and install every road whose library is installed."""
        self.collector.start()
        if importlib.util.find_spec("requests") is not None:
            self._requests.install()
        if importlib.util.find_spec("httpx") is not None and (
            importlib.util.find_spec("respx") is not None
        ):
            self._httpx.install()
        self.clients.install()
        return self

    def settle(self) -> list[ClientNote]:
        """Flush what live ``posthog`` clients still hold, into the idle recorder: at exit
        their own atexit flush would otherwise send it after the roads are gone."""
        return self.clients.settle(0, lambda: len(self.idle.orphans))

    def stop(self) -> list[ClientNote]:
        """:meth:`settle`, then uninstall every road and stop the collector."""
        notes = self.settle()
        self.clients.uninstall()
        self._httpx.uninstall()
        self._requests.uninstall()
        self.collector.stop()
        return notes

    def begin(self, analytics: Analytics | None = None) -> Analytics:
        """Make ``analytics`` (or a new one) the test every road delivers to."""
        analytics = analytics if analytics is not None else Analytics()
        token = secrets.token_hex(6)
        analytics.host = f"{self.url}/t/{token}"
        analytics._flush_clients = lambda: [
            (item.site, count) for item, count in self.clients.flush_live(lambda: len(analytics))
        ]
        analytics._browser = {
            "collector_base": f"{analytics.host}/browser",
            "dist": self.posthog_js,
            "flush_ms": self.flush_ms,
        }
        with self._lock:
            self._current = analytics
            self._by_token[token] = analytics
        self._mark = self.clients.mark()
        return analytics

    def end(self, analytics: Analytics) -> list[ClientNote]:
        """Flush live ``posthog`` clients into ``analytics``, then detach it; returns what the
        flush found (queued events, clients never shut down)."""
        notes = self.clients.settle(self._mark, lambda: len(analytics))
        with self._lock:
            if self._current is analytics:
                self._current = None
            for token, known in list(self._by_token.items()):
                if known is analytics:
                    del self._by_token[token]
        self._httpx.forget_calls()
        analytics.client_notes.extend(notes)
        return notes

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
