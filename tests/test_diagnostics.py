"""The troubleshooting table as checks: what each one finds, in its exact words."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from support import T0, MakeEvent, replay

from pytest_hybrid_analytics import CapturedEvent, ClientNote, Finding
from pytest_hybrid_analytics._checks.diagnostics import STRING_LIMIT, diagnose
from pytest_hybrid_analytics._model.events import event_from_wire

PAYLOADS = Path(__file__).parent / "payloads"
#: The words posthog-js 1.449.2 logs (posthog-core.js) when it drops a bot's events.
BOT_WARNING = (
    "[PostHog.js] Events are being dropped because the user agent looks like a bot (first "
    'dropped event: "$pageview"). Set `opt_out_useragent_filter: true` to capture them, e.g. in '
    "end-to-end tests. Note that logs from `captureLog` are not subject to this filter."
)


def wire(
    name: str,
    *,
    source: str = "server",
    timestamp: str | None = "2026-03-01T12:00:00Z",
    received: timedelta = timedelta(0),
    **fields: Any,
) -> CapturedEvent:
    """An event as an SDK put it on the wire, received at ``T0 + received``."""
    raw: dict[str, Any] = {"event": name, "distinct_id": "u1", **fields}
    if timestamp is not None:
        raw["timestamp"] = timestamp
    return event_from_wire(raw, source=source, received_at=T0 + received)  # type: ignore[arg-type]


def said(findings: list[Finding]) -> list[str]:
    return [str(finding) for finding in findings]


def test_nothing_to_say_about_a_healthy_capture(ev: MakeEvent) -> None:
    assert diagnose([ev("$pageview", "a"), ev("purchase", "a", source="server", at=1)]) == []
    assert diagnose([]) == []


def test_real_sdk_traffic_has_nothing_but_its_age() -> None:
    """Replayed today, recorded earlier: only the arrival check may speak, so switch it off."""
    for path in sorted(PAYLOADS.glob("posthog-*.json")):
        analytics = replay(path)
        assert diagnose(analytics, max_skew=timedelta(days=36500)) == [], path.stem


# -- the browser dropped events as a bot -----------------------------------------------------------


def test_bot_from_the_console_warning_posthog_js_logs() -> None:
    assert said(diagnose([], console=["log: hello", f"warning: {BOT_WARNING}"])) == [
        "[bot-dropped] posthog-js dropped events as a bot (first dropped event: '$pageview'): "
        "headless Chromium's user agent and navigator.webdriver look like a bot, so nothing "
        "reached PostHog. Init posthog-js with opt_out_useragent_filter: true under test (the "
        "analytics fixture's browser road does it for pages it attaches), or give the browser a "
        "user agent without 'Headless'."
    ]
    debug = 'info: Event "signed_up" was not captured because the user agent looks like a bot.'
    assert said(diagnose([], console=[debug]))[0].startswith(
        "[bot-dropped] posthog-js dropped events as a bot (first dropped event: 'signed_up'): "
    )


def test_bot_from_bot_pageviews(ev: MakeEvent) -> None:
    bot = ev("$bot_pageview", "anon", **{"$browser_type": "bot"})
    [finding] = diagnose([bot])
    assert finding.event is bot
    assert finding.message.startswith(
        "posthog-js took the browser for a bot: it sent 1 $bot_pageview instead of $pageview "
        "and dropped every other event. Init posthog-js with opt_out_useragent_filter: true"
    )


def test_events_marked_bot_but_captured_are_fine(ev: MakeEvent) -> None:
    """``$browser_type: "bot"`` means the filter was opted out of: the events arrived."""
    assert diagnose([ev("$pageview", "anon", **{"$browser_type": "bot"})]) == []


# -- server events never flushed -------------------------------------------------------------------


def test_queued_server_events_flushed_only_by_the_harness() -> None:
    notes = [
        ClientNote.queued("app/analytics.py:12", 3, "at teardown", "its flush_interval is 3600 s"),
        ClientNote("app/analytics.py:12", "never shut down during the test", finding=False),
        # Information, not a finding: the SDK would have sent these itself.
        ClientNote("app/analytics.py:9", "2 queued events flushed", 2, finding=False),
    ]
    assert said(diagnose([], notes=notes)) == [
        "[never-flushed] 3 server events were still queued in the posthog client created at "
        "app/analytics.py:12, which would not have delivered them in time (its flush_interval "
        "is 3600 s); the harness flushed them. Call posthog.flush() after the request, and "
        "shutdown() on exit."
    ]


# -- different API keys ----------------------------------------------------------------------------


def test_client_and_server_with_different_keys() -> None:
    client = wire("$pageview", source="client", properties={"token": "phc_clientkey_1234567890"})
    server = wire("purchase", api_key="phc_serverkey_0987654321")
    assert said(diagnose([client, server, server])) == [
        "[different-api-keys] Events went to 2 PostHog projects: the client used phc_…7890 (1 "
        "event); the server used phc_…4321 (2 events). Events sent with different keys land in "
        "different projects, so the two sides' events never meet. Use the same project API key "
        "for client and server."
    ]
    same = wire("purchase", api_key="phc_clientkey_1234567890")
    assert diagnose([client, same]) == []


# -- timestamps ------------------------------------------------------------------------------------


def test_a_timestamp_without_a_zone_is_read_as_utc() -> None:
    local = wire("order_placed", timestamp="2026-03-01T13:00:00", received=timedelta(seconds=1))
    assert said(diagnose([local])) == [
        "[timestamp-without-zone] 'order_placed' (server) was sent with the timestamp "
        "'2026-03-01T13:00:00', which has no time zone: PostHog reads it as UTC, so a clock in "
        "local time shifts the event by its UTC offset. Send UTC (datetime.now(timezone.utc), or "
        "an ISO string ending in Z).",
        "[timestamp-skew] 'order_placed' (server) is timestamped 60 min after it arrived "
        "('2026-03-01T13:00:00', received 2026-03-01T12:00:01.000+00:00): a local time sent as "
        "UTC, a wrong clock, or a timestamp set on purpose (an import). Use UTC timestamps "
        "consistently (guide: 'Timezone discrepancies').",
    ]


def test_skew_before_and_far_in_the_future() -> None:
    old = wire("late", timestamp="2026-03-01T09:00:00Z")
    future = wire("ahead", timestamp="2026-03-03T12:00:00+00:00")
    near = wire("batched", timestamp="2026-03-01T11:55:00Z")
    assert [f.message.split(" ('")[0] for f in diagnose([old, future, near])] == [
        "'late' (server) is timestamped 3 h 00 min before it arrived",
        "'ahead' (server) is timestamped 2 days after it arrived",
    ]
    [ahead] = diagnose([future])
    assert "PostHog's ingestion flags events more than 23 hours in the future." in ahead.message
    assert diagnose([old], max_skew=timedelta(hours=4)) == []


def test_a_check_names_five_events_then_counts_the_rest() -> None:
    events = [wire(f"e{n}", timestamp="2026-03-01T12:00:00") for n in range(8)]
    findings = diagnose(events)
    assert [f.code for f in findings] == ["timestamp-without-zone"] * 6
    assert str(findings[-1]) == (
        "[timestamp-without-zone] … and 3 more events without a time zone like these."
    )


# -- limits ----------------------------------------------------------------------------------------


def test_truncated_and_over_limit_values(ev: MakeEvent) -> None:
    cut = ev("article_read", body="x" * STRING_LIMIT)
    huge = ev("export_done", "u", source="server", log="y" * 70_000)
    long_id = ev("signed_up", "tok-" + "z" * 260)
    assert said(diagnose([cut, huge, long_id])) == [
        "[truncated-value] 'article_read' (client) property 'body' is 65,535 characters long: "
        "posthog-js cut it to 65,535 (properties_string_max_length). Send a summary or an id "
        "instead of the whole text (guide: 'Properties truncated').",
        "[over-limit] 'export_done' (server) property 'log' is 70,000 characters long, over the "
        "65,535 posthog-js keeps. Send a summary or an id instead of the whole text (guide: "
        "'Properties truncated').",
        "[over-limit] 'signed_up' (client) has a distinct_id of 264 characters ('tok-zzzzzzzzzzz"
        "zzzzzzzzzzzzzzzzzzzzzzz…): PostHog keeps the first 200, so its person is not the one the "
        "app meant. A token or a serialised object was probably passed as the id.",
    ]
    heavy = ev("snapshot_like", "u", source="server", blob=["k" * 60_000] * 20)
    [finding] = diagnose([heavy])
    assert finding.message == (
        "'snapshot_like' (server) is 1.1 MB of properties: PostHog discards events over 1 MB. "
        "Send less (ids, counts, summaries)."
    )


# -- rate limiting ---------------------------------------------------------------------------------


def test_client_rate_limit_nearly_used_up(ev: MakeEvent) -> None:
    events = [
        ev("scrolled", **{"$lib_rate_limit_remaining_tokens": 40}),
        ev("scrolled", **{"$lib_rate_limit_remaining_tokens": 0.42}),
        ev("scrolled", source="server", **{"$lib_rate_limit_remaining_tokens": 0}),
    ]
    [finding] = diagnose(events)
    assert finding.event is events[1]
    assert str(finding) == (
        "[rate-limited] posthog-js's client rate limit was nearly used up: 'scrolled' (client) "
        "left 0.42 tokens (10 events/s, bursts of 100 by default); events captured with none "
        "left are dropped. Capture less in loops and re-renders (guide: 'Rate limiting')."
    )
    assert diagnose(events[:1]) == []


def test_client_rate_limit_warning_event(ev: MakeEvent) -> None:
    text = (
        "posthog-js client rate limited: 12 event(s) dropped since the last warning. Config is "
        "set to 10 events per second and 100 events burst limit."
    )
    warning = ev("$$client_ingestion_warning", **{"$$client_ingestion_warning_message": text})
    assert said(diagnose([warning])) == [
        f"[rate-limited] posthog-js hit its client rate limit and dropped events ({text}). "
        "Capture less in loops and re-renders, or raise rate_limiting in posthog.init (guide: "
        "'Rate limiting')."
    ]


def test_the_same_person_update_again_and_again_is_a_volume_finding(ev: MakeEvent) -> None:
    middleware = [
        ev("$set", "user-1", source="server", at=n, **{"$set": {"plan": "pro"}}) for n in range(3)
    ]
    events = [*middleware, ev("page_viewed", "user-1", source="server", at=4)]
    [finding] = [f for f in diagnose(events) if f.code == "repeated-person-update"]
    assert finding.message == (
        "'$set' with the same person properties was sent 3 times by the server for 'user-1' "
        "(3 of 4 events in this test), seemingly on every request (a middleware or a login "
        "hook): only the first changes anything, the rest is volume PostHog ingests and bills. "
        "Send it when the properties change (sign-up, login, a profile edit)."
    )
    # Twice (registration, then login), or with new values each time: nothing to say.
    changing = [ev("$set", "user-1", source="server", at=n, **{"$set": {"n": n}}) for n in range(3)]
    assert [f for f in diagnose([*middleware[:2], *changing]) if f.kind == "diagnostic"] == []
