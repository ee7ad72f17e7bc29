"""Checks for what goes wrong with hybrid analytics in real life.

Each takes an ``EventRecorder`` or any iterable of ``CapturedEvent`` (a ``find`` result, say)
and fails with an ``AssertionError`` that names what was expected, prints the captured timeline
and says what to do next. Identity (who is the same person) is resolved from the events given; pass
``recorder=analytics`` with a filtered list so that it still knows the ``$identify`` that joins
its ids.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NoReturn

from pytest_hybrid_analytics._checks.failure import (
    fail,
    identity_of,
    nothing_to_check,
    numbered,
)
from pytest_hybrid_analytics._checks.person_checks import warnings_next_step
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import IngestionWarning
from pytest_hybrid_analytics._model.text import plural
from pytest_hybrid_analytics._recording.query import Query
from pytest_hybrid_analytics._recording.recorder import EventRecorder, events_of
from pytest_hybrid_analytics._recording.timeline import on_timeline

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.findings import Finding
    from pytest_hybrid_analytics._checks.pii import PiiGuard

__all__ = [
    "Duplicate",
    "Step",
    "assert_no_duplicates",
    "assert_no_pii",
    "assert_same_api_key",
    "assert_same_person",
    "assert_same_user_journey",
    "assert_single_distinct_id",
    "assert_utc_timestamps",
    "find_duplicates",
]

Events = EventRecorder | Iterable[CapturedEvent]
#: A journey step: an event name, an ``(event, source)`` pair, or a dict with ``event`` and
#: optionally ``source`` and ``properties``.
Step = str | tuple[str, str] | Mapping[str, Any]

#: Idempotent bookkeeping: sending it again changes nothing (the same merge, the same person
#: properties), so a repeat is never a duplicate, on one side or across sides.
_IDEMPOTENT = frozenset(
    {"$identify", "$create_alias", "$merge_dangerously", "$set", "$set_once", "$groupidentify"}
)
#: Bookkeeping events both sides may legitimately send for the same person.
_SHARED_EVENTS = _IDEMPOTENT | {"$feature_flag_called", "$snapshot", "$exception"}
#: Properties that differ between two firings of the very same action.
_VOLATILE = frozenset(
    {
        "$time",
        "$insert_id",
        "$sent_at",
        "$pageview_id",
        "$feature_flag_request_id",
        "$feature_flag_evaluated_at",
        "$snapshot_data",
    }
)
_VOLATILE_PREFIXES = ("$prev_pageview", "$lib_rate_limit", "$sdk_debug")
#: How many ids, persons or findings a message lists before it summarises the rest.
_MAX_LISTED = 10


def assert_single_distinct_id(
    events: Events, *, expected: str | None = None, recorder: EventRecorder | None = None
) -> str:
    """Every event carries the same literal ``distinct_id`` (and it is ``expected``, if given).

    The guide's identity check: it does not follow ``$identify`` merges (see
    :func:`assert_same_person` for that). Returns the distinct id.

    >>> assert_single_distinct_id(analytics, expected="user-42")
    'user-42'
    """
    __tracebackhide__ = True
    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_single_distinct_id"))
    by_id: dict[str | None, list[CapturedEvent]] = defaultdict(list)
    for event in evs:
        by_id[event.distinct_id].append(event)
    if len(by_id) == 1 and (expected is None or expected in by_id):
        only = next(iter(by_id))
        if only is not None:
            return only
    identity = identity_of(evs, recorder)
    wanted = f" ({expected!r})" if expected is not None else ""
    lines = [f"Expected every event to carry one distinct_id{wanted}; found {len(by_id)}:"]
    ranked = sorted(by_id.items(), key=lambda item: -len(item[1]))
    for distinct_id, mine in ranked[:_MAX_LISTED]:
        sides = "/".join(sorted({e.source for e in mine}))
        names = ", ".join(list(dict.fromkeys(e.event for e in mine))[:_MAX_LISTED])
        shown = repr(distinct_id) if distinct_id is not None else "<none>"
        lines.append(f"  {shown}: {plural(len(mine), sides + ' event')} ({names})")
    if len(ranked) > _MAX_LISTED:
        lines.append(f"  … and {len(ranked) - _MAX_LISTED} more distinct ids")
    counts = {key: len(value) for key, value in by_id.items()}
    ids = [i for i in counts if i is not None]
    if len(ids) > 1 and len({identity.person_of(i) for i in ids}) == 1:
        lines.append(
            "These ids are one person, joined by $identify/$create_alias: use "
            "assert_same_person if merged identities are what you mean."
        )
    elif counts.get(None):
        lines.append("Next step: some events have no distinct_id at all; pass one explicitly.")
    else:
        lines.append(
            "Next step: pass posthog.get_distinct_id() from the client to the server, or "
            "identify with the user id on both sides (guide: 'Identity Consistency')."
        )
    fail(lines, evs, identity)


def assert_same_person(events: Events, *, recorder: EventRecorder | None = None) -> str:
    """Every event belongs to one person, following ``$identify``, ``$create_alias`` and merges.

    The anonymous-to-identified flow passes: the anonymous ``$pageview`` and the identified
    server purchase are one person once ``$identify`` joined them. Returns the person's name
    (its identified distinct id).

    >>> assert_same_person(analytics)
    'user-42'
    """
    __tracebackhide__ = True
    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_same_person"))
    identity = identity_of(evs, recorder)
    anonymous = [e for e in evs if e.distinct_id is None]
    persons: dict[str, list[CapturedEvent]] = defaultdict(list)
    nobody: list[CapturedEvent] = []  # personless or dropped: on no person at all
    for event in evs:
        if event.distinct_id is None:
            continue
        if identity.person(event.distinct_id) is None and not _anonymous_visitor(event):
            nobody.append(event)
        else:
            persons[identity.person_of(event.distinct_id)].append(event)
    if len(persons) == 1 and not anonymous and not nobody:
        return next(iter(persons))
    lines = [
        f"Expected all events to belong to one person; found {plural(len(persons), 'person')}"
        + (f", {plural(len(nobody), 'event')} on no person" if nobody else "")
        + (f" and {plural(len(anonymous), 'event')} with no distinct_id" if anonymous else "")
        + ":"
    ]
    for root, mine in list(persons.items())[:_MAX_LISTED]:
        ids = list(dict.fromkeys(e.distinct_id for e in mine if e.distinct_id))
        names = ", ".join(list(dict.fromkeys(e.event for e in mine))[:_MAX_LISTED])
        lines.append(f"  {identity.label(root)} ({', '.join(map(repr, ids))}): {names}")
    if len(persons) > _MAX_LISTED:
        lines.append(f"  … and {len(persons) - _MAX_LISTED} more persons")
    if nobody:
        names = ", ".join(list(dict.fromkeys(f"{e.event} ({e.source})" for e in nobody))[:5])
        lines.append(
            f"  no person: {names}: sent with $process_person_profile: false (or dropped), so "
            "PostHog puts them on no person"
            + (
                "; posthog-python sends that for a capture() with no distinct_id, under an "
                "id it invents for the one event: pass the user's id"
                if any(e.source == "server" for e in nobody)
                else ""
            )
        )
    if identity.merges:
        joined = "; ".join(
            f"{m.from_id!r} -> {m.into_id!r} by {m.event.event}" for m in identity.merges[:5]
        )
        lines.append(f"Merges seen: {joined}.")
    elif not identity.refused:
        lines.append("No $identify, $create_alias or merge event was captured.")
    split = [w for w in identity.warnings if w.type in _SPLITTING]
    for warning in split[:5]:
        lines.append(f"PostHog refused a merge: {warning}")
    lines.append(_same_person_next_step(split, persons))
    marks = {id(w.event): w.type for w in split}
    fail(lines, evs, identity, marks=marks)


#: The ingestion warnings that leave one user as two persons.
_SPLITTING = (
    "cannot_merge_already_identified",
    "cannot_merge_with_illegal_distinct_id",
    "invalid_event_when_process_person_profile_is_false",
)


def _same_person_next_step(
    split: Sequence[IngestionWarning], persons: Mapping[str, list[CapturedEvent]]
) -> str:
    """What to do, by how the persons split: a refused merge; a server that sends under an id
    the client never had; a client that identified as one user while the server uses another;
    or anonymous visitors never identified."""
    if split:
        return warnings_next_step(split)
    sides = [{e.source for e in mine} for mine in persons.values()]
    server_only = sum(side == {"server"} for side in sides)
    client_persons = [mine for mine in persons.values() if any(e.source == "client" for e in mine)]
    identified = any(e.event == "$identify" for mine in client_persons for e in mine)
    if server_only and identified:
        return (
            "Next step: the client identified the user, but the server sent under another id: "
            "use the same user id on both sides (guide: 'Identity Consistency')."
        )
    if server_only:
        return (
            "Next step: pass the client's distinct id to the server (posthog.get_distinct_id() "
            "with the request, the guide's approach 1), or identify the user with the same id "
            "on both sides (guide: 'Identity Consistency')."
        )
    return (
        "Next step: call posthog.identify(user_id) on login (the client sends $identify "
        "with $anon_distinct_id), or alias the ids (guide: 'Anonymous users not merging')."
    )


def _anonymous_visitor(event: CapturedEvent) -> bool:
    """A browser's anonymous event, personless under posthog-js's default
    ``person_profiles: 'identified_only'``: it is the visitor's until a merge says otherwise,
    so it is judged by its distinct id like any other."""
    return event.source == "client"


def _volatile(key: str) -> bool:
    return key in _VOLATILE or key.startswith(_VOLATILE_PREFIXES)


def _fingerprint(event: CapturedEvent) -> str:
    stable = {k: v for k, v in event.properties.items() if not _volatile(k)}
    return json.dumps(stable, sort_keys=True, default=repr)


def _close_pairs(
    group: list[CapturedEvent], window: timedelta
) -> list[tuple[CapturedEvent, CapturedEvent]]:
    ordered = sorted(group, key=lambda e: e.timestamp)
    return [(a, b) for a, b in pairwise(ordered) if b.timestamp - a.timestamp <= window]


def _seconds(delta: timedelta) -> str:
    return f"{abs(delta.total_seconds()):.3g} s"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """One duplicate :func:`find_duplicates` found: what it is, and the events involved."""

    #: The sentence that names it and says what to do.
    text: str
    #: The events it is about (two or more).
    events: tuple[CapturedEvent, ...]


def find_duplicates(
    events: Events,
    *,
    window: timedelta = timedelta(seconds=10),
    recorder: EventRecorder | None = None,
) -> list[Duplicate]:
    """The duplicates :func:`assert_no_duplicates` fails on, as data (for reports).

    >>> [d.text for d in find_duplicates(analytics)]
    ["'signup' with uuid abc was recorded 2 times: an SDK retry ..."]
    """
    evs = events_of(events)
    identity = identity_of(evs, recorder)
    findings: list[Duplicate] = []

    # One dict entry per uuid and a list only for a uuid seen twice: a million events make no
    # million lists.
    first: dict[str, CapturedEvent] = {}
    again: dict[str, list[CapturedEvent]] = {}
    unique: list[CapturedEvent] = []
    for event in evs:
        uuid = event.uuid
        if uuid is None:
            unique.append(event)
            continue
        seen = first.setdefault(uuid, event)
        if seen is event:
            unique.append(event)
        else:
            again.setdefault(uuid, [seen]).append(event)
    for uuid in [uuid for uuid in first if uuid in again] if again else ():
        same = again[uuid]
        findings.append(
            Duplicate(
                f"{same[0].event!r} with uuid {uuid} was recorded {len(same)} times: an SDK "
                "retry (ingestion must answer exactly 200) or an app that sends it twice.",
                tuple(same),
            )
        )

    groups: dict[tuple[str, str | None], list[CapturedEvent]] = defaultdict(list)
    for event in unique:
        person = identity.person_of(event.distinct_id) if event.distinct_id else None
        groups[(event.event, person)].append(event)
    for (name, person), group in groups.items():
        if len(group) < 2:
            continue
        who = identity.label(person) if person else "<no distinct_id>"
        if name not in _SHARED_EVENTS:
            for a, b in _close_pairs(group, window):
                if a.source != b.source:
                    findings.append(
                        Duplicate(
                            f"{name!r} for {who} was sent by both client and server "
                            f"{_seconds(b.timestamp - a.timestamp)} apart: choose one source per "
                            "event (guide: 'Duplicate events'; payments and subscriptions belong "
                            "on the server).",
                            (a, b),
                        )
                    )
                    break
        if name == "$snapshot" or name in _IDEMPOTENT:
            continue
        for side in ("client", "server"):
            mine = [e for e in group if e.source == side]
            close = {id(e) for pair in _close_pairs(mine, window) for e in pair}
            if not close:
                continue
            by_props: dict[str, list[CapturedEvent]] = defaultdict(list)
            for event in mine:
                if id(event) in close:
                    by_props[_fingerprint(event)].append(event)
            for same in by_props.values():
                pairs = _close_pairs(same, window)
                if pairs:
                    a, b = pairs[0]
                    count = len({id(e) for pair in pairs for e in pair})
                    findings.append(
                        Duplicate(
                            f"{name!r} for {who} was fired {count} times by the {side} with "
                            f"the same properties, {_seconds(b.timestamp - a.timestamp)} apart: "
                            "the same action tracked twice (a double handler, or a capture in a "
                            "re-render).",
                            tuple(dict.fromkeys(e for pair in pairs for e in pair)),
                        )
                    )
    return findings


def assert_no_duplicates(
    events: Events,
    *,
    window: timedelta = timedelta(seconds=10),
    recorder: EventRecorder | None = None,
) -> None:
    """No action is tracked twice. Three kinds of duplicate fail it:

    - the same ``uuid`` recorded twice (an SDK retry, or an app that resends);
    - the same event for the same person from both client and server within ``window`` (the
      guide's "choose one source per event"; identity bookkeeping such as ``$identify`` and
      ``$feature_flag_called`` is exempt);
    - the same event, person, side and properties fired twice within ``window`` (properties
      that always differ, like ``$time`` and ``$insert_id``, are ignored).

    >>> assert_no_duplicates(analytics, window=timedelta(seconds=30))
    """
    __tracebackhide__ = True
    evs = events_of(events)
    findings = find_duplicates(evs, window=window, recorder=recorder)
    if not findings:
        return
    lines = [f"Expected no duplicate events (window {_seconds(window)}); found {len(findings)}:"]
    listed, marks = numbered([(f.text, f.events) for f in findings], "duplicate")
    lines += listed
    kept = (
        recorder if recorder is not None else events if isinstance(events, EventRecorder) else None
    )
    lines += retries_not_counted(kept.retried if kept is not None else [])
    fail(lines, evs, identity_of(evs, recorder), marks=marks)


def retries_not_counted(retried: Sequence[CapturedEvent]) -> list[str]:
    """The line that says which re-deliveries a duplicate check saw and did not count."""
    if not retried:
        return []
    shown = ", ".join(f"{e.event!r} (uuid {e.uuid})" for e in retried[:3])
    more = f" and {len(retried) - 3} more" if len(retried) > 3 else ""
    return [
        f"Not counted: {plural(len(retried), 're-delivery', 're-deliveries')} of events already "
        f"recorded (an SDK retry, an unload beacon; PostHog keeps one event per uuid): "
        f"{shown}{more} (analytics.retried)."
    ]


def _step_query(step: Step, number: int) -> tuple[str, Query]:
    if isinstance(step, str):
        return repr(step), Query(event=step)
    if isinstance(step, tuple):
        if len(step) != 2 or not all(isinstance(part, str) for part in step):
            raise TypeError(f"journey step {number}: a tuple step is (event, source), got {step!r}")
        return repr(step), Query(event=step[0], source=step[1])
    if isinstance(step, Mapping):
        unknown = set(step) - {"event", "source", "properties", "distinct_id"}
        if "event" not in step or unknown:
            raise TypeError(
                f"journey step {number}: a dict step has 'event' and optionally "
                f"'source', 'distinct_id' and 'properties', got keys {sorted(step)}"
            )
        query = Query(
            event=step["event"],
            source=step.get("source"),
            distinct_id=step.get("distinct_id"),
            properties=dict(step.get("properties") or {}),
        )
        return f"({query.describe()})", query
    raise TypeError(
        f"journey step {number}: expected a name, (event, source) or dict, "
        f"got {type(step).__name__}"
    )


def assert_same_user_journey(
    events: Events,
    steps: Sequence[Step],
    *,
    distinct_id: str | None = None,
    recorder: EventRecorder | None = None,
) -> list[CapturedEvent]:
    """The ``steps`` happen in this order, all by one person (other events may come between).

    A step is an event name, an ``(event, source)`` pair, or a dict with ``event`` and optionally
    ``source``, ``distinct_id`` (the id that very event carries) and ``properties``. With
    ``distinct_id=``, the person must be that id's person.
    Returns the event matched to each step. On failure it says how far the best person got and
    where the journey broke: a missing event, one out of order, or one sent under another
    person's id (the classic "journey breaks at login").

    >>> assert_same_user_journey(analytics, [
    ...     "$pageview", ("add_to_cart", "client"),
    ...     {"event": "purchase_completed", "source": "server", "properties": {"currency": "EUR"}},
    ... ])
    """
    __tracebackhide__ = True
    if isinstance(steps, str | bytes) or not steps:
        raise TypeError("steps must be a non-empty list of journey steps")
    parsed = [_step_query(step, n) for n, step in enumerate(steps, start=1)]
    evs = on_timeline(events_of(events))
    if not evs:
        raise AssertionError(nothing_to_check("assert_same_user_journey"))
    identity = identity_of(evs, recorder)
    only = identity.person_of(distinct_id) if distinct_id is not None else None

    progress: dict[str, list[CapturedEvent]] = {}
    for event in evs:
        if event.distinct_id is None:
            continue
        person = identity.person_of(event.distinct_id)
        if only is not None and person != only:
            continue
        matched = progress.setdefault(person, [])
        if len(matched) < len(parsed) and parsed[len(matched)][1].matches(event):
            matched.append(event)
            if len(matched) == len(parsed):
                return matched

    plan = " -> ".join(label for label, _ in parsed)
    who = f" by {distinct_id!r}" if distinct_id is not None else " by one person"
    lines = [f"Expected a journey{who}, in order: {plan}."]
    best_person, best = max(progress.items(), key=lambda item: len(item[1]), default=(None, []))
    broken = len(best)
    label, query = parsed[broken]
    if best_person is None:
        whose = f" of {distinct_id!r} (or of an id merged with it)" if distinct_id else ""
        lines.append(
            f"No events{whose} were captured. Next step: check the distinct id, and that the "
            "SDKs send to a road the harness covers (README, 'Nothing arrived?')."
        )
        fail(lines, evs, identity)
    lines.append(
        f"The furthest any person got: {identity.label(best_person)} matched "
        f"{broken} of {len(parsed)} steps; step {broken + 1} {label} never followed."
    )
    after = best[-1].timestamp if best else None
    elsewhere = [e for e in evs if query.matches(e)]
    others = [
        e
        for e in elsewhere
        if e.distinct_id is None or identity.person_of(e.distinct_id) != best_person
    ]
    mine = len(others) < len(elsewhere)
    if others:
        e = others[0]
        lines.append(
            f"Step {broken + 1} was sent by {e.source} under distinct_id {e.distinct_id!r} "
            f"({identity.label(e.distinct_id)}), a different person: the journey breaks here. "
            "Next step: pass the client's distinct id to the server, or identify the user on "
            "login on both sides (guide: 'Identity Consistency')."
        )
    elif mine and after is not None:
        lines.append(
            f"Step {broken + 1} happened for this person only before step {broken} (out of order). "
            "Next step: check the order the app tracks them in, or the order of the steps."
        )
    else:
        misses = query.near_misses(evs, limit=3)
        if misses:
            lines.append(
                f"No event matches step {broken + 1}. Near misses: "
                + "; ".join(
                    f"{e.event!r} from {e.source} by {e.distinct_id!r}: {', '.join(why)}"
                    for e, why in misses
                )
            )
        else:
            lines.append(
                f"No event matches step {broken + 1} {label}: it was never captured. "
                "Next step: check that the code path that sends it ran, and that its "
                "SDK was flushed."
            )
    marks = {id(e): f"step {n}" for n, e in enumerate(best, start=1)}
    marks.update({id(e): f"step {broken + 1}?" for e in elsewhere[:5]})
    fail(lines, evs, identity, marks=marks)


def _fail_findings(
    name: str, findings: Sequence[Finding], evs: list[CapturedEvent], headline: str, next_step: str
) -> NoReturn:
    __tracebackhide__ = True
    lines = [headline]
    lines.extend(f"  {finding}" for finding in findings[:_MAX_LISTED])
    if len(findings) > _MAX_LISTED:
        lines.append(f"  … and {len(findings) - _MAX_LISTED} more")
    lines.append(next_step)
    marks = {id(f.event): f"{name}: {f.code}" for f in findings if f.event is not None}
    fail(lines, evs, identity_of(evs), marks=marks)


def assert_no_pii(events: Events, *, guard: PiiGuard | None = None) -> None:
    """No client event carries a card number, a password, a secret or a token, in a property
    name or value (the guide's "Don't send sensitive data client-side"). Values are masked in
    the message. ``guard`` changes what is checked (sides, extra patterns, allowed properties).

    >>> assert_no_pii(analytics)
    >>> assert_no_pii(analytics, guard=PiiGuard(sides=("client", "server"), allow=["plan"]))
    """
    __tracebackhide__ = True
    from pytest_hybrid_analytics._checks.pii import PiiGuard

    evs = events_of(events)
    findings = (guard or PiiGuard()).check(evs)
    if findings:
        _fail_findings(
            "pii",
            findings,
            evs,
            f"Expected no sensitive data in client events; found {len(findings)}:",
            "Next step: keep card numbers, passwords and tokens on the server; send the client "
            "only what it may show (guide: 'Don't send sensitive data client-side').",
        )


def assert_same_api_key(events: Events) -> str:
    """Client and server send to one PostHog project (one ``api_key``). Returns it (masked in
    messages). The guide's "Different project IDs" and checklist line "Same API key used for
    both client and server".

    >>> assert_same_api_key(analytics)
    'phc_...'
    """
    __tracebackhide__ = True
    from pytest_hybrid_analytics._checks.diagnostics import diagnose

    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_same_api_key"))
    keys = {e.api_key for e in evs if e.api_key}
    if len(keys) == 1:
        return next(iter(keys))
    findings = [f for f in diagnose(evs) if f.code == "different-api-keys"]
    if not keys:
        raise AssertionError("assert_same_api_key: no event carries an api_key")
    _fail_findings(
        "key",
        findings,
        evs,
        "Expected one PostHog project API key for every event:",
        "Next step: configure the server SDK with the same project API key as "
        "posthog.init (guide: 'Different project IDs').",
    )


def assert_utc_timestamps(events: Events) -> None:
    """Every event's timestamp says its zone (PostHog reads a zone-less time as UTC, so a
    local time shifts the event). The guide's "Timezone discrepancies".

    >>> assert_utc_timestamps(analytics.find(source="server"))
    """
    __tracebackhide__ = True
    from pytest_hybrid_analytics._checks.diagnostics import diagnose

    evs = events_of(events)
    if not evs:
        raise AssertionError(nothing_to_check("assert_utc_timestamps"))
    findings = [f for f in diagnose(evs) if f.code == "timestamp-without-zone"]
    if findings:
        _fail_findings(
            "time",
            findings,
            evs,
            "Expected every timestamp to carry its time zone (UTC); found local times:",
            "Next step: send UTC, datetime.now(timezone.utc) or an ISO string ending in Z "
            "(guide: 'Timezone discrepancies').",
        )
