"""``Analytics``: what the ``analytics`` fixture hands a test.

One recorder, the flag book every road answers from, and the fake PostHog API bound to both.
Free of pytest, so it also works as a plain object outside a test run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_hybrid_analytics.api import FakePostHog
from pytest_hybrid_analytics.flags import FlagBook
from pytest_hybrid_analytics.lifecycle import ClientNote
from pytest_hybrid_analytics.query import Query
from pytest_hybrid_analytics.recorder import EventRecorder

__all__ = ["Analytics"]


class Analytics(EventRecorder):
    """This test's PostHog events, flags and fake API.

    >>> analytics.flags.set("new-checkout", "test")
    >>> analytics.api.handle("POST", "/batch/", headers, body).status   # any road ends here
    200
    >>> analytics.wait_for("purchase_completed", source="server")
    """

    def __init__(self, flags: FlagBook | None = None) -> None:
        super().__init__()
        #: The flags every road answers (``analytics.flags.set("key", "variant")``).
        self.flags = flags if flags is not None else FlagBook()
        #: The fake PostHog API that records into this recorder.
        self.api = FakePostHog(self, self.flags)
        #: This test's base URL on the loopback collector, for SDKs in other processes
        #: (``host=``, ``api_host``): ``http://127.0.0.1:<port>/t/<token>``. Requests to it
        #: after the test ended never reach another test. ``None`` outside a harness.
        self.host: str | None = None
        #: What the end-of-test flush found: queued events, clients never shut down.
        self.client_notes: list[ClientNote] = []
        #: What posthog-js said in the console of attached pages (why it dropped an event...).
        self.console: list[str] = []
        self._browser: dict[str, Any] | None = None
        self._flush_clients: Callable[[], list[tuple[str, int]]] | None = None
        self._contexts: list[Any] = []

    def _flush_at_end(self) -> None:
        """The pages' part of :meth:`flush` as a test ends (the harness then flushes the
        server clients, noting what they still held): what never arrives becomes a note."""
        try:
            self.flush(clients=False)
        except AssertionError as missing:
            self.console.append(f"harness: {str(missing).splitlines()[0]}")

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
        if clients and self._flush_clients is not None:
            for site, delivered in self._flush_clients():
                if delivered:
                    self.client_notes.append(
                        ClientNote(
                            site,
                            f"{delivered} queued event{'s' * (delivered != 1)} flushed by "
                            "analytics.flush() (the app never called flush() or shutdown())",
                            delivered,
                        )
                    )
        if self._contexts:
            from pytest_hybrid_analytics.browser import flush_pages

            missing = self._wait_recorded(flush_pages(self._contexts), timeout)
            if missing:
                raise AssertionError(
                    f"analytics.flush(): posthog-js captured {len(missing)} event(s) in the open "
                    f"pages that did not arrive within {timeout:g} s (uuids "
                    f"{sorted(missing)[:5]}): lost in transit, or held back by the SDK.\n"
                    + self.timeline()
                    + "\nNext step: see what posthog-js printed (analytics.console), and whether "
                    "the page navigated while it was sending (README, 'Browser')."
                )

    def _notes(self, query: Query) -> list[str]:
        notes = []
        if self._flush_clients is not None:
            before = len(self)
            for site, delivered in self._flush_clients():
                if delivered:
                    self.client_notes.append(
                        ClientNote(
                            site,
                            f"{delivered} queued event{'s' * (delivered != 1)} flushed by a "
                            "wait that timed out (the app never called flush() or shutdown())",
                            delivered,
                        )
                    )
                    notes.append(
                        f"{delivered} event{'s were' if delivered != 1 else ' was'} "
                        f"still queued in the posthog client created at {site}: the app "
                        "never flushed it (guide: 'Server-side events delayed': call "
                        "flush() after the request, shutdown() on exit)."
                    )
            late = [e for e in self.events[before:] if query.matches(e)]
            if late:
                notes.append(
                    f"After that flush, {len(late)} event{'s' * (len(late) != 1)} "
                    "matching the query arrived."
                )
        if self.console:
            shown = list(dict.fromkeys(self.console))[-8:]
            notes += ["posthog-js said in the browser console:", *(f"  {line}" for line in shown)]
        return notes

    def attach(self, page_or_context: Any) -> Any:
        """Record the PostHog events of every page of a Playwright ``BrowserContext`` (or of a
        ``Page``'s context) you made by hand; pytest-playwright's ``context`` and ``page``
        fixtures are attached already. Returns the context.

        >>> alice = browser.new_context()
        >>> analytics.attach(alice)
        >>> alice.new_page().goto(shop_url)
        """
        if self._browser is None:
            raise RuntimeError("attach() needs a running harness: use the analytics fixture")
        from pytest_hybrid_analytics.browser import attach

        return attach(self, page_or_context, **self._browser)
