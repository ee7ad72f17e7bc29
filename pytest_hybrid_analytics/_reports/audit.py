"""The guide's "Validation Checklist", judged from what a whole run captured.

Each line gets a verdict, ``"pass"``, ``"fail"`` or ``"cannot judge"``, and its evidence: which
tests, which events. A line the run cannot speak to (no test sent anything from the browser,
say) says so instead of passing. The checklist's items that no capture can show (cross-browser
testing, monitoring...) are listed at the end as left to a person.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pytest_hybrid_analytics._checks.assertions import find_duplicates
from pytest_hybrid_analytics._checks.diagnostics import sent_zone
from pytest_hybrid_analytics._checks.redaction import mask_secrets, words
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity, PropertyChange
from pytest_hybrid_analytics._model.text import format_value, plural
from pytest_hybrid_analytics._reports.records import RecordedTest

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import TrackingPlan
    from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = ["CHECKLIST", "Audit", "AuditLine", "Verdict", "audit", "looks_critical"]

Verdict = Literal["pass", "fail", "cannot judge"]

CLIENT_SDK = "Client-side SDK loaded and initialized"
SERVER_SDK = "Server-side SDK initialized in application"
SAME_KEY = "Same API key used for both client and server"
ID_PASSED = "Distinct ID passed from client to server"
IDENTITY = "Identity consistency verified across tracking methods"
NO_DUPLICATES = "No duplicate events tracked"
CRITICAL = "Critical events tracked server-side for reliability"
SHUTDOWN = "Server-side SDK shutdown on process exit"
ANONYMOUS = "Anonymous to identified user flow working"
USER_PROPERTIES = "User properties synced between client and server"
UTC_TIMES = "Timestamps in UTC"
SERVER_ERRORS = "Server error handling implemented"
NETWORK_FAILURES = "Network failure handling implemented"

#: The lines judged from a capture, in the guide's order.
CHECKLIST = (
    CLIENT_SDK,
    SERVER_SDK,
    SAME_KEY,
    ID_PASSED,
    IDENTITY,
    NO_DUPLICATES,
    CRITICAL,
    SHUTDOWN,
    ANONYMOUS,
    USER_PROPERTIES,
    UTC_TIMES,
    SERVER_ERRORS,
    NETWORK_FAILURES,
)
#: The guide's checklist items no capture can show.
_BY_HAND = (
    "Cross-browser testing completed",
    "Client-side fallbacks in place",
    "Performance tested under load",
    "Debug logging available for troubleshooting",
    "Documentation updated for team",
    "Monitoring and alerts configured",
)
_LABEL = {"pass": "PASS", "fail": "FAIL", "cannot judge": "CANNOT JUDGE"}
#: How many tests or events a line of evidence names before it counts the rest.
_MAX_NAMED = 3
_MAX_EVIDENCE = 5

#: Nouns of money, orders and subscriptions: an event named by one records a business fact,
#: whatever lifecycle verb follows (``subscription_started``, ``order_created``,
#: ``payment_failed``, ``trial_started``...). Guide: "Track conversion events server-side",
#: "Use server-side for financial and subscription events".
_CRITICAL_NOUNS = frozenset(
    {
        "purchase",
        "purchases",
        "payment",
        "payments",
        "order",
        "orders",
        "subscription",
        "subscriptions",
        "trial",
        "trials",
        "renewal",
        "renewals",
        "refund",
        "refunds",
        "invoice",
        "invoices",
        "charge",
        "charges",
        "chargeback",
        "transaction",
        "transactions",
        "billing",
        "payout",
        "payouts",
        "donation",
        "donations",
        "revenue",
    }
)
#: Verbs that say money moved or a subscription changed, whatever they follow
#: (``user_subscribed``, ``plan_upgraded``).
_CRITICAL_VERBS = frozenset(
    {
        "purchased",
        "paid",
        "subscribed",
        "unsubscribed",
        "renewed",
        "refunded",
        "invoiced",
        "charged",
        "upgraded",
        "downgraded",
    }
)
#: A checkout is a flow of pages until it ends: critical only with its outcome
#: (``checkout_completed``, not ``checkout_started`` or ``checkout_step_viewed``).
_CHECKOUT_OUTCOMES = frozenset(
    {"completed", "complete", "succeeded", "success", "finished", "confirmed", "placed", "failed"}
)
#: Words of an interaction with the page (an element, or what a user does to one): a click on
#: a "Subscribe" button, or a payment form submitted in the browser, is tracked client-side on
#: purpose, whatever noun it names (the server tracks the payment itself).
_UI_WORDS = frozenset(
    {
        "button",
        "btn",
        "cta",
        "link",
        "page",
        "screen",
        "form",
        "modal",
        "dialog",
        "popup",
        "banner",
        "tab",
        "menu",
        "dropdown",
        "tooltip",
        "widget",
        "icon",
        "click",
        "clicked",
        "tap",
        "tapped",
        "pressed",
        "view",
        "viewed",
        "opened",
        "shown",
        "seen",
        "displayed",
        "hovered",
        "focused",
        "scrolled",
        "closed",
        "dismissed",
        "expanded",
        "collapsed",
        "toggled",
        "selected",
        "submit",
        "submitted",
    }
)


@dataclass(frozen=True)
class AuditLine:
    """One line of the checklist: the guide's words, a verdict and its evidence.

    >>> line = audit(tests).line("Same API key used for both client and server")
    >>> line.verdict, line.evidence[0]
    ('fail', 'tests/test_shop.py::test_buy: the client used phc_…ab12, the server phc_…cd34')
    """

    check: str
    verdict: Verdict
    evidence: tuple[str, ...]

    def render(self) -> str:
        """The line and its evidence as text, indented for the terminal.

        >>> print(result.line("Timestamps in UTC").render())
          PASS          Timestamps in UTC
                        12 timestamps carry a time zone
        """
        head = f"  {_LABEL[self.verdict]:<13} {self.check}"
        return "\n".join([head, *(f"                {item}" for item in self.evidence)])


@dataclass(frozen=True)
class Audit:
    """The whole checklist for a run.

    >>> result = audit(recorded_tests, plan=plan)
    >>> print(result.render())
    Analytics audit: the guide's Validation Checklist, judged from 12 tests and 340 events
      PASS          Client-side SDK loaded and initialized
    ...
    >>> result.failed
    False
    """

    lines: tuple[AuditLine, ...]
    tests: int
    events: int

    @property
    def failed(self) -> bool:
        """Whether any line failed.

        >>> audit([]).failed
        False
        """
        return any(line.verdict == "fail" for line in self.lines)

    def line(self, check: str) -> AuditLine:
        """The line for ``check`` (one of :data:`CHECKLIST`).

        >>> result.line("No duplicate events tracked").verdict
        'pass'
        """
        for line in self.lines:
            if line.check == check:
                return line
        raise KeyError(f"no audit line {check!r}; the lines are {list(CHECKLIST)}")

    def render(self) -> str:
        """The audit as plain text for the terminal.

        >>> terminalreporter.write_line(result.render())
        """
        counts = Counter(line.verdict for line in self.lines)
        out = [
            "Analytics audit: the guide's Validation Checklist, judged from "
            f"{plural(self.tests, 'test')} and {plural(self.events, 'event')}",
            *(line.render() for line in self.lines),
            "Not judged from a capture (check by hand): " + "; ".join(_BY_HAND) + ".",
            f"{counts['pass']} pass, {counts['fail']} fail, {counts['cannot judge']} cannot judge.",
        ]
        return "\n".join(out)


def _names(nodeids: Iterable[str]) -> str:
    unique = list(dict.fromkeys(nodeids))
    shown = ", ".join(unique[:_MAX_NAMED])
    more = len(unique) - _MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _capped(evidence: list[str]) -> tuple[str, ...]:
    if len(evidence) <= _MAX_EVIDENCE:
        return tuple(evidence)
    return (*evidence[:_MAX_EVIDENCE], f"… and {len(evidence) - _MAX_EVIDENCE} more")


def _ids(ids: Iterable[str | None]) -> str:
    unique = [i for i in dict.fromkeys(ids) if i is not None]
    shown = ", ".join(repr(i) for i in unique[:_MAX_NAMED])
    return shown + (f" (+{len(unique) - _MAX_NAMED})" if len(unique) > _MAX_NAMED else "")


def _side(test: RecordedTest, source: str) -> list[CapturedEvent]:
    return [e for e in test.events if e.source == source]


def looks_critical(event: str) -> bool:
    """Whether an event's name records money, an order or a subscription (and not a click).

    A name with such a noun is critical whatever lifecycle verb follows it; a name that says an
    interaction with the page (``clicked``, ``viewed``, ``button``, ``page``...) is not.

    >>> looks_critical("subscription_started"), looks_critical("checkout_button_clicked")
    (True, False)
    """
    parts = set(words(event.lstrip("$")))
    if parts & _UI_WORDS:
        return False
    if parts & (_CRITICAL_NOUNS | _CRITICAL_VERBS):
        return True
    return "checkout" in parts and bool(parts & _CHECKOUT_OUTCOMES)


def audit(
    tests: Iterable[RecordedTest],
    *,
    session_notes: Iterable[ClientNote] = (),
    plan: TrackingPlan | None = None,
    critical: Collection[str] | None = None,
    window: timedelta = timedelta(seconds=10),
) -> Audit:
    """Judge the guide's checklist from every test of a run.

    Critical events are those ``critical`` names, else those the ``plan`` marks critical (a
    payment, subscription or sensitive kind, or ``critical: true``), else those whose names
    say money, an order or a subscription (:func:`looks_critical`). ``window`` is the duplicate
    window of :func:`~pytest_hybrid_analytics.assert_no_duplicates`. ``session_notes`` are what
    the harness found about ``posthog`` clients as the run ended (no test's: they count as
    none).

    >>> print(audit(recorded_tests).render())
    """
    runs = list(tests)
    at_exit = list(session_notes)
    is_critical: Callable[[str], bool]
    if critical is not None:
        wanted = frozenset(critical)

        is_critical = wanted.__contains__
    elif plan is not None:
        is_critical = plan.is_critical
    else:
        is_critical = looks_critical
    lines = (
        _sdk_seen(runs, "client", CLIENT_SDK),
        _sdk_seen(runs, "server", SERVER_SDK),
        _same_key(runs),
        _id_passed(runs),
        _identity(runs),
        _duplicates(runs, window),
        _critical(runs, is_critical, plan is not None or critical is not None),
        _shutdown(runs, at_exit),
        _anonymous(runs),
        _user_properties(runs),
        _utc(runs),
        _survived(runs, SERVER_ERRORS),
        _survived(runs, NETWORK_FAILURES),
    )
    masked = tuple(
        AuditLine(line.check, line.verdict, tuple(mask_secrets(item) for item in line.evidence))
        for line in lines
    )
    return Audit(masked, len(runs), sum(len(t.events) for t in runs))


def _sdk_seen(runs: list[RecordedTest], side: str, check: str) -> AuditLine:
    if side == "server":
        errors = [
            f"{t.nodeid}: {finding.message}"
            for t in runs
            for finding in t.findings
            if finding.code == "sdk-error"
        ]
        if errors:
            return AuditLine(check, "fail", _capped(errors))
    seen = [(t, _side(t, side)) for t in runs]
    seen = [(t, mine) for t, mine in seen if mine]
    if seen:
        libs = Counter(
            f"{e.lib or 'an unnamed sender'}"
            + (f" {e.properties['$lib_version']}" if e.properties.get("$lib_version") else "")
            for _, mine in seen
            for e in mine
        )
        total = sum(libs.values())
        sdks = ", ".join(f"{lib} ({n})" for lib, n in libs.most_common())
        return AuditLine(
            check,
            "pass",
            (
                f"{plural(total, side + ' event')} from {sdks} in {plural(len(seen), 'test')}: "
                f"{_names(t.nodeid for t, _ in seen)}",
            ),
        )
    dropped = [t for t in runs for f in t.findings if f.code == "bot-dropped"]
    if side == "client" and dropped:
        return AuditLine(
            check,
            "fail",
            (
                f"posthog-js loaded but dropped every event as a bot in "
                f"{_names(t.nodeid for t in dropped)}",
            ),
        )
    return AuditLine(
        check,
        "cannot judge",
        (f"no test captured a {side}-side event: the run does not exercise the {side} SDK",),
    )


def _same_key(runs: list[RecordedTest]) -> AuditLine:
    keys: dict[str, Counter[str]] = {"client": Counter(), "server": Counter()}
    for test in runs:
        for event in test.events:
            if event.api_key:
                keys[event.source][event.api_key] += 1
    if not keys["client"] or not keys["server"]:
        missing = "client" if not keys["client"] else "server"
        return AuditLine(SAME_KEY, "cannot judge", (f"no {missing}-side event carried an API key",))
    evidence: list[str] = []
    for test in runs:
        client = {e.api_key for e in _side(test, "client") if e.api_key}
        server = {e.api_key for e in _side(test, "server") if e.api_key}
        if client and server and client != server:
            evidence.append(
                f"{test.nodeid}: the client used {', '.join(sorted(client))}, "
                f"the server {', '.join(sorted(server))}"
            )
    every = set(keys["client"]) | set(keys["server"])
    if not evidence and len(every) > 1:
        evidence.append(
            f"the client used {', '.join(sorted(keys['client']))}; "
            f"the server used {', '.join(sorted(keys['server']))}"
        )
    if evidence:
        return AuditLine(SAME_KEY, "fail", _capped(evidence))
    (key,) = every
    both = [t.nodeid for t in runs if _side(t, "client") and _side(t, "server")]
    where = f" ({plural(len(both), 'test')} with both sides)" if both else ""
    return AuditLine(SAME_KEY, "pass", (f"{key} on both sides{where}",))


def _hybrid(runs: list[RecordedTest]) -> list[RecordedTest]:
    return [t for t in runs if _side(t, "client") and _side(t, "server")]


def _id_passed(runs: list[RecordedTest]) -> AuditLine:
    hybrid = _hybrid(runs)
    if not hybrid:
        return AuditLine(
            ID_PASSED,
            "cannot judge",
            ("no test captured events from both the client and the server",),
        )
    good, evidence = [], []
    for test in hybrid:
        client_ids = {e.distinct_id for e in _side(test, "client") if e.distinct_id}
        server = _side(test, "server")
        if any(e.distinct_id in client_ids for e in server):
            good.append(test.nodeid)
        else:
            evidence.append(
                f"{test.nodeid}: the server used {_ids(e.distinct_id for e in server)}, "
                f"none of the client's {_ids(e.distinct_id for e in _side(test, 'client'))}"
            )
    if evidence:
        return AuditLine(ID_PASSED, "fail", _capped(evidence))
    return AuditLine(
        ID_PASSED,
        "pass",
        (
            f"in {plural(len(good), 'test')} with both sides the server used a distinct id the "
            f"client sent: {_names(good)}",
        ),
    )


def _identity(runs: list[RecordedTest]) -> AuditLine:
    hybrid = _hybrid(runs)
    if not hybrid:
        return AuditLine(
            IDENTITY,
            "cannot judge",
            ("no test captured events from both the client and the server",),
        )
    evidence, checked = [], 0
    for test in hybrid:
        who = Identity(test.events)
        client_persons = {
            who.person_of(e.distinct_id) for e in _side(test, "client") if e.distinct_id
        }
        strangers: dict[str, list[CapturedEvent]] = {}
        for event in _side(test, "server"):
            if event.distinct_id is None:
                continue
            checked += 1
            if who.person_of(event.distinct_id) not in client_persons:
                strangers.setdefault(event.distinct_id, []).append(event)
        for distinct_id, mine in strangers.items():
            names = ", ".join(dict.fromkeys(e.event for e in mine))
            evidence.append(
                f"{test.nodeid}: server events ({names}) by {distinct_id!r} belong to no person "
                "the client tracked (no $identify or alias joins them)"
            )
    for test in runs:
        who = Identity(test.events)
        refused = [w for w in who.warnings if w.type.startswith("cannot_merge")]
        refused += [
            w
            for w in who.warnings
            if w.type == "invalid_event_when_process_person_profile_is_false"
        ]
        evidence += [f"{test.nodeid}: PostHog would refuse a merge: {w}" for w in refused]
        evidence += [
            f"{test.nodeid}: {finding.message}"
            for finding in test.findings
            if finding.code == "illegal-distinct-id"
        ]
    if evidence:
        return AuditLine(IDENTITY, "fail", _capped(evidence))
    return AuditLine(
        IDENTITY,
        "pass",
        (
            f"{'the' if checked == 1 else 'all'} {plural(checked, 'server event')} in "
            f"{plural(len(hybrid), 'test')} with both sides "
            f"{'belongs' if checked == 1 else 'belong'} to a person the client tracked "
            "(following $identify and aliases)",
        ),
    )


def _duplicates(runs: list[RecordedTest], window: timedelta) -> AuditLine:
    with_events = [t for t in runs if t.events]
    if not with_events:
        return AuditLine(NO_DUPLICATES, "cannot judge", ("no test captured any event",))
    evidence = [
        f"{test.nodeid}: {duplicate.text}"
        for test in with_events
        for duplicate in find_duplicates(list(test.events), window=window)
    ]
    if evidence:
        return AuditLine(NO_DUPLICATES, "fail", _capped(evidence))
    total = sum(len(t.events) for t in with_events)
    return AuditLine(
        NO_DUPLICATES,
        "pass",
        (
            f"no duplicate among {plural(total, 'event')} of {plural(len(with_events), 'test')} "
            f"(window {window.total_seconds():g} s)",
        ),
    )


def _critical(
    runs: list[RecordedTest], is_critical: Callable[[str], bool], declared: bool
) -> AuditLine:
    sides: dict[str, set[str]] = {}
    evidence = []
    for test in runs:
        here: dict[str, set[str]] = {}
        for event in test.events:
            if is_critical(event.event):
                here.setdefault(event.event, set()).add(event.source)
        for name, seen in here.items():
            sides.setdefault(name, set()).update(seen)
            if seen == {"client"}:
                evidence.append(
                    f"{test.nodeid}: {name!r} was tracked by the client only (ad blockers and "
                    "closed tabs lose it)"
                )
    if not sides:
        source = (
            "the critical events named"
            if declared
            else "events whose names say a payment, an order or a subscription"
        )
        return AuditLine(CRITICAL, "cannot judge", (f"no test captured {source}",))
    if evidence:
        return AuditLine(CRITICAL, "fail", _capped(evidence))
    return AuditLine(
        CRITICAL, "pass", (f"tracked by the server: {', '.join(map(repr, sorted(sides)))}",)
    )


def _shutdown(runs: list[RecordedTest], at_exit: list[ClientNote]) -> AuditLine:
    """Judged from the notes that are findings (events a client would lose or send late, a
    capture dropped after shutdown); a client the tests' process kept running is no finding,
    as a web app's long-lived client is normal, but then its shutdown at exit is not seen."""
    noted = [(t.nodeid, note) for t in runs for note in t.notes]
    noted += [("at session end", note) for note in at_exit]
    evidence = [f"{where}: {note}" for where, note in noted if getattr(note, "finding", True)]
    if evidence:
        return AuditLine(SHUTDOWN, "fail", _capped(evidence))
    if noted:
        sites = list(dict.fromkeys(note.site for _, note in noted))
        one = len(sites) == 1
        return AuditLine(
            SHUTDOWN,
            "cannot judge",
            (
                f"the tests' process kept {plural(len(sites), 'posthog client')} running "
                f"(created at {_names(sites)}), as a web app keeps a long-lived one, and none "
                f"lost an event: whether the app shuts {'it' if one else 'them'} down on "
                "process exit (atexit) cannot be seen from the tests",
            ),
        )
    watched = [t for t in runs if any(e.transport == "requests" for e in _side(t, "server"))]
    if watched:
        return AuditLine(
            SHUTDOWN,
            "pass",
            (
                "every posthog client created in the tests' process was shut down, in "
                f"{plural(len(watched), 'test')} with server events: "
                f"{_names(t.nodeid for t in watched)}",
            ),
        )
    transports = sorted({e.transport or "unknown" for t in runs for e in _side(t, "server")})
    if transports:
        return AuditLine(
            SHUTDOWN,
            "cannot judge",
            (
                f"server events came only by {', '.join(transports)}: the harness sees the "
                "lifecycle of the posthog Python client in the tests' process only (check that "
                "posthog-node, AsyncPosthog and other processes call shutdown())",
            ),
        )
    return AuditLine(SHUTDOWN, "cannot judge", ("no test captured a server-side event",))


