"""Browser sessions as PostHog shows them: the events that carry one ``$session_id``.

posthog-js puts ``$session_id`` on every event of a session; a server event carries it only
when the app passes it (posthog-js's tracing headers read by the server SDK's request context,
or by hand). Pure, no I/O: the timeline, the HTML report and ``assert_session_linked`` read
the same :class:`Session` records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pytest_hybrid_analytics._model.events import CapturedEvent

__all__ = ["IDLE", "Session", "session_id", "sessions_of"]

#: How long a session lasts after its last event (PostHog's, and posthog-js's, idle timeout).
IDLE = timedelta(minutes=30)


def session_id(event: CapturedEvent) -> str | None:
    """The ``$session_id`` an event carries, or ``None``."""
    value = event.properties.get("$session_id")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Session:
    """One browser session: its id, when its client events came, and their distinct ids.

    >>> [s.label for s in sessions_of(analytics.events)], sessions_of(analytics.events)[0].ids
    (['S1'], ('anon-1', 'user-1'))
    """

    #: ``"S1"``, ``"S2"``... in order of first appearance.
    label: str
    #: The ``$session_id`` (a UUIDv7 from posthog-js).
    id: str
    #: The first and last client event's timestamps.
    first: datetime
    last: datetime
    #: The distinct ids its client events were sent under, in order.
    ids: tuple[str, ...]
    #: How many client events it has.
    client_events: int
    #: How many server events carry it.
    server_events: int = 0

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the session: from its first event until it idles out."""
        return self.first <= moment <= self.last + IDLE

    def short(self) -> str:
        """``S1 (0192f3…a1b2)``."""
        shown = self.id if len(self.id) <= 14 else f"{self.id[:6]}…{self.id[-4:]}"
        return f"{self.label} ({shown})"


def sessions_of(events: Iterable[CapturedEvent]) -> list[Session]:
    """The browser sessions of ``events``, in order of first appearance: the ``$session_id``s
    client events carry (a session only server events name is not a browser session)."""
    client: dict[str, list[CapturedEvent]] = {}
    server: dict[str, int] = {}
    for event in events:
        sid = session_id(event)
        if sid is None:
            continue
        if event.source == "client":
            client.setdefault(sid, []).append(event)
        else:
            server[sid] = server.get(sid, 0) + 1
    out = []
    for number, (sid, mine) in enumerate(client.items(), start=1):
        times = [e.timestamp for e in mine]
        ids = tuple(dict.fromkeys(e.distinct_id for e in mine if e.distinct_id is not None))
        out.append(
            Session(f"S{number}", sid, min(times), max(times), ids, len(mine), server.get(sid, 0))
        )
    return out
