"""One self-contained HTML file for a run: each test's events on a client lane and a server lane.

Each event is a mark with its name, time and distinct id, coloured by person (as
:class:`~pytest_hybrid_analytics.Identity` resolves them); identity merges are drawn
between the lanes; duplicates and rejected requests are flagged; a click on a mark shows the
event's properties. Failing tests come first, each with its PII findings, plan violations,
diagnostics and SDK notes. The file needs no network: its CSS and JavaScript are inline, a
Content-Security-Policy forbids any fetch, and every text and property goes through
:func:`~pytest_hybrid_analytics.redact` / :func:`~pytest_hybrid_analytics.mask_secrets`.

The page, its CSS and its JavaScript are package files in ``_reports/templates/``
(``report.html``, ``report.css``, ``report.js``), read once at import by :func:`load_template`.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_hybrid_analytics._checks.assertions import find_duplicates
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import mask_secrets, redact
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity
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

_COL = 184  # px per column
_MARK_W = 168
_LABEL_W = 84
_AXIS_H = 26
_LANE_H = 70
_REJECTED_H = 66
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
    """One column of a timeline: an event, or a rejected request."""

    moment: datetime
    event: CapturedEvent | None = None
    rejected: RejectedRequest | None = None


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
    when = (generated or datetime.now(UTC)).astimezone(UTC)
    events = sum(len(t.events) for t in tests)
    sides = Counter(e.source for t in tests for e in t.events)
    failed = sum(t.outcome in _FAILED for t in tests)
    findings = sum(len(t.findings) for t in tests)
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
        f"<li><a href='#t{n}'>{_badge(t.outcome)} <code>{_e(t.nodeid)}</code></a>"
        f"<span class='muted'>{plural(len(t.events), 'event')}"
        + (f" · {plural(len(t.findings), 'finding')}" if t.findings else "")
        + "</span></li>"
        for n, t in enumerate(ordered)
    )
    sections = "\n".join(_section(n, test) for n, test in enumerate(ordered))
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


def _section(number: int, test: RecordedTest) -> str:
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
    index: dict[int, str] = {}
    data: dict[str, Any] = {}
    marks: list[str] = []
    gaps: list[str] = []
    rejected_lane = any(item.rejected is not None for item in items)
    lane_y = {"client": _AXIS_H, "server": _AXIS_H + _LANE_H, "rejected": _AXIS_H + 2 * _LANE_H}
    for column, item in enumerate(items):
        x = _LABEL_W + column * _COL + (_COL - _MARK_W) // 2
        if column:
            gap = item.moment - items[column - 1].moment
            if gap >= timedelta(seconds=1):
                gaps.append(
                    f"<span class='gap' style='left:{_LABEL_W + column * _COL}px'>"
                    f"+{duration(gap)}</span>"
                )
        key = f"{anchor}-{column}"
        if item.event is not None:
            event = item.event
            index[id(event)] = key
            label = who.label(event.distinct_id)
            colour = colours.get(label, "#8c959f")
            classes = ["mark", event.source]
            badges = []
            if id(event) in dup_of:
                classes.append("dup")
                badges.append(
                    "<i class='flag dup' title='duplicate "
                    + ", ".join(f"#{n}" for n in dup_of[id(event)])
                    + "'>dup</i>"
                )
            if id(event) in flagged:
                classes.append("flagged")
                kinds = sorted({f.kind for f in flagged[id(event)]})
                badges.append(f"<i class='flag warn' title='{_e(', '.join(kinds))}'>!</i>")
            distinct = event.distinct_id if event.distinct_id is not None else "<none>"
            marks.append(
                f"<button type='button' class='{' '.join(classes)}' data-key='{key}' "
                f"style='left:{x}px;top:{lane_y[event.source] + 6}px;--pc:{colour}' "
                f"title='{_e(event.event)} · {_e(distinct)} · {label}'>"
                f"<span class='name'>{_e(event.event)}</span>"
                f"<span class='time'>{clock(event.timestamp)}</span>"
                f"<span class='who'><b>{label}</b> {_e(distinct)}</span>{''.join(badges)}"
                "</button>"
            )
            data[key] = _event_data(event, label, flagged.get(id(event), []), dup_of, duplicates)
        elif item.rejected is not None:
            request = item.rejected
            marks.append(
                f"<button type='button' class='mark rejected' data-key='{key}' "
                f"style='left:{x}px;top:{lane_y['rejected'] + 6}px' "
                f"title='rejected: {_e(request.reason)}'>"
                f"<span class='name'>✖ rejected {request.status}</span>"
                f"<span class='time'>{clock(request.received_at)}</span>"
                f"<span class='who'>{_e(request.method)} {_e(_path(request.url))}</span></button>"
            )
            data[key] = _rejected_data(request)

    width = _LABEL_W + max(len(items), 1) * _COL + 16
    height = _AXIS_H + 2 * _LANE_H + (_REJECTED_H if rejected_lane else 0)
    links = _merges(who, index, items, lane_y)
    lanes = (
        f"<div class='lane client' style='top:{lane_y['client']}px;height:{_LANE_H}px'>"
        "<span>client</span></div>"
        f"<div class='lane server' style='top:{lane_y['server']}px;height:{_LANE_H}px'>"
        "<span>server</span></div>"
        + (
            f"<div class='lane rejected' style='top:{lane_y['rejected']}px;"
            f"height:{_REJECTED_H}px'><span>rejected</span></div>"
            if rejected_lane
            else ""
        )
    )
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
    counts = Counter(e.source for e in test.events)
    facts = [
        f"{counts['client']} client",
        f"{counts['server']} server",
        f"{plural(len(persons), 'person')}",
    ]
    if duplicates:
        facts.append(f"<b class='bad'>{plural(len(duplicates), 'duplicate')}</b>")
    if test.rejected:
        facts.append(f"<b class='bad'>{len(test.rejected)} rejected</b>")
    if test.findings:
        facts.append(f"<b class='warn'>{plural(len(test.findings), 'finding')}</b>")
    timeline = (
        f"<div class='scroller'><div class='track' style='width:{width}px;height:{height}px'>"
        f"{lanes}<svg class='links' width='{width}' height='{height}' aria-hidden='true'>"
        f"{links}</svg>{''.join(gaps)}{''.join(marks)}</div></div>"
        if items
        else "<p class='muted empty'>No PostHog event reached the recorder in this test.</p>"
    )
    failure = _failure(test)
    return (
        f"<section class='test card {_e(test.outcome)}' id='{anchor}'>"
        f"<details{' open' if test.outcome in _FAILED or number == 0 else ''}>"
        f"<summary>{_badge(test.outcome)} <code class='nodeid'>{_e(test.nodeid)}</code>"
        f"<span class='facts'>{' · '.join(facts)}</span>{_reason(test)}</summary>"
        f"{failure}<div class='people'>{people}</div>{timeline}{more}"
        f"<div class='panel' data-for='{anchor}'><p class='muted'>Click an event to see its "
        "properties.</p></div>"
        f"{_findings(test, duplicates, index)}"
        f"<script type='application/json' class='data' data-for='{anchor}'>"
        f"{json_for_html(data)}</script>"
        "</details></section>"
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
    who: Identity, index: dict[int, str], items: list[_Item], lane_y: dict[str, int]
) -> str:
    """SVG for each identity merge: a band across the lanes at the merge event, and a curve
    to the nearest event of the other lane that the merge made the same person. A merge
    PostHog refused is a dashed red band named by its warning, with no curve."""
    column_of = {key: int(key.rsplit("-", 1)[1]) for key in index.values()}
    out: list[str] = []
    for merge in who.requested:
        key = index.get(id(merge.event))
        if key is None:
            continue
        column = column_of[key]
        x = _LABEL_W + column * _COL + _COL // 2
        top, bottom = 4, lane_y["server"] + _LANE_H - 2
        refused = f" refused: {merge.refused}" if merge.refused else ""
        out.append(
            f"<line class='merge{' refused' if refused else ''}' x1='{x}' y1='{top}' x2='{x}' "
            f"y2='{bottom}'/>"
            f"<text class='merge-label' x='{x + 5}' y='{top + 13}'>"
            f"{_e(clip(merge.from_id, 14))} {'✕' if refused else '→'} "
            f"{_e(clip(merge.into_id, 14))}</text>"
        )
        if refused:
            continue
        other = "server" if merge.event.source == "client" else "client"
        ids = {merge.from_id, merge.into_id}
        target = next(
            (
                n
                for n, item in sorted(enumerate(items), key=lambda pair: abs(pair[0] - column))
                if item.event is not None
                and item.event.source == other
                and item.event.distinct_id in ids
            ),
            None,
        )
        if target is not None:
            tx = _LABEL_W + target * _COL + _COL // 2
            y1 = lane_y[merge.event.source] + _LANE_H // 2
            y2 = lane_y[other] + _LANE_H // 2
            mid = (y1 + y2) // 2
            out.append(f"<path class='merge-link' d='M{x},{y1} C{x},{mid} {tx},{mid} {tx},{y2}'/>")
    return "".join(out)


def _event_data(
    event: CapturedEvent,
    label: str,
    findings: list[Finding],
    dup_of: dict[int, list[int]],
    duplicates: Sequence[Any],
) -> dict[str, Any]:
    paths = [f.path for f in findings if f.kind == "pii" and f.path]
    notes = [str(f) for f in findings]
    notes += [f"duplicate #{n}: {duplicates[n - 1].text}" for n in dup_of.get(id(event), [])]
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
    data: dict[str, Any] = {
        "kind": "event",
        "facts": _masked(facts),
        "props": redact(event.properties, paths=paths),
        "flagged": paths,
        "notes": [mask_secrets(n) for n in notes],
    }
    for key, tree in (("$set", event.set), ("$set_once", event.set_once)):
        if tree and key not in event.properties:
            inside = [p[len(key) + 1 :] for p in paths if p.startswith(key + ".")]
            data["props"][key] = redact(tree, paths=inside)
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


def _findings(test: RecordedTest, duplicates: Sequence[Any], index: dict[int, str]) -> str:
    groups: list[tuple[str, list[str]]] = []

    def link(event: CapturedEvent | None) -> str:
        key = index.get(id(event)) if event is not None else None
        return f" <a href='#' class='show' data-key='{key}'>show</a>" if key else ""

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
