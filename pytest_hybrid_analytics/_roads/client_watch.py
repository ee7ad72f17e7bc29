"""Server SDK lifecycle: ``posthog`` clients that still hold events, or were never shut down.

The guide's troubleshooting table: "Server-side events delayed: call flush()/shutdown()" and
"Server-side SDK shutdown on process exit". The watch wraps the public ``Client.__init__`` and
``Client.shutdown`` of the ``posthog`` package, so it knows every client the app creates. At
the end of each test it flushes the live ones (queued events land in that test, not the next
one, and never leave the machine), counts what the flush delivered, and names the clients the
test created but never shut down.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["ClientWatch"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _creation_site() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if not (path.startswith(_HERE) or f"{os.sep}posthog{os.sep}" in path):
            return f"{os.path.relpath(path) if not path.startswith('<') else path}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


@dataclass
class _Tracked:
    client: weakref.ref[Any]
    site: str
    number: int
    shut_down: bool = False


@dataclass
class ClientWatch:
    """Knows every ``posthog.Client`` created while installed."""

    _tracked: list[_Tracked] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _originals: dict[str, Any] = field(default_factory=dict)
    _created: int = 0

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

    def uninstall(self) -> None:
        """Unwrap."""
        if not self._originals:
            return
        from posthog.client import Client

        Client.__init__ = self._originals["__init__"]  # type: ignore[method-assign]
        Client.shutdown = self._originals["shutdown"]  # type: ignore[method-assign]
        self._originals = {}

    def mark(self) -> int:
        """A position to ask :meth:`settle` about clients created after it."""
        with self._lock:
            return self._created

    def _live(self) -> list[_Tracked]:
        with self._lock:
            self._tracked = [item for item in self._tracked if item.client() is not None]
            return list(self._tracked)

    def flush_live(self, count_events: Callable[[], int]) -> list[tuple[_Tracked, int]]:
        """Flush every live client not shut down; each with how many events it delivered
        (``count_events`` counts the recorder they land in)."""
        delivered = []
        for item in self._live():
            client = item.client()
            if client is None or item.shut_down:
                continue
            before = count_events()
            client.flush()
            delivered.append((item, count_events() - before))
        return delivered

    def settle(self, since: int, count_events: Callable[[], int]) -> list[ClientNote]:
        """Flush every live client that was not shut down; report what it delivered and which
        clients created since ``since`` were never shut down."""
        notes = []
        for item, flushed in self.flush_live(count_events):
            if flushed:
                notes.append(ClientNote.queued(item.site, flushed, "at teardown"))
            if item.number >= since:
                notes.append(
                    ClientNote(item.site, "never shut down (call shutdown() on process exit)")
                )
        return notes
