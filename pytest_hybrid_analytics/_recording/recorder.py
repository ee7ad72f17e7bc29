"""``EventRecorder``: the store with its queries, waits and the words they fail with.

``wait_for`` blocks on the store's condition, which every recorded event notifies, so it returns
the moment the event arrives; it never polls or sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.persons import Identity, IngestionWarning, Person
from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._recording.query import Query
from pytest_hybrid_analytics._recording.store import EventStore
from pytest_hybrid_analytics._recording.timeline import format_rejected, format_timeline

__all__ = ["EventRecorder", "events_of"]


class EventRecorder(EventStore):
    """Every PostHog event of one test, from every road, in arrival order.

    >>> analytics.wait_for("$pageview", source="client")
    >>> analytics.find("purchase_completed", source="server", amount=lambda a: a > 50)
    [CapturedEvent(event='purchase_completed', ...)]
    """

    @property
    def identity(self) -> Identity:
        """Persons as PostHog would resolve them from the events so far (in arrival order)."""
        return Identity(self.events)

    @property
    def persons(self) -> list[Person]:
        """The persons PostHog would hold after the events so far, in order of first
        appearance (PostHog's merge rules: README, 'Persons').

        >>> [(p.label, p.distinct_ids, p.is_identified) for p in analytics.persons]
        [('P1', ('anon-1', 'user-42'), True)]
        """
        return self.identity.persons()

    def person(self, distinct_id: str) -> Person | None:
        """``distinct_id``'s person, or ``None`` (never seen, or only on personless events).

        >>> analytics.person("user-42").properties["plan"]
        'pro'
        """
        return self.identity.person(distinct_id)

    @property
    def warnings(self) -> list[IngestionWarning]:
        """The ingestion warnings PostHog would raise for the events so far.

        >>> [w.type for w in analytics.warnings]
        ['cannot_merge_with_illegal_distinct_id']
        """
        return self.identity.warnings

    def __repr__(self) -> str:
        return f"<EventRecorder {plural(len(self), 'event')}, {len(self.rejected)} rejected>"

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
        started = time.monotonic()
        matches, _, _ = self._gather(query, count, 0.0)
        if len(matches) >= count:
            return matches
        self._nudge(timeout)
        try:
            remaining = max(timeout - (time.monotonic() - started), 0.0)
            matches, snapshot, rejected = self._gather(query, count, remaining)
        finally:
            self._wait_over()
        if len(matches) >= count:
            return matches
        raise AssertionError(
            _timeout_message(query, count, timeout, matches, snapshot, rejected)
            + "".join(f"\n{note}" for note in self._notes(query))
        )

    def _nudge(self, timeout: float) -> None:
        """A wait not satisfied at once: ask whoever holds events to deliver what would come
        within ``timeout`` anyway (the roads' own; nothing here)."""

    def _wait_over(self) -> None:
        """The wait that :meth:`_nudge` began is over."""

    def _notes(self, query: Query) -> list[str]:
        """More to say when a wait for ``query`` times out (a road's own observations)."""
        return []

    def timeline(self, *, properties: Iterable[str] = ()) -> str:
        """The captured timeline as a text table (what failure messages show)."""
        events, rejected = self.events, self.rejected
        text = format_timeline(events, properties=properties)
        return text + ("\n" + format_rejected(rejected) if rejected else "")


def _timeout_message(
    query: Query,
    count: int,
    timeout: float,
    matches: list[CapturedEvent],
    events: list[CapturedEvent],
    rejected: list[RejectedRequest],
) -> str:
    lines = [
        f"wait_for({query.describe()}): expected {plural(count, 'matching event')} "
        f"within {timeout:g} s, {len(matches)} arrived."
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
        format_timeline(events, identity=identity, properties=query.properties.keys(), marks=marks)
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
            "initialised and points at a host the harness covers (README, 'Nothing arrived?'), and "
            "that a server SDK was flushed."
        )
    import dataclasses
    import re
    from difflib import SequenceMatcher

    from pytest_hybrid_analytics._model.text import was
    from pytest_hybrid_analytics._recording.query import describe_wanted

    def listed(names: list[str]) -> str:
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return ", ".join(map(repr, names[:5])) + more

    nothing_here = query.source is not None and not any(e.source == query.source for e in events)
    if query.source is not None:
        other = "client" if query.source == "server" else "server"
        anywhere = dataclasses.replace(query, source=None)
        elsewhere = [e for e in events if e.source == other and anywhere.matches(e)]
        if elsewhere:
            found = f"{plural(len(elsewhere), 'matching event')} arrived from the {other}"
            if nothing_here:
                return (
                    f"Next step: nothing arrived from the {query.source}; check that side's SDK "
                    f"is set up and flushed (README, 'Nothing arrived?'). {found}: wait with "
                    f"source={other!r} if that side is meant."
                )
            return (
                f"Next step: {found} instead; check that the {query.source} sends it, or wait "
                f"with source={other!r} if that side is meant."
            )
    if nothing_here:
        return (
            f"Next step: nothing arrived from the {query.source}; check that side's SDK "
            "is set up and flushed (README, 'Nothing arrived?')."
        )
    if query.near_misses(events):
        return (
            "Next step: compare the near misses with the query; raise timeout= if the event "
            "is slow."
        )
    matched = [e for e in events if query.matches(e)]
    if matched:
        return (
            f"Next step: only {plural(len(matched), 'matching event')} arrived, fewer than "
            "count= asks; check that the app sends each one, or raise timeout= if the rest "
            "are slow."
        )
    names = list(dict.fromkeys(e.event for e in events))
    if not isinstance(query.event, str):
        return (
            f"Next step: no captured event's name passes {describe_wanted(query.event)} "
            f"(captured: "
            f"{listed(names)}); check the predicate, or raise timeout= if the event is slow."
        )

    def plain(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    wanted = plain(query.event)

    def likeness(name: str) -> float:
        other = plain(name)
        if wanted and other and (wanted in other or other in wanted):
            return 1.0
        return SequenceMatcher(None, wanted, other).ratio()

    close = sorted((n for n in names if likeness(n) >= 0.6), key=likeness, reverse=True)[:3]
    if close:
        return (
            f"Next step: no event named {query.event!r} arrived, but "
            f"{plural(len(close), 'similar name')} {was(len(close))} captured: {listed(close)}; "
            "check the name the app sends (or the query's)."
        )
    return (
        f"Next step: no event named {query.event!r} arrived, nor one with a similar name "
        f"(captured: {listed(names)}); check that the app captures it on this path, or raise "
        "timeout= if it is slow."
    )


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