def _anonymous(runs: list[RecordedTest]) -> AuditLine:
    merged, evidence = [], []
    for test in runs:
        who = Identity(test.events)
        for merge in who.merges:
            merged.append(
                f"{test.nodeid}: {merge.from_id!r} -> {merge.into_id!r} by "
                f"{merge.event.event} ({merge.event.source})"
            )
        anonymous = [
            e for e in _side(test, "client") if e.properties.get("$is_identified") is False
        ]
        identified = [
            e for e in _side(test, "client") if e.properties.get("$is_identified") is True
        ]
        for before in anonymous:
            after = next(
                (
                    e
                    for e in identified
                    if e.timestamp >= before.timestamp
                    and e.distinct_id
                    and before.distinct_id
                    and not who.same_person(e.distinct_id, before.distinct_id)
                ),
                None,
            )
            if after is not None:
                evidence.append(
                    f"{test.nodeid}: the anonymous {before.distinct_id!r} "
                    f"({before.event}) became {after.distinct_id!r} ({after.event}) with no "
                    "$identify or alias joining them (guide: 'Anonymous users not merging')"
                )
                break
    if evidence:
        return AuditLine(ANONYMOUS, "fail", _capped(evidence))
    if merged:
        return AuditLine(ANONYMOUS, "pass", _capped(merged))
    return AuditLine(
        ANONYMOUS,
        "cannot judge",
        ("no test captured an $identify or alias, nor an anonymous visitor who logged in",),
    )


