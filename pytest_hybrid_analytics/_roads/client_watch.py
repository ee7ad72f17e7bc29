"""Server SDK lifecycle: ``posthog`` clients that still hold events, or were never shut down.

The guide's troubleshooting table: "Server-side events delayed: call flush()/shutdown()" and
"Server-side SDK shutdown on process exit". The watch wraps the public ``Client.__init__`` and
``Client.shutdown`` of the ``posthog`` package, so it knows every client the app creates. It
flushes live clients when a wait needs their events now, and at the end of each test (queued
events land in that test, not the next one, and never leave the machine).

A flush the harness makes is never counted against the app: posthog-python's consumer threads
send on their own every ``flush_interval`` (5 s in 7.x, 0.5 s before), and a best-effort flush
at exit is the SDK's own. What the watch reports is where events would really be lost or late:
no consumer thread alive to send them, or a ``flush_interval`` longer than
:data:`TOLERATED_DELAY`.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["TOLERATED_DELAY", "ClientWatch", "delivery_delay", "delivery_problem"]

#: The public ``Client`` methods that queue an event (each posthog-python version has some).
_ENQUEUING = ("capture", "set", "set_once", "alias", "group_identify", "capture_exception")

#: The longest a client may hold an event before it is "Server-side events delayed" (the
#: guide's troubleshooting row): PostHog's own default is 5 s; a batch held for minutes shows
#: in PostHog long after the action, and is lost if the process dies first.
TOLERATED_DELAY = 60.0


def delivery_delay(client: Any) -> float | None:
    """How long ``client`` may hold an event before its consumer threads send it on their own
    (their ``flush_interval``); ``None`` when none is alive to send it (sync mode sends at
    once and is never asked). Works on every posthog-python version (``consumers``)."""
    consumers = getattr(client, "consumers", None) or []
    alive = [c for c in consumers if c.is_alive()]
    if not alive or getattr(client, "send", True) is False:
        return None
    return max(float(getattr(c, "flush_interval", 0.5) or 0.5) for c in alive)


def delivery_problem(client: Any) -> str | None:
    """Why the SDK would not deliver ``client``'s queued events itself in time, or ``None``."""
    delay = delivery_delay(client)
    if delay is None:
        return "no consumer thread of the client is running to send them (they would be lost)"
    if delay > TOLERATED_DELAY:
        return (
            f"its flush_interval is {delay:g} s, so they would reach PostHog that late, or "
            "never if the process ends first"
        )
    return None


_HERE = os.path.dirname(os.path.abspath(__file__))


def _creation_site() -> str:
    """Where the app made the client: its first frame outside posthog and the plugin. The
    module-level API (``posthog.capture(...)`` after ``posthog.api_key = ...``) makes its client
    on its first call, so that call is named, and said to be that."""
    frame = sys._getframe(2)
    module_level = False
    while frame is not None:
        path = frame.f_code.co_filename
        module_level = module_level or path.endswith(f"{os.sep}posthog{os.sep}__init__.py")
        if not (path.startswith(_HERE) or f"{os.sep}posthog{os.sep}" in path):
            site = f"{os.path.relpath(path) if not path.startswith('<') else path}:{frame.f_lineno}"
            return site + (
                " (the module-level posthog API's client, made by its first call)"
                if module_level
                else ""
            )
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


@dataclass
class _Tracked:
    client: weakref.ref[Any]
    site: str
    number: int
    shut_down: bool = False
    #: Events the last flush left in the client: posthog < 7's ``flush()`` would block.
    held_back: int = 0


