"""One self-contained HTML file for a run: each test's events on a client lane and a server lane.

The timeline is a grid that fits the page's width: a row per lane, a column per moment (at
most :data:`MAX_COLUMNS`: events close in time share one, stacked; pauses of a second or more
are labelled; a run of like events folds into one mark). Each event is a mark with its name,
time and distinct id, coloured by person (as :class:`~pytest_hybrid_analytics.Identity`
resolves them); identity merges are lines down the lanes at the start of their column;
duplicates and rejected requests are flagged; a click on a mark shows the event's properties,
the person properties it sets apart. Two persons where one was meant (a refused merge, server
events on a person the client never had, a failed ``assert_same_person``) are a "Split person"
finding. Failing tests come first, each with its PII findings, plan violations, diagnostics
and SDK notes. The file needs no network: its CSS and JavaScript are inline, a
Content-Security-Policy forbids any fetch, and every text and property goes through
:func:`~pytest_hybrid_analytics.redact` / :func:`~pytest_hybrid_analytics.mask_secrets`.

The page, its CSS and its JavaScript are package files in ``_reports/templates/``
(``report.html``, ``report.css``, ``report.js``), read once at import by :func:`load_template`.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_hybrid_analytics._checks.assertions import find_duplicates
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import mask_secrets, redact
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import MERGE_EVENTS, Identity, Merge
from pytest_hybrid_analytics._model.sessions import session_id, sessions_of
from pytest_hybrid_analytics._model.text import clip, clock, duration, json_for_html, plural
from pytest_hybrid_analytics._recording.timeline import on_timeline
from pytest_hybrid_analytics._reports.records import RecordedTest
from pytest_hybrid_analytics._reports.templating import load_template

if TYPE_CHECKING:
    from pytest_hybrid_analytics._model.events import RejectedRequest
    from pytest_hybrid_analytics._recording.client_notes import ClientNote
    from pytest_hybrid_analytics._reports.audit import Audit

__all__ = ["REPORT_NAME", "render_html", "write_report"]

#: The file name :func:`write_report` writes in its directory.
REPORT_NAME = "analytics-report.html"
#: How many events one test's timeline draws (the rest are counted).
MAX_MARKS = 400

#: How many time columns a timeline has at most (one more for each of its first two merges,
#: which start a column): events close in time share a column, stacked.
MAX_COLUMNS = 8
#: A run of at least this many like events in one stack is folded into one expandable mark.
_FOLD_RUN = 4
#: A gap between columns at least this long is labelled on the axis.
_NOTED_GAP = timedelta(seconds=1)
_PALETTE = (
    "#2f6fde",
    "#8250df",
    "#1a7f37",
    "#c27c00",
    "#d6409f",
    "#0a8ea8",
    "#e36209",
    "#5a32a3",
    "#7d4e24",
    "#57606a",
)
_FAILED = ("failed", "error")
#: Outcomes the header counts besides the failures (passed is what is left).
_OTHER_OUTCOMES = ("skipped", "xfailed", "xpassed")
#: What a test's reason is introduced by, per outcome.
_REASON_TITLES = {
    "skipped": "Skipped",
    "xfailed": "Expected to fail",
    "xpassed": "Passed, though expected to fail",
}
_KIND_TITLES = {
    "pii": "PII guard",
    "plan": "Tracking plan",
    "persons": "Persons",
    "baseline": "Baseline",
    "diagnostic": "Diagnostics",
}

_PAGE = load_template(
    "report.html", "title", "css", "js", "summary", "toc", "toc_class", "audit", "sections"
)
_CSS = load_template("report.css").render()
_JS = load_template("report.js").render()


def _e(text: object) -> str:
    """Masked and escaped, for HTML text and attributes."""
    return html.escape(mask_secrets(str(text)), quote=True)


@dataclass
class _Item:
    """One mark of a timeline: an event, or a rejected request."""

    moment: datetime
    event: CapturedEvent | None = None
    rejected: RejectedRequest | None = None

    @property
    def lane(self) -> str:
        return self.event.source if self.event is not None else "rejected"


@dataclass
class _Marks:
    """What a test's timeline needs to draw its marks: persons, colours, duplicates, findings."""

    anchor: str
    who: Identity
    colours: dict[str, str]
    dup_of: dict[int, list[int]]
    flagged: dict[int, list[Finding]]
    #: The merge each merge event asked for.
    merge_of: dict[int, Merge]
    #: What each event shows of a split person.
    split_of: dict[int, list[str]]


