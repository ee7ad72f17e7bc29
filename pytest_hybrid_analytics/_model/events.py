"""``CapturedEvent``, and turning every PostHog SDK's event shape into it.

posthog-js keeps ``distinct_id`` and ``token`` inside ``properties``; the server SDKs put
``distinct_id`` at the top level; capture v1 moves ``$set`` into ``properties`` and ``$lib`` into
a header. All of them end up in the same fields here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pytest_hybrid_analytics._model.wire import PayloadError

__all__ = [
    "CapturedEvent",
    "RejectedRequest",
    "Source",
    "event_from_wire",
    "events_from_wire",
    "infer_source",
    "parse_timestamp",
]

Source = Literal["client", "server"]

#: ``$lib`` values of PostHog's server-side SDKs.
SERVER_LIBS = frozenset(
    {
        "posthog-python",
        "posthog-node",
        "posthog-ruby",
        "posthog-go",
        "posthog-php",
        "posthog-java",
        "posthog-server",
        "posthog-dotnet",
        "posthog-elixir",
        "posthog-rust",
    }
)
#: ``$lib`` values of PostHog's browser and app SDKs.
CLIENT_LIBS = frozenset(
    {
        "web",
        "js",
        "posthog-js",
        "posthog-js-lite",
        "posthog-ios",
        "posthog-android",
        "posthog-react-native",
        "posthog-flutter",
        "posthog-unity",
    }
)


@dataclass(eq=False, slots=True, repr=False)
class CapturedEvent:
    """One PostHog event as it reached the recorder, whichever SDK and road it came by.

    Treat it as read-only: it is the record of what arrived. (It is not frozen because a
    frozen dataclass costs four times as much to build, and decoding speed matters.)

    >>> e = analytics.wait_for("purchase_completed", source="server")[0]
    >>> e.distinct_id, e.properties["amount"], e.timestamp.tzinfo
    ('user-42', 99.99, datetime.timezone.utc)
    """

    #: The event name, e.g. ``"$pageview"`` or ``"purchase_completed"``.
    event: str
    #: Who the SDK says did it (top level for server SDKs, in ``properties`` for posthog-js).
    distinct_id: str | None
    #: The event's properties, as sent (``distinct_id`` and ``token`` included for posthog-js).
    properties: dict[str, Any]
    #: When it happened, timezone-aware UTC.
    timestamp: datetime
    #: The event's ``uuid`` (absent from some hand-rolled senders).
    uuid: str | None
    #: ``"client"`` (browser, app) or ``"server"`` (backend SDK, hand-rolled backend sender).
    source: Source
    #: The ``$lib`` of the SDK that sent it (``"web"``, ``"posthog-python"``, ``"posthog-node"``).
    lib: str | None
    #: The project API key (``phc_...``) the event was sent with.
    api_key: str | None
    #: Person properties set by this event (``$set``), wherever the SDK put them.
    set: dict[str, Any]
    #: Person properties set once by this event (``$set_once``), wherever the SDK put them.
    set_once: dict[str, Any]
    #: When the recorder received it (UTC).
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The timestamp exactly as sent, or ``None`` when the SDK sent none.
    raw_timestamp: str | None = None
    #: The ingestion path it was posted to (``/e/``, ``/batch/``, ``/i/v0/e/``...).
    endpoint: str = ""
    #: The road it came by (``"browser"``, ``"requests"``, ``"httpx"``, ``"collector"``...).
    transport: str = ""
    #: How the request body was encoded (``"gzip"``, ``"base64"``, ``"json"``, ``"lz64"``...).
    encoding: str = ""

    def __repr__(self) -> str:
        moment = self.timestamp.isoformat(timespec="milliseconds")
        return (
            f"CapturedEvent({self.event!r}, source={self.source!r}, "
            f"distinct_id={self.distinct_id!r}, timestamp={moment}, uuid={self.uuid!r})"
        )

    @property
    def is_identified(self) -> bool:
        """Whether the SDK marked this event as coming from an identified person."""
        return bool(self.properties.get("$is_identified")) or self.event == "$identify"

    def get(self, key: str, default: Any = None) -> Any:
        """A property value, or ``default``."""
        return self.properties.get(key, default)


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A request the fake PostHog API could not decode, kept whole with the reason.

    >>> bad = analytics.rejected[0]
    >>> bad.reason, bad.status, bad.transport
    ('the body is not valid gzip (...)', 400, 'requests')
    """

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


