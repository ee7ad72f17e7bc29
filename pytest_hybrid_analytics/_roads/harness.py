"""The harness for a whole run: the loopback collector and the in-process roads, each handing
requests to the fake PostHog API of whichever test is current.

Free of pytest: the plugin makes one per process (so pytest-xdist workers never share a
port or a recorder) and tells it which ``Analytics`` is current; outside pytest it works as a
context manager. Nothing happens when it is made: :meth:`Harness.guard` installs the in-process
roads (the network guard), and the collector binds its socket on first use (:attr:`url`).
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from pytest_hybrid_analytics._model.sdk_log import SdkLogRecord
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.client_notes import ClientNote
from pytest_hybrid_analytics._recording.fake_api import Endpoint, FakePostHog
from pytest_hybrid_analytics._recording.store import EventStore
from pytest_hybrid_analytics._roads import browser
from pytest_hybrid_analytics._roads.browser import ApiHostGate, BrowserGate, PostHogJsFiles
from pytest_hybrid_analytics._roads.client_watch import ClientWatch
from pytest_hybrid_analytics._roads.collector import Collector
from pytest_hybrid_analytics._roads.hosts import PostHogHosts
from pytest_hybrid_analytics._roads.httpx_road import HttpxRoad
from pytest_hybrid_analytics._roads.requests_road import RequestsRoad
from pytest_hybrid_analytics._roads.sdk_log import SdkLogHandler
from pytest_hybrid_analytics._roads.third_party import ThirdPartyBlock

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
        posthog_js: PostHogJsFiles = None,
        flush_ms: int = 250,
    ) -> None:
        #: Where pages get posthog-js's own files: a ``dist/``, a ``PostHogJs`` (a local
        #: package, or the published one fetched on first use), or ``None``.
        self.posthog_js: PostHogJsFiles = posthog_js
        #: What attached pages do with third-party requests (``analytics_block_third_party``),
        #: and what they blocked.
        self.third_party = ThirdPartyBlock()
        #: posthog-js's batch interval in attached pages (``0``: no batching).
        self.flush_ms = flush_ms
        self._lock = threading.Lock()
        self._current: Analytics | None = None
        self._by_token: dict[str, Analytics] = {}
        #: Where requests go while no test is current: answered, kept, never sent.
        self.idle = FakePostHog()
        #: Where requests for a test that already ended go: never into the next test.
        self.late = FakePostHog()
        self._collector: Collector | None = None
        self.hosts = PostHogHosts(extra=extra_hosts)
        self._requests = RequestsRoad(self.hosts, self._api)
        self._httpx = HttpxRoad(self.hosts, self._api)
        self.clients = ClientWatch()
        #: The ``posthog`` logger's errors and warnings, for the current test's ``sdk_log``
        #: (installed with the first test that uses ``analytics``).
        self.sdk_log = SdkLogHandler(self._log, self._client_site)
        self._guarded = False
        self._mark = 0

    def _api(self) -> FakePostHog:
        current = self._current
        return current.api if current is not None else self.idle

    def _log(self, record: SdkLogRecord) -> None:
        """A record the ``posthog`` loggers wrote: the current test's; a capture on a client
        the app had shut down is also a lifecycle note of that client."""
        current = self._current
        if current is None:
            return
        current.sdk_log.append(record)
        dropped = record.dropped_after_shutdown
        if dropped is not None:
            at = f" at {record.site}" if record.site else ""
            note = ClientNote(
                record.client_site or "an unknown site",
                f"used after shutdown(): the SDK dropped {dropped!r}{at}",
            )
            if note not in current.client_notes:
                current.client_notes.append(note)

    def _client_site(self, client: Any) -> str | None:
        return self.clients.site_of(client)

    def _route(self, path: str) -> Endpoint:
        """Who answers a request to the collector: a page's request sent through the init
        script goes through :class:`BrowserGate`; anything else (an SDK in another process, a
        page using the collector itself as its ``api_host``) through :class:`ApiHostGate`,
        which also serves posthog-js's own files."""
        match = _TOKEN.match(path)
        if match is None:
            return ApiHostGate(self._api(), self.posthog_js)
        analytics = self._by_token.get(match["token"])
        api = analytics.api if analytics is not None else self.late
        if path[match.end() :].startswith("/browser/"):
            return BrowserGate(api, self.posthog_js, pages=analytics, blocked=self.third_party)
        return ApiHostGate(api, self.posthog_js)

    @property
    def collector(self) -> Collector:
        """The loopback collector, started (its socket bound) on first use."""
        with self._lock:
            if self._collector is None:
                collector = Collector(self._route, keep_alive=self._keep_alive).start()
                self.hosts.exclude.add(collector.netloc)
                self._collector = collector
            return self._collector

    def _keep_alive(self) -> bool:
        """Connections stay open unless a test's ``drop`` is armed: each drop then falls on a
        fresh connection, which a browser does not silently re-send."""
        with self._lock:
            tests = list(self._by_token.values())
        return not any(test.faults.dropping for test in tests)

    def _close_idle(self) -> None:
        if self._collector is not None:
            self._collector.close_idle()

    @property
    def started(self) -> bool:
        """Whether the collector is listening (something asked for its :attr:`url`)."""
        return self._collector is not None

    @property
    def guarded(self) -> bool:
        """Whether the in-process roads are installed (:meth:`guard`)."""
        return self._guarded

    @property
    def url(self) -> str:
        """The collector's base URL (``http://127.0.0.1:<port>``); starts it on first use."""
        return self.collector.url

    def guard(self) -> Harness:
        """Install every in-process road whose library is installed (``requests``, ``httpx``
        with respx, the ``posthog`` client watch): from now on no PostHog request made in this
        process leaves it. Binds no socket. Idempotent, and it mends a road another patcher
        took away (each test that uses ``analytics`` calls it again)."""
        if importlib.util.find_spec("requests") is not None:
            self._requests.install()
        if importlib.util.find_spec("httpx") is not None and (
            importlib.util.find_spec("respx") is not None
        ):
            self._httpx.install()
        self.clients.install()
        self._guarded = True
        return self

    def start(self) -> Harness:
        """:meth:`guard`, and start the collector."""
        self.guard()
        _ = self.collector
        return self

    def settle(self) -> list[ClientNote]:
        """Flush what live ``posthog`` clients still hold, into the idle recorder: at exit
        their own atexit flush would otherwise send it after the roads are gone."""
        return self.clients.settle(0, lambda: len(self.idle.orphans))

    def stop(self) -> list[ClientNote]:
        """:meth:`settle`, then uninstall every road and stop the collector."""
        notes = self.settle()
        self.sdk_log.uninstall()
        self.clients.uninstall()
        self._httpx.uninstall()
        self._requests.uninstall()
        self._guarded = False
        with self._lock:
            collector, self._collector = self._collector, None
        if collector is not None:
            collector.stop()
            self.hosts.exclude.discard(collector.netloc)
        return notes

    def begin(self) -> Analytics:
        """A new ``Analytics``, made the test every road delivers to (the roads are installed
        and the collector started, if they were not yet)."""
        self.start()
        self.sdk_log.install()
        token = secrets.token_hex(6)
        host = f"{self.url}/t/{token}"
        roads = _TestRoads(
            self.clients, f"{host}/browser", self.posthog_js, self.flush_ms, self.third_party
        )
        analytics = Analytics(host=host, roads=roads)
        analytics.faults.on_drop = self._close_idle
        with self._lock:
            self._current = analytics
            self._by_token[token] = analytics
        self._mark = self.clients.mark()
        return analytics

    def flush_pages(self, analytics: Analytics) -> None:
        """The pages' part of :meth:`Analytics.flush` as a test ends (then :meth:`end` flushes
        the server clients, noting what they still held): what never arrives becomes a line
        of ``analytics.console``. The test's faults end first: PostHog is back for the
        teardown."""
        analytics.faults.release()
        try:
            analytics.flush(clients=False)
        except AssertionError as missing:
            analytics.console.append(f"harness: {str(missing).splitlines()[0]}")

    def end(self, analytics: Analytics) -> list[ClientNote]:
        """Flush live ``posthog`` clients into ``analytics``, then detach it; returns what the
        flush found (queued events, clients never shut down)."""
        analytics.faults.release()
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


