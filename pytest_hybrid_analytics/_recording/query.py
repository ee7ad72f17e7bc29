"""Which events a query asks for, and why an event is not one of them.

Shared by ``find``, ``wait_for`` and the journey check, so they match alike and explain a
miss alike. A wanted value is a plain value (compared with ``==``), a type (``isinstance``) or a
callable predicate.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.text import format_value

__all__ = ["Query", "describe_wanted", "miss"]

_SOURCES = ("client", "server")


def describe_wanted(wanted: Any) -> str:
    if isinstance(wanted, type):
        return f"<any {wanted.__name__}>"
    if isinstance(wanted, types.UnionType):
        return f"<any {wanted}>"
    if callable(wanted):
        name = getattr(wanted, "__name__", "predicate")
        return name if name.startswith("<") else f"<{name}>"
    return format_value(wanted)


def miss(wanted: Any, actual: Any) -> str | None:
    """``None`` when ``actual`` is what ``wanted`` asks for, else why not."""
    if isinstance(wanted, type | types.UnionType):
        return None if isinstance(actual, wanted) else f"is {type(actual).__name__}"
    if callable(wanted):
        try:
            return None if wanted(actual) else "fails the predicate"
        except Exception as exc:  # noqa: BLE001 - a predicate that raises does not match
            return f"predicate raised {type(exc).__name__}: {exc}"
    return None if wanted == actual else "differs"


@dataclass(frozen=True)
class Query:
    """Filters on an event's name, source, distinct id and properties."""

    event: str | Callable[[str], bool] | None = None
    source: str | None = None
    distinct_id: Any = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in _SOURCES:
            raise ValueError(f"source must be 'client', 'server' or None, got {self.source!r}")

    def misses(self, event: CapturedEvent) -> list[str]:
        """Why ``event`` does not match (empty when it does), one phrase per failed filter."""
        out = []
        if self.event is not None and miss(self.event, event.event):
            out.append(f"event={event.event!r} (wanted {describe_wanted(self.event)})")
        if self.source is not None and event.source != self.source:
            out.append(f"source={event.source!r} (wanted {self.source!r})")
        if self.distinct_id is not None and miss(self.distinct_id, event.distinct_id):
            out.append(
                f"distinct_id={event.distinct_id!r} (wanted {describe_wanted(self.distinct_id)})"
            )
        for key, wanted in self.properties.items():
            if key not in event.properties:
                out.append(f"{key} missing (wanted {describe_wanted(wanted)})")
                continue
            actual = event.properties[key]
            why = miss(wanted, actual)
            if why:
                out.append(f"{key}={format_value(actual)} {why} (wanted {describe_wanted(wanted)})")
        return out

    def matches(self, event: CapturedEvent) -> bool:
        """Whether ``event`` passes every filter."""
        if self.event is not None:
            if isinstance(self.event, str):
                if event.event != self.event:
                    return False
            elif miss(self.event, event.event):
                return False
        if self.source is not None and event.source != self.source:
            return False
        if self.distinct_id is not None and miss(self.distinct_id, event.distinct_id):
            return False
        props = event.properties
        for key, wanted in self.properties.items():
            if key not in props or miss(wanted, props[key]):
                return False
        return True

    def describe(self) -> str:
        """The query as the call that made it: ``'purchase', source='server', amount=9.99``."""
        parts = []
        if self.event is not None:
            parts.append(describe_wanted(self.event))
        if self.source is not None:
            parts.append(f"source={self.source!r}")
        if self.distinct_id is not None:
            parts.append(f"distinct_id={describe_wanted(self.distinct_id)}")
        parts.extend(f"{key}={describe_wanted(value)}" for key, value in self.properties.items())
        return ", ".join(parts) or "any event"

    def near_misses(
        self, events: list[CapturedEvent], limit: int = 10
    ) -> list[tuple[CapturedEvent, list[str]]]:
        """Events that fail the fewest filters, with why each missed.

        With an event name, only events of that name count as near misses (another event
        that happens to share a property is noise, not a clue).
        """
        scored = []
        for event in events:
            if self.event is not None and miss(self.event, event.event):
                continue
            why = self.misses(event)
            if why:
                scored.append((len(why), event, why))
        scored.sort(key=lambda item: item[0])
        return [(event, why) for _, event, why in scored[:limit]]
