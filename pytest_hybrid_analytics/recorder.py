"""The one timeline every road writes to: a thread-safe store with queries and waits.

``wait_for`` blocks on a condition variable that every recorded event notifies, so it returns
the moment the event arrives; it never polls or sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytest_hybrid_analytics.events import CapturedEvent
from pytest_hybrid_analytics.identity import Identity
from pytest_hybrid_analytics.query import Query
from pytest_hybrid_analytics.report import format_rejected, format_timeline

__all__ = ["EventRecorder", "RejectedRequest"]


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A request the fake PostHog API could not decode, kept whole with the reason."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    reason: str
    #: The road it came by (``"browser"``, ``"requests"``, ``"collector"``...).
    transport: str = ""
    #: The HTTP status it was answered with.
    status: int = 400
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class EventRecorder:
    """Every PostHog event of one test, from every road, in arrival order.

    >>> analytics.wait_for("$pageview", source="client")
    >>> analytics.find("purchase_completed", source="server", amount=lambda a: a > 50)
    [CapturedEvent(event='purchase_completed', ...)]
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[CapturedEvent] = []
        self._rejected: list[RejectedRequest] = []
        self._retried: list[CapturedEvent] = []
        self._uuids: set[str] = set()
        self._generation = 0

    # -- writing (the fake PostHog API calls these) ------------------------------------------

    def record(self, events: Iterable[CapturedEvent], *, retry: bool = False) -> None:
        """Add decoded events to the timeline and wake every ``wait_for``.

        ``retry`` marks a request the SDK says it is sending again (posthog-js's
        ``?retry_count=``): its events already recorded are kept apart in :attr:`retried`, as
        PostHog's ingestion drops a uuid it already has. Any other repeat is recorded (and
        :func:`assert_no_duplicates` reports it).
        """
        batch = list(events)
        for event in batch:
            event._recorder = self
        with self._cond:
            if retry:
                again = [e for e in batch if e.uuid is not None and e.uuid in self._uuids]
                self._retried.extend(again)
                batch = [e for e in batch if e.uuid is None or e.uuid not in self._uuids]
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
        """Events an SDK retry delivered again after they were recorded (not on the timeline)."""
        with self._cond:
            return list(self._retried)

    @property
    def identity(self) -> Identity:
        """Persons as PostHog would resolve them from the events so far."""
        return Identity(self.events)

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)

    def __iter__(self) -> Iterator[CapturedEvent]:
        return iter(self.events)

    def __repr__(self) -> str:
        with self._cond:
            return f"<EventRecorder {len(self._events)} events, {len(self._rejected)} rejected>"

    def find(
        self,
        event: str | Callable[[str], bool] | None = None,
        *,
        source: str | None = None,
        distinct_id: Any = None,
        **properties: Any,
    ) -> list[CapturedEvent]:
        """Events matching every filter given, in arrival order.

        Each filter value may be a plain value, a type (``amount=float``) or a predicate
        (``amount=lambda a: a > 50``); properties with ``$`` go through a dict:
        ``find("$pageview", **{"$current_url": url})``.
        """
        query = Query(event, source, distinct_id, properties)
        return [e for e in self.events if query.matches(e)]

    def wait_for(
        self,
        event: str | Callable[[str], bool] | None,
        *,
        source: str | None = None,
        distinct_id: Any = None,
        count: int = 1,
        timeout: float = 5.0,
        **properties: Any,
    ) -> list[CapturedEvent]:
        """Block until ``count`` matching events have arrived; return all matches.

        Returns as soon as they are there (woken by the recording itself, never by polling).
        After ``timeout`` seconds raises ``AssertionError`` naming the query, the near misses
        and the whole captured timeline.
        """
        __tracebackhide__ = True
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        query = Query(event, source, distinct_id, properties)
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
                    return list(matches)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            snapshot, rejected = list(self._events), list(self._rejected)
        raise AssertionError(
            self._timeout_message(query, count, timeout, matches, snapshot, rejected)
            + "".join(f"\n{note}" for note in self._notes(query))
        )

    def _wait_recorded(self, uuids: Iterable[str], timeout: float) -> set[str]:
        """Wait until every uuid is recorded; returns those that never arrived."""
        missing = set(uuids)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing -= self._uuids
                missing -= {e.uuid for e in self._retried if e.uuid}
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0:
                    return missing
                self._cond.wait(remaining)

    def _notes(self, query: Query) -> list[str]:
        """More to say when a wait for ``query`` times out (a road's own observations)."""
        return []

    def timeline(self, *, properties: Iterable[str] = ()) -> str:
        """The captured timeline as a text table (what failure messages show)."""
        events, rejected = self.events, self.rejected
        text = format_timeline(events, properties=properties)
        return text + ("\n" + format_rejected(rejected) if rejected else "")

    # -- messages --------------------------------------------------------------------------

    @staticmethod
    def _timeout_message(
        query: Query,
        count: int,
        timeout: float,
        matches: list[CapturedEvent],
        events: list[CapturedEvent],
        rejected: list[RejectedRequest],
    ) -> str:
        got = len(matches)
        lines = [
            f"wait_for({query.describe()}): expected {count} matching event"
            f"{'s' * (count != 1)} within {timeout:g} s, {got} arrived."
        ]
        misses = query.near_misses(events)
        if misses:
            lines.append("Near misses:")
            for miss, why in misses:
                lines.append(
                    f"  {miss.event!r} from {miss.source} by {miss.distinct_id!r}: {'; '.join(why)}"
                )
        identity = Identity(events)
        marks = {id(e): "match" for e in matches}
        marks.update({id(e): "near miss" for e, _ in misses})
        lines.append(
            format_timeline(
                events, identity=identity, properties=query.properties.keys(), marks=marks
            )
        )
        if rejected:
            lines.append(format_rejected(rejected))
        lines.append(_next_step(events, rejected, query))
        return "\n".join(lines)


def _next_step(events: list[CapturedEvent], rejected: list[RejectedRequest], query: Query) -> str:
    if rejected:
        return (
            "Next step: requests were rejected above; fix what their reasons name "
            "(the events in them are not on the timeline)."
        )
    if not events:
        return (
            "Next step: no PostHog request reached the recorder. Check that the SDK is "
            "initialised and points at a host the harness covers (README, 'Roads'), and "
            "that a server SDK was flushed."
        )
    if query.source and not any(e.source == query.source for e in events):
        return (
            f"Next step: nothing arrived from the {query.source}; check that side's SDK "
            "is set up and flushed (README, 'Roads')."
        )
    return "Next step: compare the near misses with the query; raise timeout= if the event is slow."


def events_of(events: EventRecorder | Iterable[CapturedEvent]) -> list[CapturedEvent]:
    """A list of events from a recorder (its pages flushed first, where it has any) or any
    iterable."""
    if isinstance(events, EventRecorder):
        flush = getattr(events, "flush", None)
        if callable(flush):
            flush(clients=False)
        return events.events
    if isinstance(events, Mapping | str | bytes):
        raise TypeError("expected an EventRecorder or an iterable of CapturedEvent")
    out = list(events)
    for item in out:
        if not isinstance(item, CapturedEvent):
            raise TypeError(f"expected CapturedEvent items, got {type(item).__name__}")
    return out
