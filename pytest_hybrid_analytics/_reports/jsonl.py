"""Captured events as JSON Lines, and back: a recorded session to assert on later.

One JSON object a line. An event line has ``"type": "event"`` and every field of
:class:`~pytest_hybrid_analytics.CapturedEvent` (datetimes as ISO 8601 with their offset); a
rejected request has ``"type": "rejected"`` and its body in base64. Loading gives back an
:class:`~pytest_hybrid_analytics.EventRecorder` whose events equal the written ones field for
field, so ``find``, ``wait_for`` and the assertion helpers work on it as on a live test's.

>>> write_jsonl(analytics, "session.jsonl")            # or hybrid-analytics serve --jsonl
>>> recorded = load_jsonl("session.jsonl")
>>> assert_same_person(recorded)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._recording.recorder import EventRecorder

__all__ = [
    "event_from_json",
    "event_to_json",
    "load_jsonl",
    "read_jsonl",
    "rejected_from_json",
    "rejected_to_json",
    "write_jsonl",
]

#: Where a JSON Lines file is read from or written to: a path or an open text file.
Target = str | os.PathLike[str] | IO[str]

_EVENT_FIELDS = tuple(
    f.name for f in dataclasses.fields(CapturedEvent) if not f.name.startswith("_")
)
_REJECTED_FIELDS = tuple(f.name for f in dataclasses.fields(RejectedRequest))
_DATES = frozenset({"timestamp", "received_at"})


def _date(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 string, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no UTC offset")
    return moment


def event_to_json(event: CapturedEvent) -> dict[str, Any]:
    """One event as a JSON-ready dict (``"type": "event"`` and every public field).

    >>> event_to_json(analytics.events[0])["timestamp"]
    '2026-03-01T12:00:00.123000+00:00'
    """
    out: dict[str, Any] = {"type": "event"}
    for name in _EVENT_FIELDS:
        value = getattr(event, name)
        out[name] = value.isoformat() if name in _DATES else value
    return out


def event_from_json(data: dict[str, Any]) -> CapturedEvent:
    """The event :func:`event_to_json` made (raises ``ValueError`` naming what is wrong).

    >>> event_from_json(event_to_json(event)).uuid == event.uuid
    True
    """
    missing = [name for name in _EVENT_FIELDS if name not in data]
    if missing:
        raise ValueError(f"an event line lacks {', '.join(missing)}")
    values: dict[str, Any] = {
        name: _date(data[name], name) if name in _DATES else data[name] for name in _EVENT_FIELDS
    }
    if values["source"] not in ("client", "server"):
        raise ValueError(f"source must be 'client' or 'server', got {values['source']!r}")
    for name in ("properties", "set", "set_once"):
        if not isinstance(values[name], dict):
            raise ValueError(f"{name} must be an object, got {type(values[name]).__name__}")
    return CapturedEvent(**values)


def rejected_to_json(request: RejectedRequest) -> dict[str, Any]:
    """One rejected request as a JSON-ready dict (``"type": "rejected"``, body in base64).

    >>> rejected_to_json(analytics.rejected[0])["reason"]
    'the body is not valid gzip (...)'
    """
    out: dict[str, Any] = {"type": "rejected"}
    for name in _REJECTED_FIELDS:
        value = getattr(request, name)
        if name == "body":
            value = base64.b64encode(value).decode("ascii")
        elif name == "received_at":
            value = value.isoformat()
        out[name] = value
    return out


def rejected_from_json(data: dict[str, Any]) -> RejectedRequest:
    """The rejected request :func:`rejected_to_json` made.

    >>> rejected_from_json(rejected_to_json(request)) == request
    True
    """
    missing = [name for name in _REJECTED_FIELDS if name not in data]
    if missing:
        raise ValueError(f"a rejected line lacks {', '.join(missing)}")
    values = {name: data[name] for name in _REJECTED_FIELDS}
    try:
        values["body"] = base64.b64decode(values["body"], validate=True)
    except (binascii.Error, TypeError):
        raise ValueError("body must be base64") from None
    values["received_at"] = _date(values["received_at"], "received_at")
    return RejectedRequest(**values)


def _line(item: CapturedEvent | RejectedRequest) -> str:
    data = event_to_json(item) if isinstance(item, CapturedEvent) else rejected_to_json(item)
    return json.dumps(data, separators=(",", ":")) + "\n"


def write_jsonl(
    items: EventRecorder | Iterable[CapturedEvent | RejectedRequest], target: Target
) -> int:
    """Write events (and rejected requests) as JSON Lines; returns how many lines.

    ``items`` is a recorder (its events in arrival order, then its rejected requests) or any
    iterable of both. ``target`` is a path (created or overwritten) or an open text file
    (appended to where it stands, then flushed).

    >>> write_jsonl(analytics, tmp_path / "events.jsonl")
    12
    """
    if isinstance(items, EventRecorder):
        items = [*items.events, *items.rejected]
    lines = [_line(item) for item in items]
    if isinstance(target, str | os.PathLike):
        with Path(target).open("w", encoding="utf-8") as out:
            out.writelines(lines)
    else:
        target.writelines(lines)
        target.flush()
    return len(lines)


def _lines(source: IO[str], name: str) -> Iterator[CapturedEvent | RejectedRequest]:
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            kind = data.get("type")
            if kind == "event":
                yield event_from_json(data)
            elif kind == "rejected":
                yield rejected_from_json(data)
            else:
                raise ValueError(f"type must be 'event' or 'rejected', got {kind!r}")
        except ValueError as exc:
            raise ValueError(f"{name}:{number}: {exc}") from None


def read_jsonl(source: Target) -> list[CapturedEvent | RejectedRequest]:
    """Every event and rejected request in a JSON Lines file, in file order.

    A line that is not one raises ``ValueError`` naming the file and line number.

    >>> [item.event for item in read_jsonl("events.jsonl")]
    ['$pageview', 'purchase_completed']
    """
    if isinstance(source, str | os.PathLike):
        with Path(source).open(encoding="utf-8") as text:
            return list(_lines(text, str(source)))
    return list(_lines(source, getattr(source, "name", "<stream>")))


def load_jsonl(source: Target, into: EventRecorder | None = None) -> EventRecorder:
    """A recorder holding what a JSON Lines file holds (``into`` one you have, or a new one).

    >>> recorded = load_jsonl("session.jsonl")
    >>> recorded.find("purchase_completed", source="server")
    [CapturedEvent('purchase_completed', source='server', ...)]
    """
    recorder = into if into is not None else EventRecorder()
    items = read_jsonl(source)
    recorder.record(item for item in items if isinstance(item, CapturedEvent))
    for item in items:
        if isinstance(item, RejectedRequest):
            recorder.reject(item)
    return recorder