#: The warnings of a merge PostHog refuses or drops.
_REFUSED_MERGES = (
    "cannot_merge_already_identified",
    "cannot_merge_with_illegal_distinct_id",
    "invalid_event_when_process_person_profile_is_false",
)


def _user_properties(runs: list[RecordedTest]) -> AuditLine:
    """Per person, a property both sides set (their own, not PostHog's ``$`` ones) holds one
    value: the last value each side set must agree."""
    evidence, compared, tests = [], 0, set()
    for test in _hybrid(runs):
        for person in Identity(test.events).persons():
            last: dict[str, dict[str, PropertyChange]] = {"client": {}, "server": {}}
            for change in person.changes:
                if not change.key.startswith("$") and change.operation != "$unset":
                    last[change.event.source][change.key] = change
            both = sorted(last["client"].keys() & last["server"].keys())
            compared += len(both)
            tests.update([test.nodeid] if both else [])
            for key in both:
                client, server = last["client"][key], last["server"][key]
                if client.value != server.value:
                    evidence.append(
                        f"{test.nodeid}: {person.label} {key!r}: the client set "
                        f"{format_value(client.value)} ({client.event.event!r}), the server "
                        f"{format_value(server.value)} ({server.event.event!r})"
                    )
    if evidence:
        return AuditLine(USER_PROPERTIES, "fail", _capped(evidence))
    if compared:
        return AuditLine(
            USER_PROPERTIES,
            "pass",
            (
                f"{plural(compared, 'person property', 'person properties')} set by both sides "
                f"in {plural(len(tests), 'test')} {'holds' if compared == 1 else 'hold'} one value",
            ),
        )
    return AuditLine(
        USER_PROPERTIES,
        "cannot judge",
        ("no person had a property set by both the client and the server",),
    )


