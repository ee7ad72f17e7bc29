"""``Analytics``: what the ``analytics`` fixture hands a test.

One recorder, the flag book every road answers from, and the fake PostHog API bound to both.
Free of pytest, so it also works as a plain object outside a test run. What the roads do for
it (flush the app's clients and the pages, attach a browser context) comes in through the small
:class:`Roads` protocol, given to the constructor.
"""

from __future__ import annotations

from typing import Any, Protocol

from pytest_hybrid_analytics._model.attempts import FaultedRequest
from pytest_hybrid_analytics._model.flag_calls import FlagCall
from pytest_hybrid_analytics._model.sdk_log import SdkLogRecord, sdk_log_lines
from pytest_hybrid_analytics._model.text import plural, was
from pytest_hybrid_analytics._recording.client_notes import ClientNote
from pytest_hybrid_analytics._recording.fake_api import FakePostHog
from pytest_hybrid_analytics._recording.faults import Faults
from pytest_hybrid_analytics._recording.flags import FlagBook
from pytest_hybrid_analytics._recording.query import Query
from pytest_hybrid_analytics._recording.recorder import EventRecorder
from pytest_hybrid_analytics._recording.store import EventStore

__all__ = ["Analytics", "Roads"]


class Roads(Protocol):
    """What the roads do for one test's :class:`Analytics` (the harness provides it).

    >>> class NoRoads:
    ...     def flush_clients(self, into, *, within=None): return []
    ...     def flush_pages(self): return []
    ...     def keep_nudging(self, within): pass
    ...     def attach(self, analytics, target): return target
    >>> Analytics(roads=NoRoads())
    """

    def flush_clients(
        self, into: EventStore, *, within: float | None = None
    ) -> list[tuple[str, int, str | None]]:
        """Flush the live ``posthog`` clients (only those that would send within ``within``
        seconds anyway, when given); each client's creation site, how many of its events then
        landed in ``into``, and why the SDK would not have delivered them itself in time
        (``None``: it would have)."""
        ...

    def flush_pages(self) -> list[str]:
        """Make posthog-js in every attached page send its queue; the uuids it sent."""
        ...

    def keep_nudging(self, within: float | None) -> None:
        """While a wait is on (``within``: its timeout), flush a client the moment the app
        queues an event in it, and make attached pages send their batch at once, if either
        would have sent within that time anyway; ``None``: the wait is over."""
        ...

    def attach(self, analytics: Analytics, target: Any) -> Any:
        """Deliver the PostHog events of every page of ``target`` (a Playwright context or
        page) to ``analytics``; returns the context."""
        ...


