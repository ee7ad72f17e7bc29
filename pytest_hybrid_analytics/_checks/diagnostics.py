"""The guide's troubleshooting table, as checks over one test's capture.

When a test fails, or finds nothing, these say why where the capture shows it: the browser SDK
dropped events as a bot, server events sat in a queue until the harness flushed them, the two
sides used different API keys, a timestamp was not UTC or far from its arrival, a property was
truncated or over PostHog's limits, or posthog-js's client rate limit was hit. Each is a
:class:`~pytest_hybrid_analytics.Finding` of kind ``"diagnostic"`` that says why and what
to do; none fails a test on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import mask_secrets, walk
from pytest_hybrid_analytics._model.events import CapturedEvent, parse_timestamp
from pytest_hybrid_analytics._model.sdk_log import SdkLogRecord
from pytest_hybrid_analytics._model.text import duration, format_value, plural, was
from pytest_hybrid_analytics._model.wire import PayloadError

if TYPE_CHECKING:
    from pytest_hybrid_analytics._recording.client_notes import ClientNote

__all__ = [
    "DISTINCT_ID_LIMIT",
    "EVENT_SIZE_LIMIT",
    "STRING_LIMIT",
    "diagnose",
    "sent_zone",
    "timestamp_has_zone",
]

#: posthog-js cuts every string property to this many characters
#: (``properties_string_max_length``).
STRING_LIMIT = 65535
#: PostHog's ingestion shortens longer distinct ids to this many characters.
DISTINCT_ID_LIMIT = 200
#: PostHog's ingestion discards an event larger than this (bytes of JSON).
EVENT_SIZE_LIMIT = 1024 * 1024
#: PostHog's ingestion warns about an event more than this far in the future.
_FUTURE_LIMIT = timedelta(hours=23)
#: How many events one check names before it summarises the rest.
_MAX_PER_CHECK = 5

_BOT_CONSOLE = re.compile(
    r"user agent looks like a bot(?: \(first dropped event: \"(?P<first>[^\"]*)\"\))?"
    r"|Event \"(?P<one>[^\"]*)\" was not captured because the user agent looks like a bot"
)
_RATE_LIMIT_EVENT = "$$client_ingestion_warning"
_EPOCH = re.compile(r"\d+(\.\d+)?")


def timestamp_has_zone(raw: str) -> bool:
    """Whether a timestamp, as an SDK sent it, says its time zone (an epoch number is UTC).

    Raises :class:`~pytest_hybrid_analytics.PayloadError` for text that is not a timestamp.

    >>> timestamp_has_zone("2026-03-01T12:00:00Z"), timestamp_has_zone("2026-03-01T12:00:00")
    (True, False)
    """
    if _EPOCH.fullmatch(raw.strip()):
        return True
    return parse_timestamp(raw)[1]


def sent_zone(event: CapturedEvent) -> bool | None:
    """Whether the timestamp ``event`` was sent with says its time zone; ``None`` when it was
    sent without one, or with one that is not a timestamp (the diagnostics and the audit's
    "Timestamps in UTC" line judge the same events alike).

    >>> sent_zone(event_from_wire({"event": "x", "timestamp": "2026-03-01T12:00:00"}))
    False
    """
    if event.raw_timestamp is None:
        return None
    try:
        return timestamp_has_zone(event.raw_timestamp)
    except PayloadError:
        return None


def _name(event: CapturedEvent) -> str:
    return f"{event.event!r} ({event.source})"


def _capped(findings: list[Finding], code: str, what: str) -> list[Finding]:
    """At most :data:`_MAX_PER_CHECK` findings, then one that counts the rest."""
    if len(findings) <= _MAX_PER_CHECK:
        return findings
    rest = len(findings) - _MAX_PER_CHECK
    summary = Finding("diagnostic", code, f"… and {rest} more {what} like these.")
    return [*findings[:_MAX_PER_CHECK], summary]


def diagnose(
    events: Iterable[CapturedEvent],
    *,
    notes: Iterable[ClientNote] = (),
    console: Iterable[str] = (),
    max_skew: timedelta = timedelta(minutes=10),
    rate_limit_floor: float = 5,
    sdk_log: Iterable[SdkLogRecord] = (),
) -> list[Finding]:
    """Every troubleshooting finding in one test's capture, grouped by check.

    ``notes`` are the test's ``analytics.client_notes``; ``console`` what posthog-js said in
    the browser console (``analytics.console``); ``sdk_log`` what the ``posthog`` SDK logged
    (``analytics.sdk_log``). ``max_skew`` is how far a timestamp may be
    from its arrival, ``rate_limit_floor`` how few client rate-limit tokens count as "hit".

    >>> for finding in diagnose(analytics, notes=analytics.client_notes,
    ...                         console=analytics.console):
    ...     print(finding)
    [bot-dropped] posthog-js dropped events as a bot (first dropped event: '$pageview') ...
    """
    evs = list(events)
    return [
        *_bot(evs, console),
        *_unflushed(notes),
        *_api_keys(evs),
        *_timestamps(evs, max_skew),
        *_limits(evs),
        *_rate_limit(evs, rate_limit_floor),
        *_repeated_person_updates(evs),
        *_sdk_errors(sdk_log),
    ]


def _sdk_errors(records: Iterable[SdkLogRecord]) -> list[Finding]:
    """What the ``posthog`` SDK logged and swallowed during the test (``analytics.sdk_log``):
    each distinct record once, with how many times it was logged."""
    counts: dict[tuple[str, str, str, str | None, str | None], int] = {}
    first: dict[tuple[str, str, str, str | None, str | None], SdkLogRecord] = {}
    for record in records:
        key = (record.level, record.logger, record.message, record.site, record.client_site)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, record)
    found = []
    for key, count in counts.items():
        text = first[key].explain()
        if count > 1:
            text = f"{text.removesuffix('.')} (logged {count} times)."
        elif not text.endswith("."):
            text += "."
        found.append(
            Finding(
                "diagnostic",
                "sdk-error",
                f"{text} The SDK logged it and went on; the app was never told.",
            )
        )
    return _capped(found, "sdk-error", "SDK errors and warnings")


#: Identical idempotent bookkeeping sent this many times in one test is worth a word.
_REPEATED_AT = 3
_PERSON_UPDATES = ("$set", "$set_once", "$identify", "$create_alias", "$groupidentify")


def _repeated_person_updates(events: list[CapturedEvent]) -> list[Finding]:
    """Volume, not a failure: the same person update sent again and again (a middleware that
    sets the user's properties on every request). Each is an event PostHog ingests and
    bills, and changes nothing after the first."""
    same: dict[tuple[str, str, str | None, str], list[CapturedEvent]] = {}
    for event in events:
        if event.event in _PERSON_UPDATES:
            update = json.dumps([event.set, event.set_once], sort_keys=True, default=repr)
            key = (event.event, event.source, event.distinct_id, update)
            same.setdefault(key, []).append(event)
    found = []
    for (name, source, distinct_id, _), mine in same.items():
        if len(mine) >= _REPEATED_AT:
            where = (
                "on every request (a middleware or a login hook)"
                if source == "server"
                else "on every page (identify or setPersonProperties on each load)"
            )
            found.append(
                Finding(
                    "diagnostic",
                    "repeated-person-update",
                    f"{name!r} with the same person properties was sent {len(mine)} times by "
                    f"the {source} for {format_value(distinct_id)} ({len(mine)} of "
                    f"{plural(len(events), 'event')} in this test), seemingly {where}: only the "
                    "first changes anything, the rest is volume PostHog ingests and bills. Send "
                    "it when the properties change (sign-up, login, a profile edit).",
                    event=mine[0],
                )
            )
    return found


def _bot(events: list[CapturedEvent], console: Iterable[str]) -> list[Finding]:
    fix = (
        "Init posthog-js with opt_out_useragent_filter: true under test (the analytics "
        "fixture's browser road does it for pages it attaches), or give the browser a user "
        "agent without 'Headless'."
    )
    for line in console:
        match = _BOT_CONSOLE.search(line)
        if match:
            first = match["first"] or match["one"]
            which = f" (first dropped event: {first!r})" if first else ""
            return [
                Finding(
                    "diagnostic",
                    "bot-dropped",
                    f"posthog-js dropped events as a bot{which}: headless Chromium's user agent "
                    f"and navigator.webdriver look like a bot, so nothing reached PostHog. {fix}",
                )
            ]
    bot = [e for e in events if e.event == "$bot_pageview"]
    if bot:
        return [
            Finding(
                "diagnostic",
                "bot-dropped",
                f"posthog-js took the browser for a bot: it sent {len(bot)} $bot_pageview "
                "instead of $pageview and dropped every other event. " + fix,
                event=bot[0],
            )
        ]
    return []


def _unflushed(notes: Iterable[ClientNote]) -> list[Finding]:
    return [
        Finding(
            "diagnostic",
            "never-flushed",
            f"{plural(note.flushed, 'server event')} {was(note.flushed)} still queued "
            f"in the posthog client created at {note.site}, which would not have delivered "
            f"{'it' if note.flushed == 1 else 'them'} in time ({_why(note)}); the harness "
            "flushed them. Call posthog.flush() after the request, and shutdown() on exit.",
        )
        for note in notes
        if note.flushed and note.finding
    ]


def _why(note: ClientNote) -> str:
    """The reason a queued-events note gives (after its ``: ``), else its whole text."""
    _, colon, why = note.problem.partition(": ")
    return why.rsplit(" (the app never", 1)[0] if colon else note.problem


def _api_keys(events: list[CapturedEvent]) -> list[Finding]:
    keys: dict[str, dict[str, list[CapturedEvent]]] = {"client": {}, "server": {}}
    for event in events:
        if event.api_key:
            keys[event.source].setdefault(event.api_key, []).append(event)
    every = {key for side in keys.values() for key in side}
    if len(every) < 2:
        return []

    def side(name: str) -> str:
        return ", ".join(
            f"{mask_secrets(key)} ({plural(len(mine), 'event')})"
            for key, mine in keys[name].items()
        )

    parts = [f"the {name} used {side(name)}" for name in ("client", "server") if keys[name]]
    first = next(e for e in events if e.api_key)
    return [
        Finding(
            "diagnostic",
            "different-api-keys",
            f"Events went to {len(every)} PostHog projects: {'; '.join(parts)}. Events sent "
            "with different keys land in different projects, so the two sides' events never "
            "meet. Use the same project API key for client and server.",
            event=first,
        )
    ]


def _timestamps(events: list[CapturedEvent], max_skew: timedelta) -> list[Finding]:
    zoneless: list[Finding] = []
    skewed: list[Finding] = []
    for event in events:
        has_zone, raw = sent_zone(event), event.raw_timestamp
        if has_zone is None:
            continue
        if not has_zone:
            zoneless.append(
                Finding(
                    "diagnostic",
                    "timestamp-without-zone",
                    f"{_name(event)} was sent with the timestamp {raw!r}, which has no time zone:"
                    " PostHog reads it as UTC, so a clock in local time shifts the event by its "
                    "UTC offset. Send UTC (datetime.now(timezone.utc), or an ISO string ending "
                    "in Z).",
                    event=event,
                )
            )
        delta = event.timestamp - event.received_at
        if abs(delta) > max_skew:
            future = delta > timedelta(0)
            warning = (
                " PostHog's ingestion flags events more than 23 hours in the future."
                if delta > _FUTURE_LIMIT
                else ""
            )
            skewed.append(
                Finding(
                    "diagnostic",
                    "timestamp-skew",
                    f"{_name(event)} is timestamped {duration(delta)} "
                    f"{'after' if future else 'before'} it arrived ({raw!r}, received "
                    f"{event.received_at.isoformat(timespec='milliseconds')}): a local time "
                    "sent as UTC, a wrong clock, or a timestamp set on purpose (an import)."
                    f"{warning} Use UTC timestamps consistently (guide: 'Timezone "
                    "discrepancies').",
                    event=event,
                )
            )
    return [
        *_capped(zoneless, "timestamp-without-zone", "events without a time zone"),
        *_capped(skewed, "timestamp-skew", "events far from their arrival"),
    ]


def _limits(events: list[CapturedEvent]) -> list[Finding]:
    found: list[Finding] = []
    for event in events:
        for path, _, value in walk(event.properties):
            if not isinstance(value, str) or len(value) < STRING_LIMIT:
                continue
            cut = event.source == "client" and len(value) == STRING_LIMIT
            found.append(
                Finding(
                    "diagnostic",
                    "truncated-value" if cut else "over-limit",
                    f"{_name(event)} property {path!r} is {len(value):,} characters long"
                    + (
                        f": posthog-js cut it to {STRING_LIMIT:,} (properties_string_max_length)"
                        if cut
                        else f", over the {STRING_LIMIT:,} posthog-js keeps"
                    )
                    + ". Send a summary or an id instead of the whole text (guide: 'Properties "
                    "truncated').",
                    event=event,
                    path=path,
                )
            )
        if event.distinct_id is not None and len(event.distinct_id) > DISTINCT_ID_LIMIT:
            found.append(
                Finding(
                    "diagnostic",
                    "over-limit",
                    f"{_name(event)} has a distinct_id of {len(event.distinct_id)} characters "
                    f"({format_value(mask_secrets(event.distinct_id))}): PostHog keeps the first "
                    f"{DISTINCT_ID_LIMIT}, so its person is not the one the app meant. A token "
                    "or a serialised object was probably passed as the id.",
                    event=event,
                )
            )
        if event.event != "$snapshot":
            size = len(json.dumps(event.properties, default=repr).encode())
            if size > EVENT_SIZE_LIMIT:
                found.append(
                    Finding(
                        "diagnostic",
                        "over-limit",
                        f"{_name(event)} is {size / 1024 / 1024:.1f} MB of properties: PostHog "
                        "discards events over 1 MB. Send less (ids, counts, summaries).",
                        event=event,
                    )
                )
    return _capped(found, "over-limit", "properties over PostHog's limits")


def _rate_limit(events: list[CapturedEvent], floor: float) -> list[Finding]:
    warning = next((e for e in events if e.event == _RATE_LIMIT_EVENT), None)
    if warning is not None:
        text = str(warning.properties.get("$$client_ingestion_warning_message", ""))
        return [
            Finding(
                "diagnostic",
                "rate-limited",
                "posthog-js hit its client rate limit and dropped events"
                + (f" ({text})" if text else "")
                + ". Capture less in loops and re-renders, or raise rate_limiting in "
                "posthog.init (guide: 'Rate limiting').",
                event=warning,
            )
        ]
    low = [
        (e, tokens)
        for e in events
        if e.source == "client"
        and isinstance(tokens := e.properties.get("$lib_rate_limit_remaining_tokens"), int | float)
        and not isinstance(tokens, bool)
        and tokens < floor
    ]
    if not low:
        return []
    event, tokens = min(low, key=lambda pair: pair[1])
    return [
        Finding(
            "diagnostic",
            "rate-limited",
            f"posthog-js's client rate limit was nearly used up: {_name(event)} left "
            f"{tokens:.3g} token{'s' * (tokens != 1)} (10 events/s, bursts of 100 by default); "
            "events captured with none left are dropped. Capture less in loops and re-renders "
            "(guide: 'Rate limiting').",
            event=event,
        )
    ]
