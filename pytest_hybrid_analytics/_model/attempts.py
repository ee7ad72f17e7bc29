"""What an SDK tried, when PostHog misbehaved: one :class:`Attempt` per request to a PostHog
endpoint, :class:`Delivery` for the attempts that carried the same events (an SDK and its
retries), :class:`FaultedRequest` for a request the harness made fail.

Pure records, no I/O: the fake PostHog API writes them (``_recording.faults``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pytest_hybrid_analytics._model.events import CapturedEvent

__all__ = ["Attempt", "Delivery", "EndpointKind", "FaultedRequest"]

#: The PostHog endpoints a fault can target: event ingestion, session recordings, feature
#: flags (``/flags``, ``/decide``, local-evaluation definitions), remote config (``/array/<token>
#: /config``, surveys and the other lists posthog-js loads).
EndpointKind = Literal["capture", "recordings", "flags", "config"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request an SDK made to a PostHog endpoint, and what it got.

    >>> a = analytics.faults.attempts[0].tries[1]
    >>> a.status, a.marker, a.fault
    (200, 'retry_count=1', None)
    """

    #: When it arrived (UTC).
    at: datetime
    #: ``"capture"``, ``"recordings"``, ``"flags"`` or ``"config"``.
    endpoint: EndpointKind
    method: str
    url: str
    #: Who sent it: ``"web"`` (posthog-js), ``"posthog-python"``, ``"posthog-node"``..., else the
    #: ``User-Agent``'s product, else the road.
    sdk: str
    #: The road it came by (``"browser"``, ``"requests"``, ``"httpx"``, ``"collector"``...).
    transport: str
    #: The uuids of the events it carried (capture and recordings).
    uuids: tuple[str, ...]
    #: The status it was answered with; ``None``: no answer (a dropped connection, or a client
    #: that gave up waiting).
    status: int | None
    #: What the harness did to it (``"fail 503"``, ``"drop"``, ``"delay 2 s"``...); ``None``:
    #: answered as PostHog answers.
    fault: str | None = None
    #: How the SDK marked it as a re-send: ``"retry_count=1"`` (posthog-js),
    #: ``"PostHog-Attempt: 2"`` (capture v1), ``"sendBeacon"`` (posthog-js at unload), else
    #: ``None``.
    marker: str | None = None
    #: The ``Retry-After`` the answer carried, in seconds.
    retry_after: float | None = None
    #: Seconds the answer was held back (``faults.delay``).
    held: float = 0.0

    @property
    def accepted(self) -> bool:
        """Whether PostHog took what it carried (a 2xx answer, nothing faulted)."""
        return self.fault is None and self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class Delivery:
    """The attempts an SDK made to deliver the same events (or the same flags or config
    request): the first try and its retries, in order.

    >>> d = analytics.faults.attempts[0]
    >>> d.sdk, d.count, d.statuses, d.gaps, d.same_uuids
    ('posthog-python', 2, [503, 200], [1.003], True)
    """

    sdk: str
    endpoint: EndpointKind
    tries: list[Attempt] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many times it was tried."""
        return len(self.tries)

    @property
    def retries(self) -> int:
        """How many times it was tried again after the first."""
        return max(0, len(self.tries) - 1)

    @property
    def statuses(self) -> list[int | None]:
        """The status each try got (``None``: no answer)."""
        return [t.status for t in self.tries]

    @property
    def gaps(self) -> list[float]:
        """Seconds between one try's arrival and the next's (the SDK's backoff, plus the time
        the answer took)."""
        return [
            round((b.at - a.at).total_seconds(), 3)
            for a, b in zip(self.tries, self.tries[1:], strict=False)
        ]

    @property
    def accepted(self) -> bool:
        """Whether a try was accepted in the end."""
        return any(t.accepted for t in self.tries)

    @property
    def uuids(self) -> tuple[str, ...]:
        """The events the first try carried."""
        return self.tries[0].uuids if self.tries else ()

    @property
    def same_uuids(self) -> bool:
        """Whether every retry carried only events of the first try, under the same uuids
        (what PostHog's deduplication relies on)."""
        first = set(self.uuids)
        return all(set(t.uuids) <= first and t.uuids for t in self.tries[1:]) if first else True

    def __repr__(self) -> str:
        return (
            f"Delivery({self.sdk!r}, {self.endpoint!r}, statuses={self.statuses}, gaps={self.gaps})"
        )


@dataclass(frozen=True, slots=True)
class FaultedRequest:
    """A request the harness made fail (``analytics.faults``), kept whole with the answer it
    got. Its events are not on the timeline: they count once a later attempt is accepted.

    >>> bad = analytics.faulted[0]
    >>> bad.fault, bad.status, [e.event for e in bad.events]
    ('fail 503', 503, ['purchase_completed'])
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    #: What the harness did: ``"fail 503"``, ``"drop"``, ``"quota limited: events"``...
    fault: str
    #: The status it was answered with; ``None``: no answer (the connection was closed).
    status: int | None
    #: ``"capture"``, ``"recordings"``, ``"flags"`` or ``"config"``.
    endpoint: EndpointKind
    #: The road it came by.
    transport: str = ""
    #: The events it carried, as far as they could be read.
    events: tuple[CapturedEvent, ...] = ()
    #: The ``Retry-After`` the answer carried, in seconds.
    retry_after: float | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The body of the answer it got (empty when there was none).
    answer: bytes = b""

    @property
    def uuids(self) -> tuple[str, ...]:
        """The uuids of the events it carried."""
        return tuple(e.uuid for e in self.events if e.uuid)
