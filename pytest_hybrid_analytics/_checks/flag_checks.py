"""One flag value per user on both sides, and exposures recorded once where the app branched.

Read from what the SDKs asked the fake API (``analytics.flag_calls``) and what they sent:
``$feature_flag_called`` events and the ``$feature/<flag>`` properties on events.

>>> assert_flags_consistent(analytics)
>>> assert_flag_exposures(analytics, "new-checkout")
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pytest_hybrid_analytics._checks.failure import fail, nothing_to_check, numbered
from pytest_hybrid_analytics._model.events import CapturedEvent, Source
from pytest_hybrid_analytics._model.flag_calls import FlagCall, FlagValue
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._model.text import clock, format_value, plural

__all__ = [
    "FlagFinding",
    "FlagSource",
    "assert_flag_exposures",
    "assert_flags_consistent",
    "find_flag_exposure_problems",
    "find_flag_mismatches",
]

_FEATURE = "$feature/"
_CALLED = "$feature_flag_called"


class FlagSource(Protocol):
    """What the flag checks read: ``analytics`` (its events and flag calls)."""

    @property
    def events(self) -> list[CapturedEvent]: ...

    @property
    def flag_calls(self) -> list[FlagCall]: ...


@dataclass(frozen=True, slots=True)
class _Seen:
    """One sighting of a flag's value for a person (``at``: when it reached the harness, one
    clock for every SDK)."""

    side: Source
    value: FlagValue
    at: datetime
    distinct_id: str
    how: str
    event: CapturedEvent | None = None
    #: Whether the server evaluated it itself (a ``/flags`` call or ``$feature_flag_called``),
    #: rather than carried a value on an event.
    evaluated: bool = True


@dataclass(frozen=True, slots=True)
class FlagFinding:
    """One problem a flag check found: the flag, the person, the sentence, the events."""

    flag: str
    person: str
    text: str
    events: tuple[CapturedEvent, ...] = ()


def _value(raw: Any) -> FlagValue | None:
    if isinstance(raw, bool | str) and raw != "":
        return raw
    return None


def _sightings(source: FlagSource, identity: Identity) -> dict[tuple[str, str], list[_Seen]]:
    """Every value each person was seen with for each flag, in time order."""
    seen: dict[tuple[str, str], list[_Seen]] = defaultdict(list)
    for call in source.flag_calls:
        if call.distinct_id is None:
            continue
        person = identity.person_of(call.distinct_id)
        for key, value in call.values.items():
            how = f"{call.sdk or call.source} /{call.endpoint} for {call.distinct_id!r}"
            seen[(key, person)].append(_Seen(call.source, value, call.at, call.distinct_id, how))
    for event in source.events:
        if event.distinct_id is None:
            continue
        person = identity.person_of(event.distinct_id)
        if event.event == _CALLED:
            called = event.properties.get("$feature_flag")
            response = _value(event.properties.get("$feature_flag_response"))
            if isinstance(called, str) and response is not None:
                how = f"{_CALLED} ({event.source}) for {event.distinct_id!r}"
                seen[(called, person)].append(
                    _Seen(event.source, response, event.received_at, event.distinct_id, how, event)
                )
        for prop, raw in event.properties.items():
            carried = _value(raw) if prop.startswith(_FEATURE) else None
            if carried is None:
                continue
            how = f"{prop} on {event.event!r} ({event.source}, {event.distinct_id!r})"
            seen[(prop[len(_FEATURE) :], person)].append(
                _Seen(
                    event.source,
                    carried,
                    event.received_at,
                    event.distinct_id,
                    how,
                    event,
                    evaluated=False,
                )
            )
    for sightings in seen.values():
        sightings.sort(key=lambda s: s.at)
    return seen


def find_flag_mismatches(source: FlagSource) -> list[FlagFinding]:
    """What :func:`assert_flags_consistent` fails on, as data."""
    identity = Identity(source.events)
    findings: list[FlagFinding] = []
    for (key, person), sightings in _sightings(source, identity).items():
        label = identity.label(person) if identity.person(person) is not None else person
        client = [s for s in sightings if s.side == "client"]
        server = [s for s in sightings if s.side == "server"]
        own = {s.value for s in server if s.evaluated}
        # A server event carrying a value the server never evaluated for this person: it
        # evaluated the flag for someone else (named when such an evaluation gave that value).
        explained: set[int] = set()
        for carried in (s for s in server if not s.evaluated):
            if carried.value in own:
                continue
            elsewhere = [
                c
                for c in source.flag_calls
                if c.source == "server"
                and c.distinct_id is not None
                and c.values.get(key) == carried.value
                and identity.person_of(c.distinct_id) != person
            ]
            if not elsewhere:
                continue
            earlier = [c for c in elsewhere if c.at <= carried.at]
            other = (earlier or elsewhere)[-1]
            assert other.distinct_id is not None
            explained.add(id(carried))
            findings.append(
                FlagFinding(
                    key,
                    person,
                    f"flag {key!r}: the server evaluated it for {other.distinct_id!r} "
                    f"(person {identity.label(other.distinct_id)}, answered "
                    f"{format_value(other.values[key])}) and sent the value on "
                    f"{carried.how} (person {label}): evaluate flags with the id of the "
                    "user the request is for",
                    tuple(e for e in (carried.event,) if e is not None),
                )
            )
        server = [s for s in server if id(s) not in explained]
        values_server = list(dict.fromkeys(s.value for s in server))
        if len(values_server) > 1:
            findings.append(
                FlagFinding(
                    key,
                    person,
                    f"flag {key!r}: the server saw {len(values_server)} values for person "
                    f"{label}: "
                    + "; ".join(f"{format_value(s.value)} ({s.how})" for s in _firsts(server)),
                    tuple(s.event for s in server if s.event is not None),
                )
            )
        if not client:
            continue
        # What the browser was answered is its value; an event's $feature/ property lags (one
        # captured right after identify carries the flags of before the reload).
        answered = [c for c in client if c.event is None] or client
        for s in server:
            before = [c for c in answered if c.at <= s.at] or answered[:1]
            expected = before[-1]
            if s.value != expected.value:
                findings.append(
                    FlagFinding(
                        key,
                        person,
                        f"flag {key!r} for person {label}: the browser had "
                        f"{format_value(expected.value)} ({expected.how}, "
                        f"{clock(expected.at)}), the server {format_value(s.value)} "
                        f"({s.how}, {clock(s.at)})",
                        tuple(e for e in (expected.event, s.event) if e is not None),
                    )
                )
                break
    return findings


def _firsts(sightings: Sequence[_Seen]) -> list[_Seen]:
    firsts: dict[FlagValue, _Seen] = {}
    for s in sightings:
        firsts.setdefault(s.value, s)
    return list(firsts.values())


def assert_flags_consistent(analytics: FlagSource) -> None:
    """For each person and flag, the value the browser got, the value the server evaluated (a
    ``/flags`` call, or local evaluation as its ``$feature_flag_called`` says) and the
    ``$feature/<flag>`` properties on events agree; a server evaluation made under another
    person's id and used on this person's event is named.

    >>> analytics.flags.set("new-checkout", "test", distinct_id="user-2")
    >>> assert_flags_consistent(analytics)
    """
    __tracebackhide__ = True
    events = analytics.events
    if not events and not analytics.flag_calls:
        raise AssertionError(nothing_to_check("assert_flags_consistent"))
    findings = find_flag_mismatches(analytics)
    if not findings:
        return
    lines = [
        f"Expected one value per person for each flag on both sides; "
        f"found {plural(len(findings), 'disagreement')}:"
    ]
    listed, marks = numbered([(f.text, f.events) for f in findings], "flag")
    lines += listed
    lines.append(
        "A user then sees one variant while the server acts (and reports) on another: "
        "experiment results and the user's journey split. Next step: evaluate on the server "
        "with the id the browser uses (pass posthog.get_distinct_id() with the request, or read "
        "X-POSTHOG-DISTINCT-ID), after identify on both sides, and send the evaluation the code "
        "branched on with the event (posthog-python: snapshot = evaluate_flags(user_id), then "
        "capture(..., flags=snapshot); posthog-node: evaluateFlags(userId), then "
        "capture({..., flags})."
    )
    identity = Identity(events)
    keys = sorted({f"{_FEATURE}{f.flag}" for f in findings} | {"$feature_flag_response"})
    fail(lines, events, identity, properties=keys, marks=marks)


def find_flag_exposure_problems(
    analytics: FlagSource, flag: str | None = None, *, once_per_value: bool = True
) -> list[FlagFinding]:
    """What :func:`assert_flag_exposures` fails on, as data."""
    events = analytics.events
    identity = Identity(events)
    exposures: dict[tuple[str, str, FlagValue, Source, str], list[CapturedEvent]] = defaultdict(
        list
    )
    exposed: set[tuple[str, str, Source]] = set()
    for event in events:
        if event.event != _CALLED or event.distinct_id is None:
            continue
        key = event.properties.get("$feature_flag")
        value = _value(event.properties.get("$feature_flag_response"))
        if not isinstance(key, str) or (flag is not None and key != flag):
            continue
        person = identity.person_of(event.distinct_id)
        exposed.add((key, person, event.source))
        if value is None:
            value = False
        # posthog-js remembers what it reported per browser (its persistence), a server client
        # per process: one exposure per device, or per server SDK (several processes of one
        # SDK cannot be told apart).
        device = (
            str(event.properties.get("$device_id") or "")
            if event.source == "client"
            else event.lib or ""
        )
        exposures[(key, person, value, event.source, device)].append(event)
    findings: list[FlagFinding] = []
    if once_per_value:
        for (key, person, value, side, _), sent in exposures.items():
            if len(sent) > 1:
                fix = (
                    "posthog-js reports a flag once per value unless the page reloads the SDK or "
                    "calls getFeatureFlag with send_event on every render"
                    if side == "client"
                    else "a posthog client remembers what it reported: keep one client for the "
                    "process instead of one per request"
                )
                findings.append(
                    FlagFinding(
                        key,
                        person,
                        f"flag {key!r} = {format_value(value)} was reported "
                        f"{plural(len(sent), 'time')} by the {side} for person "
                        f"{identity.label(sent[0].distinct_id)} ({_CALLED}): {fix}",
                        tuple(sent),
                    )
                )
    asked: dict[tuple[str, str], FlagCall] = {}
    for call in analytics.flag_calls:
        if call.source != "server" or call.distinct_id is None or call.keys is None:
            continue
        for key in call.keys:
            if flag is None or key == flag:
                asked.setdefault((key, identity.person_of(call.distinct_id)), call)
    for (key, person), call in asked.items():
        if (key, person, "server") not in exposed:
            findings.append(
                FlagFinding(
                    key,
                    person,
                    f"flag {key!r}: the server read it for {call.distinct_id!r} ({call.sdk}, "
                    f"{clock(call.at)}) and no {_CALLED} was sent for that person: the read "
                    "does not count as an exposure (send_feature_flag_events=False, or "
                    "sendFeatureFlagEvents: false), so the experiment misses this user",
                )
            )
    if flag is not None and not exposures and not asked:
        findings.append(
            FlagFinding(
                flag,
                "",
                f"flag {flag!r} was never reported as seen ({_CALLED}), and no server read of "
                "it by name was seen (evaluate_flags(..., flag_keys=[...])): if the app "
                "branched on it, it read it without sending the exposure "
                "(send_feature_flag_events=False, send_event: false)",
            )
        )
    return findings


def assert_flag_exposures(
    analytics: FlagSource, flag: str | None = None, *, once_per_value: bool = True
) -> None:
    """``$feature_flag_called`` is sent once per person, flag and value on each side (per
    browser: posthog-js remembers what it reported), and at least once where the app branched
    on the flag (a server read of the flag by name). ``flag``: only that flag (which must then
    have been seen); ``once_per_value=False`` allows repeats.

    >>> assert_flag_exposures(analytics, "new-checkout")
    """
    __tracebackhide__ = True
    events: list[CapturedEvent] = analytics.events
    if not events and not analytics.flag_calls:
        raise AssertionError(nothing_to_check("assert_flag_exposures"))
    findings = find_flag_exposure_problems(analytics, flag, once_per_value=once_per_value)
    if not findings:
        return
    lines = [
        f"Expected each flag exposure recorded once; found {plural(len(findings), 'problem')}:"
    ]
    listed, marks = numbered([(f.text, f.events) for f in findings], "exposure")
    lines += listed
    lines.append(
        "An experiment counts a user from their $feature_flag_called: a missing one loses the "
        "user, repeats inflate the volume. Next step: read the flag through the SDK where the "
        "code branches on it, with the exposure on (the default), from one long-lived client "
        "per process."
    )
    fail(
        lines,
        events,
        Identity(events),
        properties=["$feature_flag", "$feature_flag_response"],
        marks=marks,
    )