def _utc(runs: list[RecordedTest]) -> AuditLine:
    evidence, offsets, checked = [], Counter[str](), 0
    for test in runs:
        for event in test.events:
            has_zone, raw = sent_zone(event), event.raw_timestamp or ""
            if has_zone is None:
                continue
            checked += 1
            if not has_zone:
                evidence.append(
                    f"{test.nodeid}: {event.event!r} ({event.source}) was sent as {raw!r}, with "
                    "no time zone (PostHog reads it as UTC)"
                )
            elif not re.search(r"(Z|[+-]00:?00|^[\d.]+)$", raw.strip()):
                offsets[raw[-6:]] += 1
    if evidence:
        return AuditLine(UTC_TIMES, "fail", _capped(evidence))
    if not checked:
        return AuditLine(UTC_TIMES, "cannot judge", ("no event was sent with a timestamp",))
    found = [f"{plural(checked, 'timestamp')} {'carries' if checked == 1 else 'carry'} a time zone"]
    if offsets:
        found.append(
            "some carry a non-UTC offset ("
            + ", ".join(f"{offset}: {n}" for offset, n in offsets.most_common())
            + "), unambiguous, and PostHog converts them"
        )
    return AuditLine(UTC_TIMES, "pass", tuple(found))


#: What each resilience line is judged from: the faults (``analytics.faults``) of its kind, and
#: the call that would exercise it.
_RESILIENCE = {
    SERVER_ERRORS: (
        ("fail", "quota limited", "per-event result"),
        "PostHog answering errors",
        "with analytics.faults.outage(): (or faults.fail(503)) around the app's request",
    ),
    NETWORK_FAILURES: (
        ("drop", "delay"),
        "PostHog's connection dropped or slow",
        "analytics.faults.drop() or faults.delay(seconds) before the app's request",
    ),
}