def parse_timestamp(value: Any) -> tuple[datetime, bool]:
    """Parse an SDK timestamp into aware UTC; the flag says whether it carried a zone.

    ISO 8601 strings (``Z``, offsets, or none) and epoch numbers (seconds or milliseconds).
    A timestamp without a zone is read as UTC, as PostHog's ingestion does.
    """
    if isinstance(value, bool):
        raise PayloadError(f"timestamp {value!r} is not a date")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise PayloadError(f"timestamp {value!r} is not a date")
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC), True
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"timestamp {value!r} is out of range") from None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"timestamp {value!r} is not an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"timestamp {value!r} is not an ISO 8601 string") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), False
    return parsed.astimezone(UTC), True


def infer_source(lib: str | None, properties: Mapping[str, Any]) -> Source:
    """Guess the side of an event that came by a road that does not say.

    ``$is_server`` or a server SDK's ``$lib`` mean server; a browser or app SDK's ``$lib`` means
    client; otherwise browser context (``$current_url``, ``$browser``) means client, and anything
    else (a hand-rolled backend sender) server.
    """
    if properties.get("$is_server") is True or lib in SERVER_LIBS:
        return "server"
    if lib in CLIENT_LIBS:
        return "client"
    if lib and lib.startswith("posthog-") and lib.endswith(("-node", "-python", "-server")):
        return "server"
    if "$current_url" in properties or "$browser" in properties or "$device_type" in properties:
        return "client"
    return "server"


def _merged(inside: Any, top: Any, key: str) -> dict[str, Any]:
    """``key``'s person properties from inside ``properties`` and from the top level (which
    wins)."""
    merged: dict[str, Any] = {}
    for where in (inside, top):
        if where is None:
            continue
        if not isinstance(where, Mapping):
            raise PayloadError(f"{key} must be an object, got {type(where).__name__}")
        merged.update(where)
    return merged


