"""How every assertion fails: the persons it resolves, the words for a check over nothing, and
the failure itself (what was expected, the marked timeline, the next step)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._recording.recorder import EventRecorder
from pytest_hybrid_analytics._recording.timeline import format_timeline

__all__ = ["fail", "identity_of", "nothing_to_check", "numbered"]


def identity_of(events: list[CapturedEvent], recorder: EventRecorder | None = None) -> Identity:
    """Persons from ``events``, or from every event of ``recorder`` (and ``events``) when the
    caller passed it: a filtered list then still knows the ``$identify`` that joins its ids."""
    if recorder is None:
        return Identity(events)
    everything = recorder.events
    seen = {id(e) for e in everything}
    return Identity([*everything, *(e for e in events if id(e) not in seen)])


def fail(lines: list[str], events: list[CapturedEvent], identity: Identity, **kw: Any) -> NoReturn:
    """Raise the ``AssertionError``: ``lines``, then the timeline (``kw``: its marks and
    property columns)."""
    __tracebackhide__ = True
    lines.append(format_timeline(events, identity=identity, **kw))
    raise AssertionError("\n".join(lines))


def nothing_to_check(name: str) -> str:
    """The message of a check given no events."""
    return (
        f"{name}: there are no events to check. A check over nothing proves nothing: wait "
        "for the events first (analytics.wait_for(...))."
    )


def numbered(
    found: Sequence[tuple[str, Iterable[CapturedEvent]]], mark: str
) -> tuple[list[str], dict[int, str]]:
    """The numbered lines of a failure (``  1. text``) and the timeline marks that point each
    event at its number (``<- mark 1``)."""
    lines: list[str] = []
    marks: dict[int, str] = {}
    for number, (text, events) in enumerate(found, start=1):
        lines.append(f"  {number}. {text}")
        for event in events:
            marks[id(event)] = f"{mark} {number}"
    return lines, marks