def _survived(runs: list[RecordedTest], check: str) -> AuditLine:
    """Judged from the tests that made PostHog fail on purpose: each that met such a fault and
    passed shows the app kept working (its own assertions held); one that failed shows it did
    not."""
    kinds, what, how = _RESILIENCE[check]
    met = [
        (t, [f"{desc} ({plural(hits, 'request')})" for desc, hits in t.faults if hits])
        for t in runs
        if any(hits and desc.startswith(kinds) for desc, hits in t.faults)
    ]
    if not met:
        return AuditLine(
            check,
            "cannot judge",
            (
                f"no test ran with {what}: add a test with `{how}` that asserts the app "
                "still answers (README, 'When PostHog is down')",
            ),
        )
    broke = [
        f"{t.nodeid} {t.outcome} with {', '.join(faults)}: "
        + (t.message.strip().splitlines() or ["no message"])[-1][:200]
        for t, faults in met
        if t.failed
    ]
    if broke:
        return AuditLine(check, "fail", _capped(broke))
    kept = [t for t, _ in met if t.outcome in ("passed", "xpassed")]
    if not kept:
        return AuditLine(check, "cannot judge", (f"the tests with {what} did not run to the end",))
    seen = sorted({f for _, faults in met for f in faults})
    return AuditLine(
        check,
        "pass",
        (
            f"{plural(len(kept), 'test')} kept working with {what} "
            f"({', '.join(seen[:_MAX_NAMED])}): {_names(t.nodeid for t in kept)}",
        ),
    )