class Analytics(EventRecorder):
    """This test's PostHog events, flags and fake API.

    >>> analytics.flags.set("new-checkout", "test")
    >>> analytics.api.handle("POST", "/batch/", headers, body).status   # any road ends here
    200
    >>> analytics.wait_for("purchase_completed", source="server")

    Outside pytest, ``Analytics()`` is a recorder with a fake API and a flag book; the harness
    builds one with its ``host`` and its ``roads``.
    """

    def __init__(
        self,
        flags: FlagBook | None = None,
        *,
        host: str | None = None,
        roads: Roads | None = None,
    ) -> None:
        super().__init__()
        #: The flags every road answers (``analytics.flags.set("key", "variant")``).
        self.flags = flags if flags is not None else FlagBook()
        #: PostHog misbehaving on purpose, on every road: ``fail``, ``delay``, ``drop``,
        #: ``outage``, ``quota_limit``, ``event_results``; and what the SDKs tried
        #: (``faults.attempts``). README, "When PostHog is down".
        self.faults = Faults(on_change=self.wake)
        #: The fake PostHog API that records into this recorder.
        self.api = FakePostHog(self, self.flags, self.faults)
        #: This test's base URL on the loopback collector, for SDKs in other processes
        #: (``host=``, ``api_host``): ``http://127.0.0.1:<port>/t/<token>``. Requests to it
        #: after the test ended never reach another test. ``None`` outside a harness.
        self.host = host
        #: What the harness found about the app's ``posthog`` clients: events they still held
        #: when it flushed them, clients never shut down.
        self.client_notes: list[ClientNote] = []
        #: What posthog-js said in the console of attached pages (why it dropped an event...).
        self.console: list[str] = []
        #: Errors and warnings the ``posthog`` SDK logged in this process during the test (it
        #: swallows them: a wrong ``capture()`` signature, a capture after ``shutdown()``...).
        self.sdk_log: list[SdkLogRecord] = []
        #: What the attached pages' own scripts did wrong: uncaught errors, scripts that failed
        #: to load, a page that never called ``posthog.init``.
        self.page_errors: list[str] = []
        self._roads = roads

    @property
    def flag_calls(self) -> list[FlagCall]:
        """Every feature-flag evaluation the SDKs asked the fake API for in this test, in order:
        who asked (``source``, ``sdk``), for whom (``distinct_id``), which flags by name
        (``keys``; ``None``: all), with which person and group properties, and the ``values``
        answered. Local evaluation shows as one ``"definitions"`` call (the SDK then evaluates
        in its own process, and its ``$feature_flag_called`` events say for whom).

        >>> [(c.source, c.distinct_id, c.values["new-checkout"]) for c in analytics.flag_calls]
        [('client', 'anon-1', 'test'), ('server', 'user-1', 'test')]
        """
        return self.api.flag_calls

    @property
    def faulted(self) -> list[FaultedRequest]:
        """The requests a fault answered (``analytics.faults``), each kept whole with the
        answer it got; their events are not on the timeline unless a retry was accepted.

        >>> analytics.faults.fail(503)
        >>> [(r.fault, r.status, r.uuids) for r in analytics.faulted]
        [('fail 503', 503, ('0192...',))]
        """
        return self.faults.faulted

    def flush(self, *, timeout: float = 5.0, clients: bool = True) -> None:
        """Deliver what the SDKs still hold, and return once it is recorded: posthog-js's batch
        queue in every attached page, and (``clients=True``) every live ``posthog`` client in
        this process; what a client still held is noted in :attr:`client_notes` (the app never
        flushed it).

        Call it before asserting that something did *not* happen (no duplicates, no PII): an
        event still in a queue cannot fail a check. The assertions call it themselves for the
        pages when given ``analytics`` (the server side's delivery is the app's to do, and a
        ``wait_for`` that times out says when it did not).

        >>> page.click("#buy")
        >>> analytics.flush()
        >>> assert_no_duplicates(analytics)
        """
        __tracebackhide__ = True
        if self._roads is None:
            return
        if clients:
            self._flush_clients("by analytics.flush()")
        # An event a fault answered reached PostHog's door: what the SDK does next (a retry
        # later, or nothing) is its own; the flush does not wait for it.
        missing = self.wait_recorded(
            self._roads.flush_pages(),
            timeout,
            also=lambda: {u for request in self.faults.faulted for u in request.uuids},
        )
        if missing:
            raise AssertionError(
                f"analytics.flush(): posthog-js captured {plural(len(missing), 'event')} in the "
                f"open pages that did not arrive within {timeout:g} s (uuids "
                f"{sorted(missing)[:5]}): lost in transit, or held back by the SDK.\n"
                + self.timeline()
                + "\nNext step: see what posthog-js printed (analytics.console), and whether "
                "the page navigated while it was sending (README, 'Browser')."
            )

    def _flush_clients(self, by: str) -> list[tuple[str, int, str | None]]:
        """Flush the app's live clients; a finding for each that held events the SDK would
        not have delivered itself in time (a flush the test or the harness makes is never
        counted against the app otherwise)."""
        assert self._roads is not None
        delivered = [(site, n, why) for site, n, why in self._roads.flush_clients(self) if n]
        self.client_notes.extend(
            ClientNote.queued(site, n, by, why) for site, n, why in delivered if why
        )
        return delivered

    def _nudge(self, timeout: float) -> None:
        """A wait not satisfied at once: the in-process clients that would deliver within
        ``timeout`` anyway deliver now, so the wait ends milliseconds after the app captured
        (what would not have arrived in time is left alone: the verdict is the same as without
        the nudge); attached pages fire posthog-js's own batch timer early, so its batch leaves
        as it always does, only sooner."""
        if self._roads is not None:
            # First on, then the flush: an event the app queues meanwhile is not missed.
            self._roads.keep_nudging(timeout)
            self._roads.flush_clients(self, within=timeout)

    def _wait_over(self) -> None:
        if self._roads is not None:
            self._roads.keep_nudging(None)

    def _notes(self, query: Query) -> list[str]:
        notes = []
        if self._roads is not None:
            before = len(self)
            for site, delivered, why in self._flush_clients("by a wait that timed out"):
                held = (
                    f"{plural(delivered, 'event')} {was(delivered)} still queued in the posthog "
                    f"client created at {site}"
                )
                notes.append(
                    f"{held}: the app never flushed it, and {why} (guide: 'Server-side events "
                    "delayed': call flush() after the request, shutdown() on exit)."
                    if why
                    else f"{held}: its consumer sends on its own, but later than this wait's "
                    "timeout (raise timeout=, or flush() after the request)."
                )
            late = [e for e in self.events[before:] if query.matches(e)]
            if late:
                notes.append(
                    f"After that flush, {plural(len(late), 'event')} matching the query arrived."
                )
        faulted = self.faults.faulted
        if faulted:
            lost = [e for request in faulted for e in request.events if query.matches(e)]
            kinds = ", ".join(dict.fromkeys(request.fault for request in faulted))
            notes.append(
                f"analytics.faults answered {plural(len(faulted), 'request')} instead of PostHog "
                f"({kinds}); their events count only once an SDK retry is accepted"
                + (
                    f", and {plural(len(lost), 'event')} matching the query {was(len(lost))} "
                    "among them"
                    if lost
                    else ""
                )
                + " (analytics.faulted, analytics.faults.attempts)."
            )
        if self.console:
            shown = list(dict.fromkeys(self.console))[-8:]
            notes += ["posthog-js said in the browser console:", *(f"  {line}" for line in shown)]
        notes += sdk_log_lines(self.sdk_log)
        if self.page_errors and not any(e.source == "client" for e in self.events):
            said = list(dict.fromkeys(self.page_errors))[-8:]
            notes += [
                "No client event arrived, and the attached pages reported (analytics.page_errors):",
                *(f"  {line}" for line in said),
            ]
        return notes

    def attach(self, page_or_context: Any) -> Any:
        """Record the PostHog events of every page of a Playwright ``BrowserContext`` (or of a
        ``Page``'s context) you made by hand; pytest-playwright's ``context`` and ``page``
        fixtures are attached already. Returns the context.

        >>> alice = browser.new_context()
        >>> analytics.attach(alice)
        >>> alice.new_page().goto(shop_url)
        """
        if self._roads is None:
            raise RuntimeError("attach() needs a running harness: use the analytics fixture")
        return self._roads.attach(self, page_or_context)