def render_html(
    tests: Sequence[RecordedTest],
    *,
    title: str = "PostHog analytics report",
    audit: Audit | None = None,
    generated: datetime | None = None,
    session_notes: Sequence[ClientNote] = (),
) -> str:
    """The whole report as one HTML document.

    ``session_notes`` (what the harness found about ``posthog`` clients as the run ended) are
    shown after the tests, and are no test.

    >>> text = render_html([RecordedTest("tests/test_shop.py::test_buy", "failed",
    ...                                  events=analytics.events)])
    >>> text.startswith("<!doctype html>")
    True
    """
    order = sorted(range(len(tests)), key=lambda i: (tests[i].outcome not in _FAILED, i))
    ordered = [tests[i] for i in order]
    splits = [_splits(test, Identity(test.events)) for test in ordered]
    when = (generated or datetime.now(UTC)).astimezone(UTC)
    events = sum(len(t.events) for t in tests)
    sides = Counter(e.source for t in tests for e in t.events)
    failed = sum(t.outcome in _FAILED for t in tests)
    findings = sum(_finding_count(t, split) for t, split in zip(ordered, splits, strict=True))
    outcomes = Counter(t.outcome for t in tests)
    others = "".join(
        f"{outcomes[outcome]} {outcome} · " for outcome in _OTHER_OUTCOMES if outcomes[outcome]
    )
    summary = (
        f"{plural(len(tests), 'test')} · "
        f"<b class='{'bad' if failed else 'good'}'>{failed} failed</b> · {others}"
        f"{plural(events, 'event')} ({sides['client']} client, {sides['server']} server) · "
        f"{plural(findings, 'finding')} · generated "
        f"{when.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    )
    toc = "".join(
        f"<li><a href='#t{n}'>{_badge(t.outcome)} <code>{_nodeid(t.nodeid)}</code></a>"
        f"<span class='muted'>{plural(len(t.events), 'event')}"
        + (f" · {plural(found, 'finding')}" if (found := _finding_count(t, split)) else "")
        + (" · <b class='bad'>split person</b>" if split else "")
        + "</span></li>"
        for n, (t, split) in enumerate(zip(ordered, splits, strict=True))
    )
    sections = "\n".join(
        _section(n, test, split)
        for n, (test, split) in enumerate(zip(ordered, splits, strict=True))
    )
    if not sections:
        sections = "<p class='muted'>No test used the analytics fixture.</p>"
    if session_notes:
        sections += (
            "\n<section class='card session' id='session-end'><h3>SDK lifecycle at session end "
            f"<span class='muted'>({len(session_notes)})</span></h3>"
            f"<ul>{''.join(f'<li>{_e(note)}</li>' for note in session_notes)}</ul></section>"
        )
    return _PAGE.render(
        title=_e(title),
        css=_CSS,
        js=_JS,
        summary=summary,
        toc=toc,
        toc_class=" many" if len(tests) > 8 else "",
        audit=_audit(audit) if audit is not None else "",
        sections=sections,
    )


def write_report(
    tests: Sequence[RecordedTest],
    directory: str | Path,
    *,
    title: str = "PostHog analytics report",
    audit: Audit | None = None,
    session_notes: Sequence[ClientNote] = (),
) -> Path:
    """Write :func:`render_html` to ``directory/analytics-report.html`` (creating the
    directory) and return the file's path.

    >>> write_report(recorded_tests, "reports/")
    PosixPath('reports/analytics-report.html')
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    path.write_text(
        render_html(tests, title=title, audit=audit, session_notes=session_notes),
        encoding="utf-8",
    )
    return path


# -- pieces ------------------------------------------------------------------------------------


def _badge(outcome: str) -> str:
    return f"<span class='badge {_e(outcome)}'>{_e(outcome)}</span>"


def _audit(result: Audit) -> str:
    counts = Counter(line.verdict for line in result.lines)
    rows = "".join(
        f"<tr class='{line.verdict.replace(' ', '-')}'><td class='verdict'>{_e(line.verdict)}</td>"
        f"<td>{_e(line.check)}<ul>{''.join(f'<li>{_e(item)}</li>' for item in line.evidence)}"
        "</ul></td></tr>"
        for line in result.lines
    )
    return (
        "<details class='audit card'><summary>Audit: the guide's Validation Checklist "
        f"<span class='good'>{counts['pass']} pass</span> · "
        f"<span class='{'bad' if counts['fail'] else 'muted'}'>{counts['fail']} fail</span> · "
        f"<span class='warn'>{counts['cannot judge']} cannot judge</span></summary>"
        f"<table>{rows}</table></details>"
    )


def _items(test: RecordedTest) -> list[_Item]:
    items = [_Item(e.timestamp, event=e) for e in on_timeline(test.events)]
    items += [_Item(r.received_at, rejected=r) for r in test.rejected]
    items.sort(key=lambda item: item.moment)
    if len(items) > MAX_MARKS:
        half = MAX_MARKS // 2
        items = items[:half] + items[-half:]
    return items


def _spans(cuts: Collection[int], count: int) -> list[tuple[int, int]]:
    edges = [0, *sorted(cuts), count]
    return list(pairwise(edges))


def _kind(item: _Item) -> object:
    """What makes marks alike enough to fold together (a rejected request never is)."""
    if item.event is None:
        return object()
    return (item.event.source, item.event.event, item.event.distinct_id)


def _height(items: Sequence[_Item], span: tuple[int, int]) -> int:
    """How many marks a column's tallest stack draws (a run of like events folds into one)."""
    lanes: dict[str, list[object]] = {}
    for item in items[span[0] : span[1]]:
        lanes.setdefault(item.lane, []).append(_kind(item))
    return max(
        sum(
            1 if len(run) >= _FOLD_RUN else len(run) for run in (list(g) for _, g in groupby(kinds))
        )
        for kinds in lanes.values()
    )


def _columns(
    items: Sequence[_Item], breaks: Collection[int] = (), limit: int = MAX_COLUMNS
) -> list[tuple[int, int]]:
    """``items`` (in time order) cut into columns of neighbours in time, each as ``(start,
    end)`` indices: one item a column when at most ``limit``; else cut before each merge
    (``breaks``, up to two more columns), then into at most ``limit`` columns at the longest
    pauses (of about the same length, the cut that halves its column) and through a stack grown
    over twice as tall as an even share would be. A run of like events (folded into one mark) is
    cut only at a pause of a second or more, or for a stack's height.

    >>> _columns([_Item(T0 + timedelta(seconds=s)) for s in (0, 0.1, 5, 5.1)], limit=2)
    [(0, 2), (2, 4)]
    """
    count = len(items)
    if count <= limit:
        return [(n, n + 1) for n in range(count)]
    cuts = {n for n in breaks if 0 < n < count}
    limit += min(len(cuts), 2)
    pause = {
        n: math.floor(
            math.log((items[n].moment - items[n - 1].moment).total_seconds() * 1e3 + 1, 1.5)
        )
        for n in range(1, count)
    }
    kinds = [_kind(item) for item in items]
    before: list[dict[str, object]] = [{}]
    for item, kind in zip(items, kinds, strict=True):
        before.append({**before[-1], item.lane: kind})
    after: list[dict[str, object]] = [{}]
    for item, kind in zip(reversed(items), reversed(kinds), strict=True):
        after.append({**after[-1], item.lane: kind})
    after.reverse()
    in_run = {
        n: any(before[n].get(lane) == kind for lane, kind in after[n].items())
        and items[n].moment - items[n - 1].moment < _NOTED_GAP
        for n in range(1, count)
    }
    even = -(-_height(items, (0, count)) // limit)
    while len(cuts) < limit - 1:
        spans = _spans(cuts, count)
        tall = max(spans, key=lambda span: _height(items, span))
        forced = _height(items, tall) > 2 * even + 1
        if forced:
            low, high = tall
            quarter = (high - low) // 4
            within = [tall]
            options = range(low + max(1, quarter), high - quarter)
        else:
            within = spans
            options = range(1, count)
        span_of = {n: span for span in within for n in range(span[0] + 1, span[1])}
        choices = [n for n in options if n in span_of]
        if not choices:
            break
        best = max(
            choices,
            key=lambda n: (
                not in_run[n],
                pause[n],
                min(n - span_of[n][0], span_of[n][1] - n),
                -n,
            ),
        )
        if in_run[best] and not forced:
            break
        cuts.add(best)
    return _spans(cuts, count)


def _section(number: int, test: RecordedTest, splits: Sequence[_Split]) -> str:
    anchor = f"t{number}"
    who = Identity(test.events)
    persons = who.persons()
    colours = {p.label: _PALETTE[i % len(_PALETTE)] for i, p in enumerate(persons)}
    duplicates = find_duplicates(list(test.events))
    dup_of: dict[int, list[int]] = {}
    for n, duplicate in enumerate(duplicates, start=1):
        for event in duplicate.events:
            dup_of.setdefault(id(event), []).append(n)
    flagged: dict[int, list[Finding]] = {}
    for finding in test.findings:
        if finding.event is not None:
            flagged.setdefault(id(finding.event), []).append(finding)

    items = _items(test)
    merge_of = {id(merge.event): merge for merge in who.requested}
    split_of: dict[int, list[str]] = {}
    for split in splits:
        if split.event is not None:
            split_of.setdefault(id(split.event), []).append(split.text)
    marks = _Marks(anchor, who, colours, dup_of, flagged, merge_of, split_of)
    timeline, index, data = _timeline(items, marks, duplicates)
    hidden = len(test.events) + len(test.rejected) - len(items)
    more = (
        f"<p class='muted'>{plural(hidden, 'event')} in the middle of this test "
        f"{'is' if hidden == 1 else 'are'} not drawn.</p>"
        if hidden
        else ""
    )
    people = "".join(
        f"<span class='person'><i style='background:{colours[p.label]}'></i>"
        f"<b>{p.label}</b> "
        f"{_e(', '.join(p.distinct_ids[:4]) + (' …' if len(p.distinct_ids) > 4 else ''))}"
        "</span>"
        for p in persons
    )
    if splits:
        people += (
            "<span class='split-flag' title='two persons where one was expected: see "
            "&quot;Split person&quot; below'>split person</span>"
        )
    counts = Counter(e.source for e in test.events)
    facts = [f"{counts['client']} client", f"{counts['server']} server"]
    if splits:
        facts.append(f"<b class='bad'>{plural(len(persons), 'person')}: split</b>")
    else:
        facts.append(plural(len(persons), "person"))
    if duplicates:
        facts.append(f"<b class='bad'>{plural(len(duplicates), 'duplicate')}</b>")
    if test.rejected:
        facts.append(f"<b class='bad'>{len(test.rejected)} rejected</b>")
    hit = [f"{desc} ×{hits}" for desc, hits in test.faults if hits]
    if hit:
        shown = _e(", ".join(hit))
        facts.append(f"<span class='muted' title='analytics.faults'>faults: {shown}</span>")
    found = _finding_count(test, splits)
    if found:
        facts.append(f"<b class='warn'>{plural(found, 'finding')}</b>")
    if not items:
        timeline = "<p class='muted empty'>No PostHog event reached the recorder in this test.</p>"
    failure = _failure(test)
    return (
        f"<section class='test card {_e(test.outcome)}' id='{anchor}'>"
        f"<details{' open' if test.outcome in _FAILED or number == 0 else ''}>"
        f"<summary>{_badge(test.outcome)} <code class='nodeid'>{_nodeid(test.nodeid)}</code>"
        f"<span class='facts'>{' · '.join(facts)}</span>{_reason(test)}</summary>"
        f"{failure}<div class='people'>{people}</div>{timeline}{more}"
        f"<div class='panel' data-for='{anchor}'><p class='muted'>Click an event to see its "
        "properties.</p></div>"
        f"{_findings(test, duplicates, index, splits)}"
        f"<script type='application/json' class='data' data-for='{anchor}'>"
        f"{json_for_html(data)}</script>"
        "</details></section>"
    )


def _finding_count(test: RecordedTest, splits: Sequence[_Split]) -> int:
    """A test's findings as the report counts them: the checks' and each split person."""
    return len(test.findings) + len(splits)


@dataclass(frozen=True)
class _Split:
    """Two persons where one was expected: what split them, and the event that shows it."""

    text: str
    event: CapturedEvent | None = None


#: How ``assert_same_person`` begins its failure.
_ONE_PERSON_EXPECTED = "Expected all events to belong to one person; found "


def _splits(test: RecordedTest, who: Identity) -> list[_Split]:
    """Where a test's events make two persons that were meant to be one: a merge PostHog
    refuses (the ids asked to be joined stay apart); in a test with both sides, server events
    on a person the client never had (no ``$identify`` or alias joins their id to the
    client's), as the audit's identity line judges them; else a failed ``assert_same_person``
    (the test's own check expected one person)."""
    found = _refused_or_strangers(test, who)
    persons = who.persons()
    if not found and test.failed and _ONE_PERSON_EXPECTED in test.message and len(persons) > 1:
        found.append(
            _Split(
                f"the test expected one person (assert_same_person failed); the events make "
                f"{len(persons)}: "
                + "; ".join(
                    f"{p.label} ({', '.join(map(repr, p.distinct_ids[:3]))}"
                    f"{' …' if len(p.distinct_ids) > 3 else ''})"
                    for p in persons[:5]
                )
                + ". No $identify or alias joins them."
            )
        )
    return found


def _refused_or_strangers(test: RecordedTest, who: Identity) -> list[_Split]:
    found = []
    for merge in who.refused:
        event = merge.event
        into, other = who.label(merge.into_id), who.label(merge.from_id)
        found.append(
            _Split(
                f"{event.event!r} ({event.source}) asked to join {merge.from_id!r} ({other}) "
                f"with {merge.into_id!r} ({into}); PostHog refuses it ({merge.refused}), so they "
                "stay two persons.",
                event,
            )
        )
    client = [e for e in test.events if e.source == "client" and e.distinct_id]
    if not client:
        return found
    theirs = {who.person_of(e.distinct_id) for e in client if e.distinct_id}
    strangers: dict[str, list[CapturedEvent]] = {}
    for event in test.events:
        distinct = event.distinct_id
        if event.source != "server" or distinct is None or who.person(distinct) is None:
            continue
        if who.person_of(distinct) not in theirs:
            strangers.setdefault(distinct, []).append(event)
    labels = sorted({who.label(e.distinct_id) for e in client} - {"-"})
    client_side = ", ".join(labels) if labels else "no person (its events are personless)"
    for distinct, mine in strangers.items():
        names = ", ".join(list(dict.fromkeys(e.event for e in mine))[:5])
        found.append(
            _Split(
                f"server events ({names}) by {distinct!r} ({who.label(distinct)}) are on a "
                f"person the client never had (the client's: {client_side}): no $identify or "
                "alias joins that id to the client's.",
                mine[0],
            )
        )
    return found


def _timeline(
    items: Sequence[_Item], marks: _Marks, duplicates: Sequence[Any]
) -> tuple[str, dict[int, str], dict[str, Any]]:
    """The timeline grid (a row per lane, a column per moment), each event's key by its id, and
    the data each mark shows when clicked."""
    keys = [f"{marks.anchor}-{n}" for n in range(len(items))]
    index = {id(item.event): key for item, key in zip(items, keys, strict=True) if item.event}
    merges = [
        (n, merge)
        for merge in marks.who.requested
        for n, item in enumerate(items)
        if item.event is merge.event
    ]
    columns = _columns(items, {n for n, _ in merges})
    lanes = ["client", "server"] + (["rejected"] if any(i.rejected for i in items) else [])
    first_row = 3 if merges else 2
    row = {lane: first_row + n for n, lane in enumerate(lanes)}
    data: dict[str, Any] = {}
    cells: list[str] = []
    ticks: list[str] = []
    start = items[0].moment if items else datetime.now(UTC)
    column_of: dict[int, int] = {}
    for c, (low, high) in enumerate(columns):
        grid = c + 2
        column_of.update(dict.fromkeys(range(low, high), c))
        gap = ""
        if low:
            pause = items[low].moment - items[low - 1].moment
            if pause >= _NOTED_GAP:
                gap = f"<span class='gap'>+{duration(pause)}</span>"
        span = f"{clock(items[low].moment)} – {clock(items[high - 1].moment)}"
        ticks.append(
            f"<div class='tick{' paused' if gap else ''}' style='grid-column:{grid}' "
            f"title='{span} · {plural(high - low, 'mark')}'>{gap}"
            f"<span class='at'>{duration(items[low].moment - start)}</span></div>"
        )
        for lane in lanes:
            mine = [n for n in range(low, high) if items[n].lane == lane]
            cells.append(
                f"<div class='cell {lane}' style='grid-row:{row[lane]};grid-column:{grid}'>"
                f"{_stack(mine, items, keys, marks, data, duplicates)}</div>"
            )
    labels = "".join(
        f"<div class='lane {lane}' style='grid-row:{row[lane]}'><span>{lane}</span></div>"
        for lane in lanes
    )
    labels += _session_bands(items, column_of, first_row + len(lanes))
    corner = "<div class='corner' style='grid-row:1'>elapsed</div>"
    lines, levels = _merges(merges, column_of, len(columns), last_row=first_row + len(lanes))
    if merges:
        corner += (
            f"<div class='corner merges' style='grid-row:2;height:{8 + 15 * levels}px'>"
            "<span>merges</span></div>"
        )
    html_text = (
        f"<div class='scroller'><div class='grid' style='--columns:{len(columns)}'>"
        f"{corner}{''.join(ticks)}{labels}{''.join(cells)}{lines}</div></div>"
    )
    return html_text, index, data


def _session_bands(items: Sequence[_Item], column_of: dict[int, int], first_row: int) -> str:
    """A band per browser session (``$session_id``) under the lanes, from the column of its first
    event to that of its last (client or server); sessions at the same time get rows of their
    own. A server event outside every band's span of its person is one PostHog shows outside
    the user's session."""
    events = [item.event for item in items if item.event is not None]
    sessions = sessions_of(events)
    if not sessions:
        return ""
    spans: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        sid = session_id(item.event) if item.event is not None else None
        if sid is not None and n in column_of:
            spans.setdefault(sid, []).append(column_of[n])
    ends: list[int] = []  # the last column each band row holds so far
    bands: list[str] = []
    for number, session in enumerate(sessions):
        low, high = min(spans[session.id]), max(spans[session.id])
        level = next((n for n, end in enumerate(ends) if end < low), len(ends))
        if level == len(ends):
            ends.append(high)
        else:
            ends[level] = high
        title = (
            f"{session.label} = $session_id {session.id}: {clock(session.first)} – "
            f"{clock(session.last)}, {plural(session.client_events, 'client event')}, "
            f"{plural(session.server_events, 'server event')} ({', '.join(session.ids)})"
        )
        bands.append(
            f"<div class='band b{number % 6}' style='grid-row:{first_row + level};"
            f"grid-column:{low + 2} / {high + 3}' title='{_e(title)}'>"
            f"<span>{_e(session.short())}</span></div>"
        )
    label = "session" if len(ends) == 1 else "sessions"
    rows = f"{first_row} / {first_row + len(ends)}"
    return (
        f"<div class='lane sessions' style='grid-row:{rows}'><span>{label}</span></div>"
        + "".join(bands)
    )


def _stack(
    numbers: list[int],
    items: Sequence[_Item],
    keys: list[str],
    marks: _Marks,
    data: dict[str, Any],
    duplicates: Sequence[Any],
) -> str:
    """One lane of one column: its marks top to bottom (a mark under one with the same distinct
    id does not repeat it), a run of like events (same name, same person, nothing flagged)
    folded into one mark that opens to show them."""
    drawn: list[tuple[tuple[str, str] | None, int, str]] = []
    above: object = None
    for n in numbers:
        item, key = items[n], keys[n]
        if item.event is not None:
            event = item.event
            label = marks.who.label(event.distinct_id)
            data[key] = _event_data(event, label, marks, duplicates)
            plain = not any(id(event) in found for found in (marks.dup_of, marks.flagged))
            plain = plain and id(event) not in marks.split_of
            kind = (event.event, label) if plain and event.event not in MERGE_EVENTS else None
            again = event.distinct_id is not None and event.distinct_id == above
            drawn.append((kind, n, _event_mark(event, key, label, marks, again=again)))
            above = event.distinct_id
        elif item.rejected is not None:
            above = None
            data[key] = _rejected_data(item.rejected)
            drawn.append((None, n, _rejected_mark(item.rejected, key)))
    out: list[str] = []
    at = 0
    while at < len(drawn):
        kind = drawn[at][0]
        end = at + 1
        while kind is not None and end < len(drawn) and drawn[end][0] == kind:
            end += 1
        if kind is None or end - at < _FOLD_RUN:
            out += [mark for _, _, mark in drawn[at:end]]
        else:
            out.append(_fold(kind, [items[n] for _, n, _ in drawn[at:end]], drawn[at:end], marks))
        at = end
    return "".join(out)


def _fold(
    kind: tuple[str, str],
    run: list[_Item],
    drawn: list[tuple[tuple[str, str] | None, int, str]],
    marks: _Marks,
) -> str:
    name, label = kind
    first, last = run[0].moment, run[-1].moment
    colour = marks.colours.get(label, "#8c959f")
    who = ", ".join(dict.fromkeys(str(i.event.distinct_id) for i in run if i.event is not None))
    return (
        f"<details class='bunch' style='--pc:{colour}'><summary class='fold' "
        f"title='{len(run)} × {_e(name)} from {clock(first)} to {clock(last)}: click to list "
        f"them'><span class='name'>{_name(name)} <b class='count'>×{len(run)}</b></span>"
        f"<span class='span'>{clock(first)} – {clock(last)[6:]}</span>"
        f"<span class='who'><b>{label}</b> {_e(who)}</span></summary>"
        f"{''.join(mark for _, _, mark in drawn)}</details>"
    )


def _nodeid(text: str) -> str:
    """A test's node id, masked and escaped, that may wrap before its parameters."""
    return _e(text).replace("[", "<wbr>[")


def _name(text: str) -> str:
    """An event name, masked and escaped, that may wrap after its underscores."""
    return _e(text).replace("_", "_<wbr>")


def _event_mark(
    event: CapturedEvent, key: str, label: str, marks: _Marks, *, again: bool = False
) -> str:
    """An event's mark: its name, time and distinct id (kept for the tooltip and hidden when
    ``again``: the same as the mark's above), its person's colour and its flags."""
    colour = marks.colours.get(label, "#8c959f")
    classes = ["mark", event.source]
    badges = []
    if id(event) in marks.dup_of:
        classes.append("dup")
        badges.append(
            "<i class='flag dup' title='duplicate "
            + ", ".join(f"#{n}" for n in marks.dup_of[id(event)])
            + "'>dup</i>"
        )
    if id(event) in marks.flagged or id(event) in marks.split_of:
        classes.append("flagged")
        kinds: list[str] = sorted({f.kind for f in marks.flagged.get(id(event), [])})
        kinds += ["split person"] if id(event) in marks.split_of else []
        badges.append(f"<i class='flag warn' title='{_e(', '.join(kinds))}'>!</i>")
    merging = " data-merge" if event.event in MERGE_EVENTS else ""
    distinct = event.distinct_id if event.distinct_id is not None else "<none>"
    return (
        f"<button type='button' class='{' '.join(classes)}' data-key='{key}'{merging} "
        f"style='--pc:{colour}' title='{_e(event.event)} · {_e(distinct)} · {label}'>"
        f"<span class='name'>{_name(event.event)}</span>"
        f"<span class='time'>{clock(event.timestamp)}</span>"
        f"<span class='who{' again' if again else ''}'><b>{label}</b> {_e(distinct)}</span>"
        f"{''.join(badges)}</button>"
    )


def _rejected_mark(request: RejectedRequest, key: str) -> str:
    return (
        f"<button type='button' class='mark rejected' data-key='{key}' "
        f"title='rejected: {_e(request.reason)}'>"
        f"<span class='name'>✖ rejected {request.status}</span>"
        f"<span class='time'>{clock(request.received_at)}</span>"
        f"<span class='who'>{_e(request.method)} {_e(_path(request.url))}</span></button>"
    )


def _reason(test: RecordedTest) -> str:
    """Why a test was skipped, or expected to fail, on its summary line (seen while folded)."""
    title = _REASON_TITLES.get(test.outcome)
    if title is None:
        return ""
    reason = test.reason or "no reason given"
    return f"<span class='reason {_e(test.outcome)}'><b>{title}:</b> {_e(reason)}</span>"


def _failure(test: RecordedTest) -> str:
    """The failure of a failed test, open; the failure an xfailed test expected, folded."""
    if not test.message or (test.outcome not in _FAILED and test.outcome != "xfailed"):
        return ""
    failing = test.outcome in _FAILED
    return (
        f"<details class='failure'{' open' if failing else ''}><summary>"
        f"{'Failure' if failing else 'The expected failure'}</summary>"
        f"<pre>{_e(clip(test.message, 6000, counted=True))}</pre></details>"
    )


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _merges(
    merges: list[tuple[int, Merge]], column_of: dict[int, int], columns: int, last_row: int
) -> tuple[str, int]:
    """Each identity merge: a dashed line down every lane at the start of its column (merges
    start a column), named ``from → into`` in the merges row; a merge PostHog refused is red,
    ``from ✕ into``, with its warning. Names of merges in near columns take turns in height,
    and the last column's is written left of its line; also returned: how many heights were
    used."""
    out: list[str] = []
    previous = -10
    level = 0
    levels = 1
    for n, merge in merges:
        column = column_of[n]
        level = level + 1 if column - previous < 3 and level < 2 else 0
        levels = max(levels, level + 1)
        previous = column
        refused = merge.refused
        title = (
            f"{merge.event.event} ({merge.event.source}) joins {merge.from_id} into "
            f"{merge.into_id}" + (f"; refused by PostHog: {refused}" if refused else "")
        )
        out.append(
            f"<div class='merge{' refused' if refused else ''}"
            f"{' end' if column == columns - 1 and columns > 1 else ''}' "
            f"style='grid-row:2/{last_row};grid-column:{column + 2}' title='{_e(title)}'>"
            f"<span class='merge-label' style='top:{2 + 15 * level}px'>"
            f"{_e(clip(merge.from_id, 14))} {'✕' if refused else '→'} "
            f"{_e(clip(merge.into_id, 14))}</span></div>"
        )
    return "".join(out), levels


def _event_data(
    event: CapturedEvent,
    label: str,
    marks: _Marks,
    duplicates: Sequence[Any],
) -> dict[str, Any]:
    """What the panel shows for an event: its facts, findings, its own properties, the person
    properties it sets (``$set_once``, ``$set``, ``$unset``, in PostHog's order) and the merge it
    asks for, each masked."""
    findings = marks.flagged.get(id(event), [])
    paths = [f.path for f in findings if f.kind == "pii" and f.path]
    notes = [str(f) for f in findings]
    notes += [f"duplicate #{n}: {duplicates[n - 1].text}" for n in marks.dup_of.get(id(event), [])]
    notes += [f"split person: {text}" for text in marks.split_of.get(id(event), [])]
    facts = {
        "event": event.event,
        "source": event.source,
        "distinct_id": event.distinct_id,
        "person": label,
        "timestamp": event.timestamp.isoformat(timespec="milliseconds"),
        "raw timestamp": event.raw_timestamp,
        "received": event.received_at.isoformat(timespec="milliseconds"),
        "uuid": event.uuid,
        "lib": event.lib,
        "transport": event.transport,
        "endpoint": event.endpoint,
        "project key": event.api_key,
    }
    props = redact(event.properties, paths=paths)
    person: dict[str, Any] = {}
    for key, tree in (("$set_once", event.set_once), ("$set", event.set)):
        if tree:
            inside = [p[len(key) + 1 :] for p in paths if p.startswith(key + ".")]
            person[key] = redact(tree, paths=inside)
            props.pop(key, None)
    unset = event.properties.get("$unset")
    if isinstance(unset, Mapping | list) and unset:
        person["$unset"] = [mask_secrets(str(k)) for k in unset]
        props.pop("$unset", None)
    data: dict[str, Any] = {
        "kind": "event",
        "facts": _masked(facts),
        "props": props,
        "person": person,
        "flagged": paths,
        "notes": [mask_secrets(n) for n in notes],
    }
    merge = marks.merge_of.get(id(event))
    if merge is not None:
        joined = f"{merge.from_id} → {merge.into_id}"
        data["merge"] = mask_secrets(
            f"refused by PostHog ({merge.refused}): {merge.from_id} ✕ {merge.into_id} stay two "
            "persons"
            if merge.refused
            else f"{joined}: one person from here on"
        )
        data["refused"] = merge.refused is not None
    return data


def _masked(facts: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: mask_secrets(value) if isinstance(value, str) else value
        for key, value in facts.items()
        if value not in (None, "")
    }


def _rejected_data(request: RejectedRequest) -> dict[str, Any]:
    try:
        preview = request.body[:2000].decode("utf-8")
    except UnicodeDecodeError:
        preview = f"({len(request.body)} bytes, not text: {request.body[:16].hex(' ')} …)"
    return {
        "kind": "rejected",
        "facts": _masked(
            {
                "reason": request.reason,
                "request": f"{request.method} {request.url}",
                "status": request.status,
                "transport": request.transport or "unknown",
                "received": request.received_at.isoformat(timespec="milliseconds"),
                "size": f"{len(request.body)} bytes",
            }
        ),
        "props": {"body": mask_secrets(preview)},
        "flagged": [],
        "notes": [],
    }


def _findings(
    test: RecordedTest,
    duplicates: Sequence[Any],
    index: dict[int, str],
    splits: Sequence[_Split] = (),
) -> str:
    groups: list[tuple[str, list[str]]] = []

    def link(event: CapturedEvent | None) -> str:
        key = index.get(id(event)) if event is not None else None
        return f" <a href='#' class='show' data-key='{key}'>show</a>" if key else ""

    if splits:
        groups.append(
            (
                "Split person",
                [
                    f"<code class='code'>split-person</code> {_e(split.text)}{link(split.event)}"
                    for split in splits
                ],
            )
        )

    for kind, title in _KIND_TITLES.items():
        mine = [f for f in test.findings if f.kind == kind]
        if mine:
            groups.append(
                (
                    title,
                    [
                        f"<code class='code'>{_e(f.code)}</code> {_e(f.message)}{link(f.event)}"
                        for f in mine
                    ],
                )
            )
    if duplicates:
        groups.append(
            (
                "Duplicates",
                [
                    f"<code class='code'>#{n}</code> {_e(d.text)}"
                    + (link(d.events[0]) if d.events else "")
                    for n, d in enumerate(duplicates, start=1)
                ],
            )
        )
    if test.rejected:
        groups.append(
            (
                "Rejected requests",
                [
                    f"<code class='code'>{r.status}</code> {_e(r.method)} {_e(r.url)}: "
                    f"{_e(r.reason)}"
                    for r in test.rejected
                ],
            )
        )
    if test.notes:
        groups.append(("SDK lifecycle", [_e(note) for note in test.notes]))
    if not groups:
        return ""
    body = "".join(
        f"<h3>{_e(title)} <span class='muted'>({len(lines)})</span></h3>"
        f"<ul>{''.join(f'<li>{line}</li>' for line in lines)}</ul>"
        for title, lines in groups
    )
    return f"<div class='findings'>{body}</div>"