class _TestRoads:
    """What the roads do for one test's ``Analytics`` (its :class:`Roads`): flush the app's
    clients and the attached pages, attach a browser context."""

    def __init__(
        self,
        clients: ClientWatch,
        collector_base: str,
        dist: PostHogJsFiles,
        flush_ms: int,
        block: ThirdPartyBlock | None = None,
    ) -> None:
        self._clients = clients
        self._collector_base = collector_base
        self._dist = dist
        self._flush_ms = flush_ms
        self._block = block
        self._contexts: list[Any] = []
        self._thread: int | None = None

    def flush_clients(
        self, into: EventStore, *, within: float | None = None
    ) -> list[tuple[str, int, str | None]]:
        delivered = self._clients.flush_live(lambda: len(into), within=within)
        return [(item.site, n, why) for item, n, why in delivered]

    def flush_pages(self) -> list[str]:
        return browser.flush_pages(self._contexts) if self._contexts else []

    def keep_nudging(self, within: float | None) -> None:
        self._clients.nudge_within = within
        # Pages are told on the thread that attached them (Playwright's sync API is bound to
        # it); a wait on another thread leaves them to their own batch.
        if self._contexts and threading.get_ident() == self._thread:
            browser.nudge_pages(self._contexts, within)

    def attach(self, analytics: Analytics, target: Any) -> Any:
        context = browser.context_of(target)
        if not any(known is context for known in self._contexts):
            self._contexts.append(context)
            self._thread = threading.get_ident()
            browser.attach(
                analytics,
                context,
                collector_base=self._collector_base,
                dist=self._dist,
                flush_ms=self._flush_ms,
                block=self._block,
            )
        return context
