"""The store every road writes to: a thread-safe list of events, rejected requests and retries,
with a condition that wakes whoever waits the moment something is recorded.

No wording lives here: :class:`~pytest_hybrid_analytics.EventRecorder`, built on this store,
composes the messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._recording.query import Query

__all__ = ["EventStore"]


class EventStore:
    """Every PostHog event of one test, from every road, in arrival order.

    >>> store = EventStore()
    >>> store.record(parse_capture_request(url, headers, body))
    >>> store.wait_until(lambda: len(store) >= 2, timeout=1.0)
    True
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[CapturedEvent] = []
        self._rejected: list[RejectedRequest] = []
        self._retried: list[CapturedEvent] = []
        self._uuids: set[str] = set()
        self._generation = 0

    # -- writing (the fake PostHog API calls these) ------------------------------------------

    def record(self, events: Iterable[CapturedEvent]) -> None:
        """Add decoded events to the timeline and wake every waiter.

        An event whose uuid is already recorded is a re-delivery, however the request was
        marked (posthog-js's ``?retry_count=``, capture v1's ``PostHog-Attempt``, an unload
        beacon, or nothing: a retry after an answer that never reached the SDK): it is kept
        apart in :attr:`retried`, as PostHog's ingestion keeps one event per uuid. Only the
        same action captured twice (two uuids) is a duplicate.
        """
        batch = list(events)
        with self._cond:
            seen = self._uuids
            again = [e for e in batch if e.uuid is not None and e.uuid in seen]
            if again:
                self._retried.extend(again)
                batch = [e for e in batch if e.uuid is None or e.uuid not in seen]
            self._events.extend(batch)
            self._uuids.update(e.uuid for e in batch if e.uuid is not None)
            self._cond.notify_all()

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request that could not be decoded, with its reason."""
        with self._cond:
            self._rejected.append(request)
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every recorded event and rejected request."""
        with self._cond:
            self._events = []
            self._rejected = []
            self._retried = []
            self._uuids = set()
            self._generation += 1
            self._cond.notify_all()

    # -- reading ---------------------------------------------------------------------------

    @property
    def events(self) -> list[CapturedEvent]:
        """All events so far, in arrival order (a copy)."""
        with self._cond:
            return list(self._events)

    @property
    def rejected(self) -> list[RejectedRequest]:
        """Requests that could not be decoded, each with its ``reason`` (a copy)."""
        with self._cond:
            return list(self._rejected)

    @property
    def retried(self) -> list[CapturedEvent]:
        """Events delivered again after they were recorded (an SDK retry, an unload beacon):
        not on the timeline, never counted as duplicates."""
        with self._cond:
            return list(self._retried)

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)

    def __iter__(self) -> Iterator[CapturedEvent]:
        return iter(self.events)

    # -- waiting ---------------------------------------------------------------------------

    def wait_until(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until ``done()`` holds, looked at whenever something is recorded or rejected
        (or :meth:`wake` is called), or until ``timeout`` passes; returns ``done()``.

        >>> analytics.wait_until(lambda: len(analytics.rejected) > 0, timeout=2.0)
        True
        """
        with self._cond:
            return self._cond.wait_for(done, timeout)

    def wake(self) -> None:
        """Have every waiter look at its condition again (something outside the store
        changed)."""
        with self._cond:
            self._cond.notify_all()

    def _gather(
        self, query: Query, count: int, timeout: float
    ) -> tuple[list[CapturedEvent], list[CapturedEvent], list[RejectedRequest]]:
        """Wait until ``count`` events match ``query``; returns the matches, and (on timeout)
        the events and rejected requests as they stood."""
        deadline = time.monotonic() + timeout
        matches: list[CapturedEvent] = []
        with self._cond:
            generation, scanned = self._generation, 0
            while True:
                if generation != self._generation:
                    generation, scanned, matches = self._generation, 0, []
                fresh = self._events[scanned:]
                scanned = len(self._events)
                matches.extend(e for e in fresh if query.matches(e))
                if len(matches) >= count:
                    return list(matches), [], []
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return list(matches), list(self._events), list(self._rejected)
                self._cond.wait(remaining)

    def wait_recorded(
        self,
        uuids: Iterable[str],
        timeout: float,
        *,
        also: Callable[[], set[str]] | None = None,
    ) -> set[str]:
        """Wait until every uuid is recorded (or kept as a retry, or among ``also()``: uuids
        accounted for elsewhere); returns those that never arrived."""
        missing = set(uuids)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing -= self._uuids
                missing -= {e.uuid for e in self._retried if e.uuid}
                if also is not None and missing:
                    missing -= also()
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0:
                    return missing
                self._cond.wait(remaining)
