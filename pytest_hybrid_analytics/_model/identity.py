"""Who is the same person: distinct ids joined by ``$identify``, ``$create_alias`` and merges.

Mirrors what PostHog's ingestion does with these events, so a test can ask whether an anonymous
browser visitor and the user the server knows are one person, as PostHog would count them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_hybrid_analytics._model.events import CapturedEvent

__all__ = ["Identity", "Merge"]


@dataclass(frozen=True, slots=True)
class Merge:
    """Two distinct ids joined by one event (``$identify``, ``$create_alias``, a merge)."""

    #: The id that joins the person (the anonymous id, the alias).
    from_id: str
    #: The id it joins (the identified id).
    into_id: str
    #: The event that joined them.
    event: CapturedEvent


def _merge_of(event: CapturedEvent) -> tuple[str, str] | None:
    target = event.distinct_id
    props = event.properties
    if event.event == "$identify":
        other = props.get("$anon_distinct_id")
    elif event.event in ("$create_alias", "$merge_dangerously"):
        other = props.get("alias")
    else:
        return None
    if not target or not isinstance(other, str | int) or isinstance(other, bool):
        return None
    other = str(other)
    if not other or other == target:
        return None
    return other, target


class Identity:
    """Persons resolved from a set of events.

    >>> who = Identity(analytics.events)
    >>> who.same_person(anon_id, "user-42")
    True
    >>> who.label("user-42")
    'P1'
    """

    def __init__(self, events: Iterable[CapturedEvent] = ()) -> None:
        self._parent: dict[str, str] = {}
        self._order: dict[str, int] = {}
        self.merges: list[Merge] = []
        self._labels: dict[str, str] | None = None
        for event in events:
            self.add(event)

    def _find(self, key: str) -> str:
        parent = self._parent
        root = key
        while parent[root] != root:
            root = parent[root]
        while parent[key] != root:
            parent[key], key = root, parent[key]
        return root

    def _see(self, distinct_id: str) -> None:
        if distinct_id not in self._parent:
            self._parent[distinct_id] = distinct_id
            self._order[distinct_id] = len(self._order)

    def add(self, event: CapturedEvent) -> None:
        """Take one more event into account."""
        if event.distinct_id is None:
            return
        self._see(event.distinct_id)
        merge = _merge_of(event)
        if merge is None:
            return
        from_id, into_id = merge
        self._see(from_id)
        self._labels = None
        self.merges.append(Merge(from_id, into_id, event))
        from_root, into_root = self._find(from_id), self._find(into_id)
        if from_root != into_root:
            # The identified side names the person.
            self._parent[from_root] = into_root

    def person_of(self, distinct_id: str) -> str:
        """The distinct id that names ``distinct_id``'s person (the identified one when known)."""
        if distinct_id not in self._parent:
            return distinct_id
        return self._find(distinct_id)

    def same_person(self, a: str, b: str) -> bool:
        """Whether two distinct ids belong to one person."""
        return self.person_of(a) == self.person_of(b)

    def persons(self) -> dict[str, list[str]]:
        """Each person's name, with all its distinct ids in the order they were first seen."""
        groups: dict[str, list[str]] = {}
        for distinct_id in sorted(self._parent, key=self._order.__getitem__):
            groups.setdefault(self._find(distinct_id), []).append(distinct_id)
        return groups

    def label(self, distinct_id: str | None) -> str:
        """A short name for the person (``P1``, ``P2``... in order of first appearance)."""
        if distinct_id is None:
            return "-"
        if self._labels is None:
            self._labels = {}
        person = self.person_of(distinct_id)
        if person not in self._labels:
            self._labels = {
                root: f"P{number}" for number, root in enumerate(self.persons(), start=1)
            }
        return self._labels.get(person, "?")
