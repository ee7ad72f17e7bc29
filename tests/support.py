"""Helpers shared by the library tests (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_hybrid_analytics.events import CapturedEvent, Source, event_from_wire

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MakeEvent = Callable[..., CapturedEvent]


def make_event(
    event: str,
    distinct_id: str | None = "u1",
    *,
    source: Source = "client",
    at: float = 0.0,
    uuid: str | None = None,
    **properties: Any,
) -> CapturedEvent:
    """A captured event at ``T0 + at`` seconds, shaped as its side's SDK sends it."""
    lib = "web" if source == "client" else "posthog-python"
    raw: dict[str, Any] = {
        "event": event,
        "timestamp": (T0 + timedelta(seconds=at)).isoformat(),
        "properties": {"$lib": lib, **properties},
    }
    if uuid is not None:
        raw["uuid"] = uuid
    if distinct_id is not None:
        if source == "client":
            raw["properties"]["distinct_id"] = distinct_id
        else:
            raw["distinct_id"] = distinct_id
    return event_from_wire(raw, source=source, received_at=T0)