@dataclass
class ClientWatch:
    """Knows every ``posthog.Client`` created while installed."""

    _tracked: list[_Tracked] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _originals: dict[str, Any] = field(default_factory=dict)
    _created: int = 0
    #: The ``posthog`` version when its ``flush()`` is ``queue.join()`` (before 7.0), which
    #: returns only once the consumer sent the batch on its own: after the whole
    #: ``flush_interval``, or never with no consumer alive. ``None``: 7.x, or no ``posthog``.
    _join_flush: str | None = None
    #: While a wait is not yet satisfied: the longest a client may hold an event and still be
    #: flushed the moment the app captures one (``None``: no wait is on).
    nudge_within: float | None = None

    def install(self) -> None:
        """Wrap ``posthog.Client.__init__`` and ``shutdown`` (idempotent; a no-op without the
        ``posthog`` package)."""
        if self._originals:
            return
        try:
            from posthog.client import Client
        except ImportError:
            return
        init, shutdown = Client.__init__, Client.shutdown
        watch = self
        try:
            from posthog.version import VERSION
        except ImportError:  # pragma: no cover (every posthog release has it)
            VERSION = ""
        if VERSION.split(".")[0].isdigit() and int(VERSION.split(".")[0]) < 7:
            self._join_flush = VERSION

        def tracked_init(client: Any, *args: Any, **kwargs: Any) -> None:
            init(client, *args, **kwargs)
            with watch._lock:
                watch._tracked.append(
                    _Tracked(weakref.ref(client), _creation_site(), watch._created)
                )
                watch._created += 1

        def tracked_shutdown(client: Any, *args: Any, **kwargs: Any) -> Any:
            for item in watch._live():
                if item.client() is client:
                    item.shut_down = True
            return shutdown(client, *args, **kwargs)

        Client.__init__ = tracked_init  # type: ignore[method-assign,assignment]
        Client.shutdown = tracked_shutdown  # type: ignore[method-assign]
        self._originals = {"__init__": init, "shutdown": shutdown}
        for name in _ENQUEUING:
            original = getattr(Client, name, None)
            if callable(original):
                self._originals[name] = original
                setattr(Client, name, self._nudging(original))

    def _nudging(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` (a public method that queues an event), followed, while a wait is on,
        by a flush of that client if it would have sent within the wait's time anyway: an
        event captured while a test waits reaches it at once, not a batch later."""
        watch = self

        def queued(client: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(client, *args, **kwargs)
            within = watch.nudge_within
            if within is not None:
                delay = delivery_delay(client)
                if delay is not None and delay <= within:
                    client.flush()
            return result

        queued.__wrapped__ = original  # type: ignore[attr-defined]
        return queued

    def uninstall(self) -> None:
        """Unwrap."""
        if not self._originals:
            return
        from posthog.client import Client

        for name, original in self._originals.items():
            setattr(Client, name, original)
        self._originals = {}

    def mark(self) -> int:
        """A position to ask :meth:`settle` about clients created after it."""
        with self._lock:
            return self._created

    def _live(self) -> list[_Tracked]:
        with self._lock:
            self._tracked = [item for item in self._tracked if item.client() is not None]
            return list(self._tracked)

    def site_of(self, client: Any) -> str | None:
        """Where the app created ``client`` (``path:line``), or ``None`` if unknown."""
        for item in self._live():
            if item.client() is client:
                return item.site
        return None

    def flush_live(
        self, count_events: Callable[[], int], *, within: float | None = None
    ) -> list[tuple[_Tracked, int, str | None]]:
        """Flush every live client not shut down; each with how many events it delivered
        (``count_events`` counts the recorder they land in) and why the SDK would not have
        delivered them itself in time (``None``: it would have).

        ``within``: flush only the clients whose consumers would send within that many
        seconds anyway (a wait that only wants sooner what would come in its time).

        Before posthog 7, ``flush()`` blocks until the consumer sends on its own: a client
        that would not deliver in time is not flushed (0 delivered); what it holds is kept in
        its ``held_back`` for :meth:`settle` to report."""
        delivered: list[tuple[_Tracked, int, str | None]] = []
        for item in self._live():
            client = item.client()
            if client is None or item.shut_down:
                continue
            if within is not None:
                delay = delivery_delay(client)
                if delay is None or delay > within:
                    continue
            problem = delivery_problem(client)
            item.held_back = 0
            if problem is not None and self._join_flush is not None:
                queue = getattr(client, "queue", None)
                item.held_back = int(getattr(queue, "unfinished_tasks", 0) or 0)
                delivered.append((item, 0, problem))
                continue
            before = count_events()
            client.flush()
            delivered.append((item, count_events() - before, problem))
        return delivered

    def settle(self, since: int, count_events: Callable[[], int]) -> list[ClientNote]:
        """Flush every live client that was not shut down; note what it delivered where the
        SDK would not have delivered it itself in time (a finding), and the clients created
        since ``since`` that are still running (information: a long-lived client is normal)."""
        notes = []
        for item, flushed, problem in self.flush_live(count_events):
            if flushed and problem:
                notes.append(ClientNote.queued(item.site, flushed, "at teardown", problem))
            if item.held_back and problem:
                notes.append(self._held_back_note(item, problem))
            if item.number >= since:
                notes.append(
                    ClientNote(
                        item.site,
                        "never shut down during the test (fine for a long-lived client; "
                        "otherwise call shutdown() when done)",
                        finding=False,
                    )
                )
        return notes

    def _held_back_note(self, item: _Tracked, problem: str) -> ClientNote:
        """The teardown finding for what a posthog < 7 client still holds: the harness did
        not flush it, since that ``flush()`` would block (:meth:`ClientNote.queued`'s
        wording, adapted)."""
        client = item.client()
        block = "for ever" if client is None or delivery_delay(client) is None else "that long"
        return ClientNote(
            item.site,
            f"{plural(item.held_back, 'queued event')} left in the client at teardown: "
            f"{problem} (the app never called flush(); posthog {self._join_flush}'s flush() "
            f"would block {block}, so the harness did not call it either)",
        )