def _identifier(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise PayloadError(f"{what} must be a string or a number, got {type(value).__name__}")


def _when(
    raw: Mapping[str, Any],
    properties: Mapping[str, Any],
    sent_at: datetime | None,
    received: datetime,
) -> tuple[datetime, str | None]:
    raw_ts = raw.get("timestamp")
    if raw_ts.__class__ is str and raw_ts:
        try:
            parsed = datetime.fromisoformat(raw_ts)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            return parsed, raw_ts  # the common case, kept fast
    if raw_ts is not None and raw_ts != "":
        timestamp, _ = parse_timestamp(raw_ts)
        return timestamp, raw_ts if isinstance(raw_ts, str) else str(raw_ts)
    moment = properties.get("$time")
    if isinstance(moment, int | float) and not isinstance(moment, bool):
        return parse_timestamp(moment)[0], None
    offset = raw.get("offset")
    base = sent_at or received
    if isinstance(offset, int | float) and math.isfinite(offset) and abs(offset) < 1e12:
        return base - timedelta(milliseconds=offset), None
    return base, None


def event_from_wire(
    raw: Any,
    *,
    api_key: str | None = None,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
    source: Source | None = None,
    lib: str | None = None,
    endpoint: str = "",
    transport: str = "",
    encoding: str = "",
) -> CapturedEvent:
    """Turn one event object, as any PostHog SDK puts it on the wire, into a ``CapturedEvent``.

    ``api_key``, ``sent_at`` and ``lib`` come from the envelope or headers when the event itself
    lacks them; ``source`` from the road when it knows (otherwise :func:`infer_source`).
    """
    received = received_at or datetime.now(UTC)
    out: list[CapturedEvent] = []
    _build(out, [raw], api_key, sent_at, received, source, lib, endpoint, transport, encoding)
    return out[0]


def events_from_wire(
    raws: list[Any],
    *,
    api_key: str | None = None,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
    source: Source | None = None,
    lib: str | None = None,
    endpoint: str = "",
    transport: str = "",
    encoding: str = "",
) -> list[CapturedEvent]:
    """:func:`event_from_wire` for every event of one request (they share its envelope, its
    headers and its arrival); a :class:`PayloadError` says which event failed (``event 3: ...``,
    or ``the event: ...`` when it is the only one)."""
    received = received_at or datetime.now(UTC)
    out: list[CapturedEvent] = []
    try:
        _build(out, raws, api_key, sent_at, received, source, lib, endpoint, transport, encoding)
    except PayloadError as exc:
        where = f"event {len(out)}" if len(raws) > 1 else "the event"
        raise PayloadError(f"{where}: {exc}") from None
    return out


def _build(
    out: list[CapturedEvent],
    raws: list[Any],
    api_key: str | None,
    sent_at: datetime | None,
    received: datetime,
    source: Source | None,
    lib: str | None,
    endpoint: str,
    transport: str,
    encoding: str,
) -> None:
    """Append an event to ``out`` for each of ``raws``: one loop with no call per event, and
    the event built with positional arguments (keywords cost three times as much), since a
    batch of a thousand posthog-js events must decode in little more than ``json.loads``
    takes to read it."""
    append = out.append
    fromisoformat = datetime.fromisoformat
    for raw in raws:
        if raw.__class__ is not dict and not isinstance(raw, Mapping):
            raise PayloadError(f"an event must be a JSON object, got {type(raw).__name__}")
        get = raw.get
        name = get("event")
        if name.__class__ is not str or not name:
            raise PayloadError(f"an event has no name (keys: {sorted(map(str, raw))[:8]})")
        properties = get("properties")
        if properties is None:
            properties = {}
        elif properties.__class__ is not dict:
            raise PayloadError(f"properties of {name!r} must be an object")

        distinct_id = get("distinct_id")
        if distinct_id is None:
            distinct_id = properties.get("distinct_id")
        if distinct_id.__class__ is not str or not distinct_id:
            distinct_id = _identifier(distinct_id, "distinct_id")
        key = get("api_key") or get("token") or properties.get("token") or api_key
        event_lib = properties.get("$lib") or lib
        if event_lib.__class__ is not str:
            event_lib = None
        uuid = get("uuid")
        # The common case inline: an ISO 8601 string in UTC (posthog-js, posthog-python).
        raw_ts = get("timestamp")
        timestamp = None
        if raw_ts.__class__ is str and raw_ts:
            try:
                timestamp = fromisoformat(raw_ts)
            except ValueError:
                timestamp = None
            if timestamp is not None and timestamp.tzinfo is not UTC:
                timestamp = None
        if timestamp is None:
            timestamp, raw_ts = _when(raw, properties, sent_at, received)
        # Most events set no person properties: no call, no merge for them.
        inside, top = properties.get("$set"), get("$set")
        person = {} if inside is None and top is None else _merged(inside, top, "$set")
        inside, top = properties.get("$set_once"), get("$set_once")
        once = {} if inside is None and top is None else _merged(inside, top, "$set_once")
        append(
            CapturedEvent(  # positional: a third of the cost of keywords
                name,
                distinct_id,
                properties,
                timestamp,
                uuid if uuid.__class__ is str and uuid else (str(uuid) if uuid else None),
                source or infer_source(event_lib, properties),
                event_lib,
                key if key.__class__ is str else None,
                person,
                once,
                received,
                raw_ts,
                endpoint,
                transport,
                encoding,
            )
        )
