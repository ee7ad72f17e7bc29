"""The captured timeline as text, for failure messages and pytest report sections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.persons import Identity, IngestionWarning
from pytest_hybrid_analytics._model.sessions import session_id, sessions_of
from pytest_hybrid_analytics._model.text import clock, format_value, plural

__all__ = [
    "format_rejected",
    "format_summary",
    "format_timeline",
    "format_warnings",
    "on_timeline",
]

#: How many events a timeline shows before it elides the middle.
MAX_ROWS = 60


def on_timeline(events: Iterable[CapturedEvent]) -> list[CapturedEvent]:
    """Events in timeline order: by timestamp, then by arrival."""
    return sorted(events, key=lambda e: e.timestamp)


def format_timeline(
    events: Sequence[CapturedEvent],
    *,
    identity: Identity | None = None,
    properties: Iterable[str] = (),
    marks: dict[int, str] | None = None,
    title: str | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """Render ``events`` as a table: time, source, event, distinct_id, person, properties.

    ``properties`` names the properties a check looked at (shown as columns of ``key=value``);
    ``marks`` maps ``id(event)`` to a short note printed at the end of that event's row.
    """
    ordered = on_timeline(events)
    identity = identity if identity is not None else Identity(events)
    keys = list(dict.fromkeys(properties))
    marks = marks or {}
    persons = identity.persons()
    heading = title or "Captured timeline"
    lines = [f"{heading} ({plural(len(ordered), 'event')}, {plural(len(persons), 'person')}):"]
    if not ordered:
        lines.append("  (no events were recorded)")
        return "\n".join(lines)
    with_date = ordered[0].timestamp.date() != ordered[-1].timestamp.date()
    sessions = sessions_of(ordered)
    label_of = {s.id: s.label for s in sessions}
    head = ["time", "source", "event", "distinct_id", "person"] + (["session"] if sessions else [])
    rows: list[list[str]] = [[*head, ""]]
    shown: list[CapturedEvent | None] = list(ordered)
    if len(ordered) > max_rows:
        half = max_rows // 2
        shown = [*ordered[:half], None, *ordered[-half:]]
    for event in shown:
        if event is None:
            more = f"({len(ordered) - 2 * (max_rows // 2)} more)"
            rows.append(["…", "", more, "", "", *([""] if sessions else []), ""])
            continue
        extra = [
            f"{key}={format_value(event.properties[key])}"
            for key in keys
            if key in event.properties
        ]
        note = marks.get(id(event))
        if note:
            extra.append(f"<- {note}")
        cells = [
            clock(event.timestamp, with_date=with_date),
            event.source,
            event.event,
            event.distinct_id if event.distinct_id is not None else "<none>",
            identity.label(event.distinct_id),
        ]
        if sessions:
            sid = session_id(event)
            cells.append("-" if sid is None else label_of.get(sid, "?"))
        rows.append([*cells, "  ".join(extra)])
    columns = len(head)
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(columns)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(columns)]
        lines.append(("  " + "  ".join(cells) + "  " + row[columns]).rstrip())
    if len(persons) > 0:
        lines.append("Persons:")
        for person in persons[:10]:
            ids = person.distinct_ids
            joined = ", ".join(ids[:6]) + (f", … ({len(ids)} ids)" if len(ids) > 6 else "")
            lines.append(f"  {person.label} = {joined}")
        if len(persons) > 10:
            lines.append(f"  … ({len(persons) - 10} more persons)")
    if sessions:
        lines.append("Sessions ($session_id; ? = a session no client event has):")
        for session in sessions[:10]:
            whose = ", ".join(dict.fromkeys(identity.label(i) for i in session.ids))
            lines.append(
                f"  {session.label} = {session.id} ({whose}; {clock(session.first)}-"
                f"{clock(session.last)}; {plural(session.client_events, 'client event')}, "
                f"{plural(session.server_events, 'server event')})"
            )
        if len(sessions) > 10:
            lines.append(f"  … ({len(sessions) - 10} more sessions)")
    if identity.warnings:
        lines.append(format_warnings(identity.warnings))
    return "\n".join(lines)


def format_warnings(warnings: Sequence[IngestionWarning]) -> str:
    """The ingestion warnings PostHog would raise, one per line."""
    lines = [f"Ingestion warnings PostHog would raise ({len(warnings)}):"]
    lines += [f"  {clock(w.event.timestamp)}  {w}" for w in warnings[:10]]
    if len(warnings) > 10:
        lines.append(f"  … ({len(warnings) - 10} more)")
    return "\n".join(lines)


def format_rejected(rejected: Sequence[RejectedRequest]) -> str:
    """One line per rejected request: when, how, where, and why."""
    lines = [f"Rejected requests ({len(rejected)}):"]
    for item in rejected:
        lines.append(
            f"  {clock(item.received_at)}  {item.method} {item.url}  "
            f"({len(item.body)} bytes, {item.transport or 'unknown road'}): {item.reason}"
        )
    return "\n".join(lines)


def format_summary(events: Sequence[CapturedEvent], *, rejected: int = 0) -> str:
    """One paragraph of what a test captured: counts per side, persons, and the event names.

    >>> print(format_summary(analytics.events))
    14 events (12 client, 2 server), 1 person
      client: $pageview x3, $autocapture x5, add_to_cart, checkout_started, payment_submitted
      server: purchase_completed
    """
    sides = {side: [e for e in events if e.source == side] for side in ("client", "server")}
    who = Identity(events)
    persons = len(who.persons())
    personless = sum(
        e.distinct_id is not None and who.person(e.distinct_id) is None for e in events
    )
    parts = ", ".join(f"{len(mine)} {side}" for side, mine in sides.items() if mine)
    head = (
        f"{plural(len(events), 'event')}"
        + (f" ({parts})" if parts else "")
        + f", {plural(persons, 'person')}"
        + (f" ({plural(personless, 'event')} with no person)" if personless else "")
    )
    if rejected:
        head += f", {plural(rejected, 'rejected request')}"
    lines = [head]
    for side, mine in sides.items():
        if not mine:
            continue
        counts = Counter(e.event for e in on_timeline(mine))
        names = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())
        lines.append(f"  {side}: {names}")
    return "\n".join(lines)
