"""Checks on persons as PostHog holds them: no ingestion warning, and a person's properties.

>>> assert_no_ingestion_warnings(analytics)
>>> assert_person_properties(analytics, "user-42", plan="pro", email=str)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from pytest_hybrid_analytics._checks.failure import fail, identity_of, nothing_to_check
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import (
    Identity,
    IngestionWarning,
    Person,
    PropertyChange,
    illegal_distinct_id,
)
from pytest_hybrid_analytics._model.text import format_value, plural, was
from pytest_hybrid_analytics._recording.query import describe_wanted, miss
from pytest_hybrid_analytics._recording.recorder import EventRecorder, events_of

__all__ = [
    "PERSON_FINDINGS",
    "assert_no_ingestion_warnings",
    "assert_person_properties",
    "person_findings",
    "warnings_next_step",
]

Events = EventRecorder | Iterable[CapturedEvent]
_MAX_LISTED = 10
_NEXT_STEPS = {
    "cannot_merge_already_identified": "call posthog.reset() when a user logs out, so the next "
    "user starts anonymous; PostHog never merges a person that is already identified",
    "cannot_merge_already_identified/$create_alias": "let the anonymous id be the one that "
    "joins: posthog.identify(user_id) in the browser (it sends $identify with "
    "$anon_distinct_id), or on the server alias(previous_id=user_id, "
    "distinct_id=anonymous_id); an alias whose new id is the user joins nothing once that user "
    "is identified (on a second device, say)",
    "cannot_merge_with_illegal_distinct_id": "send the real user id, never a placeholder such "
    "as 'None' or 'undefined' (str(None) on the server, an unset variable in the page)",
    "invalid_event_when_process_person_profile_is_false": "identify and alias only where "
    "person profiles are processed ($process_person_profile is not false)",
    "invalid_process_person_profile": "send $process_person_profile as true or false, or not "
    "at all",
    "skipping_event_invalid_distinct_id": "keep distinct ids short (a user id, not a document)",
}


#: What fails a test at teardown (``@pytest.mark.analytics(allow_warnings=[...])`` allows a
#: code): an event sent under an illegal distinct id, and the warnings that lose or refuse what
#: an app meant (a refused merge with an illegal id, a personless merge, an id over 400
#: characters). A merge refused because both persons were identified is left to
#: ``assert_same_person``: it fails where the test says the ids are one person.
PERSON_FINDINGS = (
    "illegal-distinct-id",
    "cannot_merge_with_illegal_distinct_id",
    "invalid_event_when_process_person_profile_is_false",
    "skipping_event_invalid_distinct_id",
)


def person_findings(events: Iterable[CapturedEvent]) -> list[Finding]:
    """The teardown findings about persons: one per illegal distinct id (with the events sent
    under it) and one per warning in :data:`PERSON_FINDINGS`.

    >>> [f.code for f in person_findings(analytics.events)]
    ['illegal-distinct-id']
    """
    evs = list(events)
    identity = Identity(evs)
    findings = [
        Finding("persons", w.type, w.message, event=w.event)
        for w in identity.warnings
        if w.type in PERSON_FINDINGS
    ]
    warned = {id(f.event) for f in findings}
    by_id: dict[str, list[CapturedEvent]] = {}
    for event in evs:
        did = event.distinct_id
        if did is not None and id(event) not in warned and illegal_distinct_id(did):
            by_id.setdefault(did, []).append(event)
    for did, mine in by_id.items():
        names = ", ".join(list(dict.fromkeys(f"{e.event!r} ({e.source})" for e in mine))[:5])
        findings.append(
            Finding(
                "persons",
                "illegal-distinct-id",
                f"{plural(len(mine), 'event')} ({names}) {was(len(mine))} "
                f"sent under the distinct id {format_value(did)}, a placeholder PostHog refuses "
                "to merge: every user sending it becomes one person (str(None) on the server, "
                "an unset variable in the page).",
                event=mine[0],
            )
        )
    return findings


def warnings_next_step(warnings: Iterable[IngestionWarning]) -> str:
    """The next step for a set of warnings (the first kind's, in PostHog's order of harm)."""
    kinds = {
        f"{w.type}/$create_alias"
        if w.type == "cannot_merge_already_identified" and w.event.event == "$create_alias"
        else w.type
        for w in warnings
    }
    steps = [step for kind, step in _NEXT_STEPS.items() if kind in kinds]
    return f"Next step: {'; '.join(steps)} (README, 'Persons')."


def assert_no_ingestion_warnings(
    events: Events, *, allow: Collection[str] = (), recorder: EventRecorder | None = None
) -> None:
    """No event would make PostHog raise an ingestion warning: no merge refused (an already
    identified person, an illegal id), no personless merge, no invalid
    ``$process_person_profile``, no distinct id over 400 characters. ``allow`` lists warning
    types that may occur.

    >>> assert_no_ingestion_warnings(analytics)
    >>> assert_no_ingestion_warnings(analytics, allow=["invalid_process_person_profile"])
    """
    __tracebackhide__ = True
    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_no_ingestion_warnings"))
    identity = identity_of(evs, recorder)
    found = [warning for warning in identity.warnings if warning.type not in allow]
    if not found:
        return
    lines = [
        f"Expected no ingestion warnings; PostHog would raise {plural(len(found), 'warning')}:"
    ]
    lines += [f"  {n}. {warning}" for n, warning in enumerate(found[:_MAX_LISTED], start=1)]
    if len(found) > _MAX_LISTED:
        lines.append(f"  … and {len(found) - _MAX_LISTED} more")
    lines.append(warnings_next_step(found))
    fail(lines, evs, identity, marks={id(w.event): w.type for w in found})


def assert_person_properties(events: Events, distinct_id: str, /, **expected: Any) -> Person:
    """``distinct_id``'s person holds these properties, as PostHog would hold them after every
    ``$set_once``, ``$set`` and ``$unset`` (merges included). A wanted value is a plain value,
    a type (``email=str``) or a predicate (``age=lambda a: a >= 18``), as in ``find``; names
    with ``$`` go through a dict. Returns the person. On failure it says which event set each
    property, and when.

    >>> assert_person_properties(analytics, "user-42", plan="pro", email=str)
    Person(label='P1', distinct_ids=('anon-1', 'user-42'), ...)
    """
    __tracebackhide__ = True
    if not expected:
        raise TypeError("assert_person_properties needs at least one property=value")
    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_person_properties"))
    identity = identity_of(evs)
    person = identity.person(distinct_id)
    wanted = ", ".join(f"{key}={describe_wanted(value)}" for key, value in expected.items())
    if person is None:
        fail(
            [
                f"Expected {distinct_id!r}'s person to hold {wanted}; {distinct_id!r} has no "
                "person: no event carries it, or only personless ones "
                "($process_person_profile: false) or dropped ones.",
                "Next step: check the distinct id, and that its events are sent with person "
                "processing (README, 'Persons').",
            ],
            evs,
            identity,
        )
    problems = []
    for key, value in expected.items():
        history = [change for change in person.changes if change.key == key]
        if key not in person.properties:
            problems.append(f"  {key} missing (wanted {describe_wanted(value)}): {_story(history)}")
            continue
        why = miss(value, person.properties[key])
        if why:
            actual = format_value(person.properties[key])
            problems.append(
                f"  {key}={actual} {why} (wanted {describe_wanted(value)}): {_story(history)}"
            )
    if not problems:
        return person
    ids = ", ".join(map(repr, person.distinct_ids))
    lines = [
        f"Expected {person.label} ({ids}) to hold {wanted}; "
        f"{plural(len(problems), 'property differs', 'properties differ')}:",
        *problems,
        f"{person.label} holds: {format_value(person.properties, 400)}",
        "Next step: look at the events that set these properties above (a $set_once keeps the "
        "first value, a later $set overwrites it, a merge keeps the target person's values).",
    ]
    marks = {id(c.event): f"{c.operation} {c.key}" for c in person.changes if c.key in expected}
    fail(lines, evs, identity, marks=marks, properties=["$set", "$set_once", "$unset"])


def _story(history: list[PropertyChange]) -> str:
    if not history:
        return "no event of this person set it"
    last, earlier = history[-1], history[:-1]
    text = f"last {last}"
    if earlier:
        text += "; before that " + "; ".join(str(change) for change in earlier[-3:])
    return text
