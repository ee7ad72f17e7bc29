"""Persons exactly as PostHog's ingestion counts them: which events merge two distinct ids and in
which direction, merges refused (an already identified person, an illegal id), personless
events, ids too long, and person properties after ``$set_once``, ``$set`` and ``$unset``.

Read from PostHog's ingestion code (``nodejs/src/ingestion/common/persons/`` and
``nodejs/src/common/persons/person-utils.ts``; the rules, with files and commits, are in the
project's ``docs/posthog-persons.md``). Events are taken in the order given, as PostHog takes
them in the order they arrive.

>>> who = Identity(analytics.events)
>>> who.same_person(anon_id, "user-42"), who.label("user-42")
(True, 'P1')
>>> [w.type for w in who.warnings]
['cannot_merge_already_identified']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.text import clock, format_value

__all__ = [
    "MERGE_EVENTS",
    "Identity",
    "IngestionWarning",
    "Merge",
    "Person",
    "PropertyChange",
    "WarningType",
    "illegal_distinct_id",
]

#: The only events that ever join two distinct ids.
MERGE_EVENTS = frozenset({"$identify", "$create_alias", "$merge_dangerously"})
#: Events PostHog drops when sent with ``$process_person_profile: false``.
_PERSON_ONLY_EVENTS = MERGE_EVENTS | {"$groupidentify"}
#: Longer distinct ids are dropped (and refused in merges).
MAX_DISTINCT_ID = 400

_ILLEGAL_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_ILLEGAL_EXACT = frozenset({"[object Object]", "NaN", "None", "none", "null", "0", "undefined"})

WarningType = Literal[
    "cannot_merge_already_identified",
    "cannot_merge_with_illegal_distinct_id",
    "invalid_event_when_process_person_profile_is_false",
    "invalid_process_person_profile",
    "skipping_event_invalid_distinct_id",
]


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def illegal_distinct_id(value: str) -> bool:
    """Whether PostHog refuses ``value`` as a distinct id in a merge: a placeholder
    (``"anonymous"``, ``"None"``, ``"undefined"``, ``"[object Object]"``..., also in quotes),
    empty or blank, with a NUL, or longer than 400 characters.

    >>> illegal_distinct_id("None"), illegal_distinct_id("'Guest'"), illegal_distinct_id("NONE")
    (True, True, False)
    """
    if not value.strip() or "\x00" in value or len(value) > MAX_DISTINCT_ID:
        return True
    inner = _unquoted(value)
    return inner.lower() in _ILLEGAL_ANY_CASE or inner in _ILLEGAL_EXACT


@dataclass(frozen=True, slots=True)
class IngestionWarning:
    """An ingestion warning PostHog would raise for an event (shown in its "Ingestion
    warnings" page), under PostHog's own name.

    >>> warning = analytics.warnings[0]
    >>> warning.type, warning.event.event
    ('cannot_merge_already_identified', '$identify')
    """

    #: PostHog's name: ``"cannot_merge_already_identified"``,
    #: ``"cannot_merge_with_illegal_distinct_id"``,
    #: ``"invalid_event_when_process_person_profile_is_false"``,
    #: ``"invalid_process_person_profile"`` or ``"skipping_event_invalid_distinct_id"``.
    type: WarningType
    #: The event that raised it.
    event: CapturedEvent
    #: What happened and what follows, in words.
    message: str

    def __str__(self) -> str:
        return f"[{self.type}] {self.message}"


@dataclass(frozen=True, slots=True)
class Merge:
    """Two distinct ids a merge event asked to join, and whether PostHog joined them."""

    #: The id that joins the person (``$anon_distinct_id``, or the ``alias``).
    from_id: str
    #: The id it joins (the event's ``distinct_id``): its person survives.
    into_id: str
    #: The event that asked.
    event: CapturedEvent
    #: ``None`` when the merge went through, else the warning that refused it.
    refused: WarningType | None = None


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """One change an event made to a person's properties."""

    #: The property.
    key: str
    #: ``"$set"``, ``"$set_once"`` or ``"$unset"``.
    operation: str
    #: The value set (``None`` for ``$unset``).
    value: Any
    #: The event that made it.
    event: CapturedEvent

    def __str__(self) -> str:
        shown = "" if self.operation == "$unset" else f"={format_value(self.value)}"
        return (
            f"{self.key}{shown} by {self.operation} in {self.event.event!r} "
            f"({self.event.source}) at {clock(self.event.timestamp)}"
        )


@dataclass(frozen=True)
class Person:
    """One person as PostHog would hold it after the events so far.

    >>> person = analytics.person("user-42")
    >>> person.label, person.distinct_ids, person.is_identified, person.properties["plan"]
    ('P1', ('anon-1', 'user-42'), True, 'pro')
    """

    #: ``"P1"``, ``"P2"``... in order of first appearance.
    label: str
    #: Every distinct id of the person, in the order they were first seen.
    distinct_ids: tuple[str, ...]
    #: Its properties after every ``$set_once``, ``$set`` and ``$unset``, in PostHog's order.
    properties: dict[str, Any]
    #: Whether a merge went through for it (PostHog then refuses to merge it into another).
    is_identified: bool
    #: Every change to its properties, in order (which event set what, and when).
    changes: tuple[PropertyChange, ...] = field(default=(), repr=False, compare=False)
    #: The distinct id that names it: the target of its last merge, else its first id.
    name: str = field(default="", repr=False, compare=False)


class _Draft:
    """A person being built, event by event."""

    __slots__ = ("changes", "first", "identified", "ids", "name", "properties")

    def __init__(self, distinct_id: str, first: int) -> None:
        self.ids = [distinct_id]
        self.properties: dict[str, Any] = {}
        self.identified = False
        self.first = first
        self.name = distinct_id
        self.changes: list[PropertyChange] = []


class Identity:
    """Persons resolved from a set of events, by PostHog's rules, in the order given.

    >>> who = Identity(analytics.events)
    >>> who.same_person(anon_id, "user-42")
    True
    >>> who.label("user-42"), who.person("user-42").is_identified
    ('P1', True)
    """

    def __init__(self, events: Iterable[CapturedEvent] = ()) -> None:
        self._by_id: dict[str, _Draft] = {}
        self._seen: dict[str, int] = {}
        #: Every merge asked for, in order: ``refused`` says which PostHog refused, and why.
        self.requested: list[Merge] = []
        #: The ingestion warnings PostHog would have raised, in order.
        self.warnings: list[IngestionWarning] = []
        self._labels: dict[int, str] | None = None
        for event in events:
            self.add(event)

    @property
    def merges(self) -> list[Merge]:
        """The merges that went through."""
        return [merge for merge in self.requested if merge.refused is None]

    @property
    def refused(self) -> list[Merge]:
        """The merges PostHog refused (``Merge.refused`` names the warning)."""
        return [merge for merge in self.requested if merge.refused is not None]

    # -- taking events in ------------------------------------------------------------------

    def _warn(self, kind: WarningType, event: CapturedEvent, message: str) -> None:
        self.warnings.append(IngestionWarning(kind, event, message))

    def _see(self, distinct_id: str) -> int:
        return self._seen.setdefault(distinct_id, len(self._seen))

    def _person(self, distinct_id: str) -> _Draft:
        person = self._by_id.get(distinct_id)
        if person is None:
            person = _Draft(distinct_id, self._see(distinct_id))
            self._by_id[distinct_id] = person
        return person

    def add(self, event: CapturedEvent) -> None:
        """Take one more event into account."""
        self._labels = None
        target = event.distinct_id
        if target is None:
            return
        if len(target) > MAX_DISTINCT_ID:
            self._warn(
                "skipping_event_invalid_distinct_id",
                event,
                f"{event.event!r} ({event.source}) has a distinct_id of {len(target)} characters "
                f"(PostHog's limit is {MAX_DISTINCT_ID}): PostHog drops the event.",
            )
            return
        if self._personless(event):
            self._see(target)  # persons are labelled by when their ids first appeared
            return
        source = _merge_source(event)
        if source is None or source == target:
            self._apply(self._person(target), event)
            return
        self._see(source)  # the id joining is seen first (the anonymous one, the alias)
        self._see(target)
        illegal = next((i for i in (target, source) if illegal_distinct_id(i)), None)
        if illegal is not None:
            self._refuse(
                Merge(source, target, event, "cannot_merge_with_illegal_distinct_id"),
                f"{event.event!r} ({event.source}) asked to merge {format_value(source)} into "
                f"{format_value(target)}, but {format_value(illegal)} is not a legal distinct id "
                "(a placeholder such as 'None', 'undefined' or 'anonymous', or empty): PostHog "
                "refuses the merge, and the ids stay apart.",
            )
            self._apply(self._person(target), event)
            return
        self._merge(Merge(source, target, event))

    def _personless(self, event: CapturedEvent) -> bool:
        """Whether ``event`` creates or changes no person (``$process_person_profile``)."""
        if "$process_person_profile" not in event.properties:
            return False
        flag = event.properties["$process_person_profile"]
        if not isinstance(flag, bool):
            self._warn(
                "invalid_process_person_profile",
                event,
                f"{event.event!r} ({event.source}) has $process_person_profile "
                f"{format_value(flag)}, not true or false: PostHog treats it as true.",
            )
            return False
        if flag:
            return False
        if event.event in _PERSON_ONLY_EVENTS:
            self._warn(
                "invalid_event_when_process_person_profile_is_false",
                event,
                f"{event.event!r} ({event.source}) by {format_value(event.distinct_id)} was sent "
                "with $process_person_profile: false: PostHog drops it, so nothing is merged "
                "(identify a user only where person profiles are processed).",
            )
        return True

    def _refuse(self, merge: Merge, message: str) -> None:
        assert merge.refused is not None
        self.requested.append(merge)
        self._warn(merge.refused, merge.event, message)

    def _merge(self, merge: Merge) -> None:
        event, source, target = merge.event, merge.from_id, merge.into_id
        into, other = self._by_id.get(target), self._by_id.get(source)
        if into is None and other is None:
            into = self._person(target)
            self._attach(into, source)
        elif into is None:
            assert other is not None
            into = other
            self._attach(into, target)
            into.name = target
        elif other is None:
            self._attach(into, source)
        elif other is not into:
            if other.identified and event.event != "$merge_dangerously":
                into.identified = True
                self._refuse(
                    Merge(source, target, event, "cannot_merge_already_identified"),
                    f"{event.event!r} ({event.source}) asked to merge {format_value(source)} "
                    f"into {format_value(target)}, but {format_value(source)}'s person is "
                    "already identified: PostHog refuses to merge an already identified "
                    "person, so they stay two persons.",
                )
                self._apply(into, event)
                return
            self._absorb(into, other)
        self.requested.append(merge)
        into.identified = True
        self._apply(into, event)

    def _attach(self, person: _Draft, distinct_id: str) -> None:
        person.ids = sorted([*person.ids, distinct_id], key=self._seen.__getitem__)
        person.first = min(person.first, self._see(distinct_id))
        self._by_id[distinct_id] = person

    def _absorb(self, into: _Draft, other: _Draft) -> None:
        """``other``'s ids and properties join ``into`` (the target's properties win)."""
        for distinct_id in other.ids:
            self._by_id[distinct_id] = into
        into.ids = sorted([*into.ids, *other.ids], key=self._seen.__getitem__)
        into.properties = {**other.properties, **into.properties}
        into.changes = sorted(
            [*other.changes, *into.changes], key=lambda change: change.event.timestamp
        )
        into.first = min(into.first, other.first)

    @staticmethod
    def _apply(person: _Draft, event: CapturedEvent) -> None:
        """The event's ``$set_once``, then ``$set``, then ``$unset``."""
        props, changes = person.properties, person.changes
        for key, value in event.set_once.items():
            if key not in props:
                props[key] = value
                changes.append(PropertyChange(key, "$set_once", value, event))
        for key, value in event.set.items():
            props[key] = value
            changes.append(PropertyChange(key, "$set", value, event))
        for key in _unset_keys(event):
            props.pop(key, None)
            changes.append(PropertyChange(key, "$unset", None, event))

    # -- reading ---------------------------------------------------------------------------

    def _drafts(self) -> list[_Draft]:
        unique = {id(draft): draft for draft in self._by_id.values()}
        return sorted(unique.values(), key=lambda draft: draft.first)

    def _label_of(self, draft: _Draft) -> str:
        if self._labels is None:
            self._labels = {
                id(each): f"P{number}" for number, each in enumerate(self._drafts(), start=1)
            }
        return self._labels[id(draft)]

    def _public(self, draft: _Draft) -> Person:
        return Person(
            label=self._label_of(draft),
            distinct_ids=tuple(draft.ids),
            properties=dict(draft.properties),
            is_identified=draft.identified,
            changes=tuple(draft.changes),
            name=draft.name,
        )

    def persons(self) -> list[Person]:
        """Every person, in order of first appearance."""
        return [self._public(draft) for draft in self._drafts()]

    def person(self, distinct_id: str | None) -> Person | None:
        """The person of ``distinct_id``, or ``None`` (never seen, or only on personless or
        dropped events)."""
        draft = self._by_id.get(distinct_id) if distinct_id is not None else None
        return self._public(draft) if draft is not None else None

    def person_of(self, distinct_id: str) -> str:
        """The name of ``distinct_id``'s person (the target of its last merge), or the id
        itself when it has no person."""
        draft = self._by_id.get(distinct_id)
        return draft.name if draft is not None else distinct_id

    def same_person(self, a: str, b: str) -> bool:
        """Whether two distinct ids belong to one person."""
        return a == b or self.person_of(a) == self.person_of(b)

    def label(self, distinct_id: str | None) -> str:
        """A short name for the person (``P1``, ``P2``... in order of first appearance); ``-``
        for an event with no distinct id or no person (personless, dropped)."""
        draft = self._by_id.get(distinct_id) if distinct_id is not None else None
        return self._label_of(draft) if draft is not None else "-"


def _merge_source(event: CapturedEvent) -> str | None:
    """The id a merge event asks to join into its ``distinct_id``, or ``None`` (no merge)."""
    props = event.properties
    if event.event == "$identify":
        if "$anon_distinct_id" not in props:
            return None
        return _as_id(props["$anon_distinct_id"])
    if event.event in ("$create_alias", "$merge_dangerously"):
        alias = props.get("alias")
        return _as_id(alias) if alias else None
    return None


def _as_id(value: Any) -> str:
    """A JSON value as PostHog's ingestion turns it into an id (``null`` -> ``"null"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unset_keys(event: CapturedEvent) -> list[str]:
    unset = event.properties.get("$unset")
    if isinstance(unset, Mapping):
        return [str(key) for key in unset]
    if isinstance(unset, list):
        return [str(key) for key in unset if isinstance(key, str)]
    return []
