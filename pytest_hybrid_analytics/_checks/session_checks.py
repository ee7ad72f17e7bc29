"""One user, one story: server events inside the browser's session, and no anonymous event once
the app knows who the user is.

>>> assert_session_linked(analytics)
>>> assert_identified_before(analytics, "checkout_started")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_hybrid_analytics._checks.failure import fail, identity_of, nothing_to_check
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._model.sessions import Session, session_id, sessions_of
from pytest_hybrid_analytics._model.text import clock, plural
from pytest_hybrid_analytics._recording.query import Query
from pytest_hybrid_analytics._recording.recorder import EventRecorder, events_of
from pytest_hybrid_analytics._recording.timeline import format_timeline, on_timeline

__all__ = [
    "SESSION_FIX",
    "Unlinked",
    "assert_identified_before",
    "assert_session_linked",
    "find_unlinked",
]

Events = EventRecorder | Iterable[CapturedEvent]

#: How a server event gets the browser's session: posthog-js sends it, the server SDK reads it.
SESSION_FIX = (
    "posthog-js sends the session to your backend when told which hosts to trust: "
    "posthog.init(key, {tracing_headers: ['shop.example.com']}) (older releases: "
    "__add_tracing_headers) adds X-POSTHOG-SESSION-ID and X-POSTHOG-DISTINCT-ID to its fetch "
    "and XHR requests; the server SDK reads them in its request context: Django "
    "posthog.integrations.django.PosthogContextMiddleware, Flask "
    "posthog.integrations.flask.PosthogFlaskIntegration(app), ASGI/FastAPI "
    "posthog.integrations.asgi.PosthogASGIMiddleware, posthog-node "
    "setupExpressRequestContext(posthog, app) or posthog.withContext({sessionId}, fn); or pass "
    "properties={'$session_id': ...} from the header yourself. A form post or a navigation "
    "carries no tracing header: read the session from the posthog-js cookie there "
    "(posthog-node: readPostHogCookie)"
)


@dataclass(frozen=True, slots=True)
class Unlinked:
    """A server event outside the browser session it happened in."""

    event: CapturedEvent
    #: The person's session the event falls in, by time.
    session: Session
    #: Why it is not linked: no ``$session_id``, or another session's.
    why: str

    def describe(self, identity: Identity) -> str:
        who = self.event.distinct_id
        return (
            f"{self.event.event!r} (server, {who} = {identity.label(who)}) at "
            f"{clock(self.event.timestamp)} {self.why}; by its time it belongs to session "
            f"{self.session.short()}, {clock(self.session.first)}-{clock(self.session.last)}, "
            f"{plural(self.session.client_events, 'client event')}"
        )


def find_unlinked(events: Events, *, only: Iterable[CapturedEvent] | None = None) -> list[Unlinked]:
    """The server events :func:`assert_session_linked` fails on, as data (for reports).

    A server event must carry a session of its person when it happens during one: from the
    session's first client event until it idles out (30 minutes after its last). Events
    before the person's first browser session (a server-rendered first page), of a person with
    no browser session (a webhook, a job), or personless, are not asked to.
    """
    everything = events_of(events)
    identity = Identity(everything)
    sessions = sessions_of(everything)
    by_id = {s.id: s for s in sessions}
    checked = everything if only is None else list(only)
    found = []
    for event in checked:
        if event.source != "server" or event.distinct_id is None:
            continue
        person = identity.person(event.distinct_id)
        if person is None:
            continue
        ids = set(person.distinct_ids)
        mine = [s for s in sessions if ids & set(s.ids)]
        during = [s for s in mine if s.covers(event.timestamp)]
        if not during:
            continue
        carried = session_id(event)
        if carried in {s.id for s in mine}:
            continue
        started = [s for s in during if s.first <= event.timestamp]
        session = max(started or during, key=lambda s: s.first)
        if carried is None:
            why = "has no $session_id"
        elif carried in by_id:
            other = by_id[carried]
            why = (
                f"carries $session_id of session {other.short()}, another person's "
                f"({', '.join(other.ids[:2])})"
            )
        else:
            why = f"carries $session_id {carried!r}, which no browser session has"
        found.append(Unlinked(event, session, why))
    return found


def assert_session_linked(
    analytics: Events, *, events: Iterable[CapturedEvent] | None = None
) -> None:
    """Every server event of a person who has a browser session carries that session's
    ``$session_id`` (PostHog shows a server event without it outside the user's sessions and
    replays). ``events`` limits the check to some server events (e.g.
    ``analytics.find("purchase_completed")``). Fails listing each unlinked event, the session it
    belongs to by time, and how to link it.

    >>> assert_session_linked(analytics)
    >>> assert_session_linked(analytics, events=analytics.find(source="server", event="order_paid"))
    """
    __tracebackhide__ = True
    everything = events_of(analytics)
    if not everything:
        raise AssertionError(nothing_to_check("assert_session_linked"))
    if not sessions_of(everything):
        raise AssertionError(
            "assert_session_linked: no client event carries a $session_id, so there is no "
            "browser session to link server events to: attach the page (analytics.attach) or "
            "check that posthog-js was initialised."
        )
    unlinked = find_unlinked(everything, only=events)
    if not unlinked:
        return
    identity = Identity(everything)
    lines = [
        "Expected every server event of a person with a browser session to carry that "
        f"session's $session_id; {plural(len(unlinked), 'event')} "
        f"{'does' if len(unlinked) == 1 else 'do'} not:"
    ]
    marks: dict[int, str] = {}
    for number, item in enumerate(unlinked, start=1):
        lines.append(f"  {number}. {item.describe(identity)}")
        marks[id(item.event)] = f"not in {item.session.label}"
    lines.append(
        "PostHog shows these events outside the user's session and its replay. Next step: "
        + SESSION_FIX
        + "."
    )
    fail(lines, everything, identity, marks=marks)


def assert_identified_before(
    analytics: Events, event: str, *, distinct_id: str | None = None
) -> list[CapturedEvent]:
    """From the first ``event`` on (the first of ``distinct_id``'s person, when given), no event
    of that person leaves under an anonymous id (one never identified): the app identified the
    user before the first identified action, and every event after it carries the user's id.
    Returns the events checked.

    >>> assert_identified_before(analytics, "checkout_started")
    >>> assert_identified_before(analytics, "$pageview", distinct_id="user-42")
    """
    __tracebackhide__ = True
    everything = events_of(analytics)
    if not everything:
        raise AssertionError(nothing_to_check("assert_identified_before"))
    identity = identity_of(everything)
    ordered = on_timeline(everything)
    query = Query(event=event)
    wanted_person = identity.person_of(distinct_id) if distinct_id is not None else None
    start = next(
        (
            e
            for e in ordered
            if query.matches(e)
            and e.distinct_id is not None
            and (wanted_person is None or identity.person_of(e.distinct_id) == wanted_person)
        ),
        None,
    )
    if start is None:
        whose = f" of {distinct_id!r}'s person" if distinct_id is not None else ""
        raise AssertionError(
            f"assert_identified_before: no {event!r} event{whose} was recorded, so there is "
            "no identified action to check from.\n" + format_timeline(everything, identity=identity)
        )
    assert start.distinct_id is not None
    person = identity.person_of(start.distinct_id)
    identified = _identified_ids(everything, identity)
    after = [
        e
        for e in ordered[ordered.index(start) :]
        if e.distinct_id is not None and identity.person_of(e.distinct_id) == person
    ]
    anonymous = [e for e in after if e.distinct_id not in identified]
    if not anonymous:
        return after
    first = anonymous[0]
    lines = [
        f"Expected every event of {person!r}'s person from its first {event!r} "
        f"({clock(start.timestamp)}) on to be sent under an identified id; "
        f"{plural(len(anonymous), 'event')} left under an anonymous one:",
        *(
            f"  {e.event!r} ({e.source}) at {clock(e.timestamp)} under {e.distinct_id!r}"
            for e in anonymous[:10]
        ),
        (
            f"Next step: identify the user before {first.event!r}: posthog.identify(user_id) in "
            "the page as soon as the app knows the user (right after login, before redirecting), "
            "and on the server capture with the user's id (never the anonymous one the page sent "
            "before login)."
            if first.source == "client"
            else f"Next step: the server sent {first.event!r} under the anonymous id after the "
            "user was known: capture with the user's id once logged in."
        ),
    ]
    marks = {id(e): "anonymous" for e in anonymous}
    marks.setdefault(id(start), f"first {event!r}")
    fail(lines, everything, identity, marks=marks)


def _identified_ids(events: list[CapturedEvent], identity: Identity) -> set[str]:
    """The ids PostHog treats as a known user's: an ``$identify``'s or alias's target, and
    ids of events marked ``$is_identified`` (posthog-js after ``identify``); server SDKs send
    known users' ids, so a server event's id counts unless it is a person's anonymous id."""
    known: set[str] = set()
    anonymous: set[str] = set()
    for event in events:
        if event.distinct_id is None:
            continue
        if event.event == "$identify" or event.is_identified:
            known.add(event.distinct_id)
        anon = event.properties.get("$anon_distinct_id")
        if isinstance(anon, str):
            anonymous.add(anon)
        if event.event in ("$create_alias", "$merge_dangerously"):
            known.add(event.distinct_id)
            alias = event.properties.get("alias")
            if isinstance(alias, str):
                anonymous.add(alias)
    for event in events:
        if (
            event.source == "server"
            and event.distinct_id is not None
            and event.distinct_id not in anonymous
            and event.properties.get("$is_identified") is not False
        ):
            known.add(event.distinct_id)
    return known
