"""The ``hybrid-analytics`` command: ``serve`` runs the collector on its own, ``report`` merges
the records of several runs into one HTML report and one audit.

``hybrid-analytics serve [--bind HOST] [--port N] [--jsonl FILE] [--flag KEY[=VALUE]]
[--payload KEY=JSON] [--quiet]``: the collector on its own, for clicking through an app by hand
or for a suite that is not Python. It prints the URL to give posthog-js as ``api_host`` (and a
backend SDK as ``host``), prints each event as it arrives, serves a live page of the timeline at
that URL, and with ``--jsonl`` writes every event to a JSON Lines file that
:func:`~pytest_hybrid_analytics.load_jsonl` loads back into an ``EventRecorder``. Ctrl-C
(SIGINT) or SIGTERM stops it cleanly.

.. code-block:: console

    $ hybrid-analytics serve --port 8010 --jsonl session.jsonl --flag new-checkout=test
    hybrid-analytics collector on http://127.0.0.1:8010

It listens on 127.0.0.1 unless ``--bind HOST`` says otherwise (an app in a container or on
another machine). On an address that is not loopback, the URL carries a secret made for this
run as its first path segment: only requests under it are served and recorded; any other
gets 404 and is not recorded at all, not even as a rejected request, so only the stack given
the URL can write (and read the live page).

.. code-block:: console

    $ hybrid-analytics serve --bind 0.0.0.0 --port 8010
    hybrid-analytics collector on http://0.0.0.0:8010/pZ1qk2vQ9LrV8wXe3TgH0A
      posthog-js:     posthog.init('<project key>', { api_host: 'http://0.0.0.0:8010/pZ1q...' })
      ...
      only requests under this URL's secret are served and recorded; others get 404
      every interface: from elsewhere, use this machine's address or name in place of 0.0.0.0
    Ctrl-C to stop.

From a Docker container, the machine's name is ``host.docker.internal`` (Docker Desktop, or
``--add-host=host.docker.internal:host-gateway`` on Linux).

``hybrid-analytics report RUN.jsonl [RUN.jsonl ...] [--html OUT.html] [--audit]
[--tracking-plan PLAN.yaml]``: the records of any number of runs, each written by
``pytest --analytics-jsonl=RUN.jsonl`` (CI shards, say), as one run: one HTML report (what
``--analytics-report`` writes; by default ``analytics-report.html`` here) and, with
``--audit``, the guide's checklist judged from every test at once, printed (what
``--analytics-audit`` prints; the HTML report shows it either way). ``--tracking-plan`` names
the critical events as the run's plan did. Tests keep the order of the files and, in each,
the run's order; a test in two files (a shard run twice) is kept twice, and said so on
stderr. Exit status: 0, 1 when ``--audit`` is given and a line of the audit fails, 2 on a usage
error (a file that cannot be read or is not a run's records, named with its line; a bad plan).

.. code-block:: console

    $ hybrid-analytics report shard-1.jsonl shard-2.jsonl --html a.html --audit
    Analytics audit: the guide's Validation Checklist, judged from 4 tests and 5 events
      PASS          Client-side SDK loaded and initialized
    ...
    7 pass, 0 fail, 6 cannot judge.
    hybrid-analytics: 4 tests from 2 runs, 5 events (3 client, 2 server); report written to a.html
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import secrets
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from pytest_hybrid_analytics._checks.plan import TrackingPlan
from pytest_hybrid_analytics._checks.redaction import mask_secrets
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest, Source
from pytest_hybrid_analytics._model.text import clock, format_value, plural
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.client_notes import ClientNote
from pytest_hybrid_analytics._recording.fake_api import Answer, Endpoint
from pytest_hybrid_analytics._reports.audit import audit
from pytest_hybrid_analytics._reports.html import REPORT_NAME, render_html
from pytest_hybrid_analytics._reports.jsonl import event_to_json, write_jsonl
from pytest_hybrid_analytics._reports.records import RecordedTest, load_run_lines
from pytest_hybrid_analytics._reports.templating import load_template
from pytest_hybrid_analytics._roads.collector import Collector, Route

__all__ = ["main"]

#: The live page's long poll: ``GET /_hybrid/events?after=<events>&rejected_after=<rejected>``.
_EVENTS_PATH = "/_hybrid/events"
#: The longest a long poll is held open before it answers with nothing new.
_POLL_SECONDS = 25.0
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}
#: The address ``serve`` listens on unless ``--bind`` says otherwise.
_LOOPBACK = "127.0.0.1"
#: How many node ids a warning about tests found twice names.
_NAMED = 3


def _live_page(prefix: str = "") -> bytes:
    """The live page: ``_reports/templates/serve.html`` with its style and script inline;
    under ``prefix`` (``/<secret>``), its long poll and the URL it shows carry the prefix."""
    script = load_template("serve.js").render()
    if prefix:
        # The script asks for the site's root (its origin, an absolute path): under a secret,
        # both are the secret's. Each spot is counted, so a changed script fails loudly.
        spots = {"${location.origin}": 2, "`/_hybrid/events?": 1}
        for spot, count in spots.items():
            if script.count(spot) != count:
                raise RuntimeError(f"serve.js: expected {spot!r} {count} times")
        script = script.replace("${location.origin}", "${location.origin}" + prefix)
        script = script.replace("`/_hybrid/events?", f"`{prefix}/_hybrid/events?")
    css = load_template("serve.css").render()
    return load_template("serve.html", "css", "js").render(css=css, js=script).encode()


#: The live page at ``/``.
_PAGE = _live_page()


class _Live(Analytics):
    """The standalone session's one recorder. Whoever watches it live waits with
    :meth:`wait_until`, which every recorded event and rejected request wakes."""

    def __init__(self) -> None:
        super().__init__()
        #: Set when the collector stops: every long poll answers at once from then on.
        self.stopping = False

    def stop(self) -> None:
        """Answer every long poll now and from now on (the collector is stopping)."""
        self.stopping = True
        self.wake()

    def grew(self, events: int, rejected: int) -> bool:
        """Whether there are more than ``events`` events or ``rejected`` rejected requests."""
        return len(self) > events or len(self.rejected) > rejected


def _rejected_view(request: RejectedRequest) -> dict[str, Any]:
    return {
        "received_at": request.received_at.isoformat(),
        "method": request.method,
        "url": request.url,
        "status": request.status,
        "reason": request.reason,
        "transport": request.transport,
        "bytes": len(request.body),
    }


def _events_route(live: _Live) -> Route:
    def answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        query = parse_qs(urlsplit(path).query)
        try:
            after = max(int((query.get("after") or ["0"])[0]), 0)
            rejected_after = max(int((query.get("rejected_after") or ["0"])[0]), 0)
            wait = min(float((query.get("timeout") or [str(_POLL_SECONDS)])[0]), _POLL_SECONDS)
        except ValueError:
            return Answer.json(400, {"detail": "after, rejected_after and timeout are numbers"})
        live.wait_until(lambda: live.stopping or live.grew(after, rejected_after), max(wait, 0.0))
        events, rejected = live.events, live.rejected
        return Answer.json(
            200,
            {
                "events": [event_to_json(e) for e in events[after:]],
                "rejected": [_rejected_view(r) for r in rejected[rejected_after:]],
                "after": len(events),
                "rejected_after": len(rejected),
                "stopping": live.stopping,
            },
            {"Cache-Control": "no-store"},
        )

    return answer


def _page_route(page: bytes) -> Route:
    """The route that answers with the live ``page``."""

    def answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return Answer(200, {"Content-Type": "text/html; charset=utf-8"}, page)

    return answer


#: The live page's route on loopback (no secret).
_page = _page_route(_PAGE)


def _no_icon(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
    return Answer(204)


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is only ever reached from this machine: a
    loopback address, or a name every address of which is loopback.

    >>> _is_loopback("127.0.0.1"), _is_loopback("localhost"), _is_loopback("0.0.0.0")
    (True, True, False)
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in found)


class _NotFound:
    """What a request without the secret meets: 404, and nothing recorded."""

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        return Answer.json(404, {"type": "invalid_request", "detail": "not found"})

    def reject(self, request: RejectedRequest) -> None:
        """Dropped: only who has the secret may write, rejected requests included."""


class _Guard:
    """The secret as the first segment of every path: :meth:`routes` and :meth:`target` wrap
    ``serve``'s own, so the fake API and the pages see the path without it, and a request
    without it reaches neither (404, recorded nowhere).

    >>> guard = _Guard("s3cret")
    >>> guard.strip("/s3cret/batch/?v=2"), guard.strip("/batch/"), guard.strip("/s3cretx/")
    ('/batch/?v=2', None, None)
    """

    def __init__(self, secret: str) -> None:
        self.prefix = f"/{secret}"
        self._secret = secret.encode()
        self._refused = _NotFound()

    def strip(self, path: str) -> str | None:
        """``path`` (a path with its query, or a whole URL) without the secret, or ``None``
        when its first segment is not the secret."""
        parts = urlsplit(path)
        first, slash, rest = parts.path.removeprefix("/").partition("/")
        if not secrets.compare_digest(first.encode("utf-8", "replace"), self._secret):
            return None
        return ((slash + rest) or "/") + (f"?{parts.query}" if parts.query else "")

    def target(self, inner: Callable[[str], Endpoint]) -> Callable[[str], Endpoint]:
        """``inner`` for a path under the secret (the fake API sees it without), else the
        404 that records nothing."""

        def target(path: str) -> Endpoint:
            stripped = self.strip(path)
            return self._refused if stripped is None else _Stripped(inner(stripped), self)

        return target

    def routes(self, inner: Mapping[str, Route]) -> dict[str, Route]:
        """Each of ``inner``'s routes under the secret, and the secret alone sent on to
        ``/<secret>/`` (a page's relative links need the slash)."""

        def under(route: Route) -> Route:
            def answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
                return route(method, self.strip(path) or "/", headers, body)

            return answer

        def to_slash(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
            return Answer(308, {"Location": f"{self.prefix}/"})

        guarded = {f"{self.prefix}{path}": under(route) for path, route in inner.items()}
        guarded[self.prefix] = to_slash
        return guarded


@dataclasses.dataclass(frozen=True)
class _Stripped:
    """An endpoint that is handed each request's path without the secret."""

    api: Endpoint
    guard: _Guard

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        path = self.guard.strip(url) or "/"
        return self.api.handle(
            method, path, headers, body, source=source, transport=transport, gone=gone
        )

    def reject(self, request: RejectedRequest) -> None:
        self.api.reject(dataclasses.replace(request, url=self.guard.strip(request.url) or "/"))


def _clock(event: CapturedEvent | RejectedRequest) -> str:
    return clock(event.timestamp if isinstance(event, CapturedEvent) else event.received_at)


def _format_line(item: CapturedEvent | RejectedRequest) -> str:
    """One line of the terminal's live timeline.

    >>> _format_line(event)
    '12:00:01.250  server  order_paid  user-1  posthog-python  amount=12.5'
    """
    if isinstance(item, RejectedRequest):
        return f"{_clock(item)}  REJECTED  {item.method} {item.url} -> {item.status}: {item.reason}"
    shown = [f"{k}={format_value(v, 30)}" for k, v in item.properties.items() if k[:1] != "$"]
    shown = [s for s in shown if not s.startswith(("distinct_id=", "token="))][:4]
    parts = [
        _clock(item),
        item.source,
        item.event,
        item.distinct_id if item.distinct_id is not None else "<none>",
        item.lib or "?",
        *shown,
    ]
    return "  ".join(parts)


class _Watcher(threading.Thread):
    """Prints each new event and rejected request, and appends it to the JSON Lines file."""

    def __init__(self, live: _Live, out: IO[str], jsonl: IO[str] | None, quiet: bool) -> None:
        super().__init__(name="hybrid-analytics-watcher", daemon=True)
        self._live = live
        self._out = out
        self._jsonl = jsonl
        self._quiet = quiet
        self._done = False
        self._seen_events = self._seen_rejected = 0

    def finish(self) -> None:
        """Write what is left, then end."""
        self._done = True
        self._live.wake()
        self.join()

    def _emit(self, items: Sequence[CapturedEvent | RejectedRequest]) -> None:
        if self._jsonl is not None:
            write_jsonl(items, self._jsonl)
        if not self._quiet:
            with contextlib.suppress(OSError, ValueError):  # a closed terminal stops no one
                for item in items:
                    print(_format_line(item), file=self._out)
                self._out.flush()

    def _more(self) -> bool:
        return self._done or self._live.grew(self._seen_events, self._seen_rejected)

    def run(self) -> None:
        while True:
            self._live.wait_until(self._more)
            events, rejected = self._live.events, self._live.rejected
            fresh: list[CapturedEvent | RejectedRequest] = [
                *events[self._seen_events :],
                *rejected[self._seen_rejected :],
            ]
            self._seen_events, self._seen_rejected = len(events), len(rejected)
            if fresh:
                self._emit(fresh)
            elif self._done:
                return


def _flag(text: str) -> tuple[str, bool | str]:
    key, _, value = text.partition("=")
    key = key.strip()
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r}: a flag is KEY or KEY=VALUE")
    lowered = value.strip().lower()
    if not value or lowered in _TRUE:
        return key, True
    if lowered in _FALSE:
        return key, False
    return key, value.strip()


def _payload(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not key.strip() or not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: a payload is KEY=JSON")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the payload is not JSON") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybrid-analytics",
        description="Record PostHog events from any app without PostHog (serve), and merge "
        "the records of several pytest runs into one report (report).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the collector standalone",
        description="Run the fake PostHog API (on 127.0.0.1 unless --bind says otherwise): "
        "give its URL to posthog-js as api_host and to a backend SDK as host; events print "
        "here and on a live page.",
        epilog="example: hybrid-analytics serve --port 8010 --jsonl session.jsonl "
        "--flag new-checkout=test; for an app in a container: hybrid-analytics serve "
        "--bind 0.0.0.0 (then use the URL it prints, secret included)",
    )
    serve.add_argument(
        "--bind",
        metavar="HOST",
        default=_LOOPBACK,
        help="address to listen on (default: 127.0.0.1); on one that is not loopback (0.0.0.0: "
        "every interface) the URL carries a secret made for this run, and requests without it "
        "get 404 and are not recorded",
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    serve.add_argument(
        "--jsonl", metavar="FILE", help="also write every event to FILE as JSON Lines"
    )
    serve.add_argument(
        "--flag",
        type=_flag,
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="set a feature flag: on (KEY, KEY=true), off (KEY=false) or a variant "
        "(KEY=variant-b); repeatable",
    )
    serve.add_argument(
        "--payload",
        type=_payload,
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="the payload of flag KEY (set the flag with --flag); repeatable",
    )
    serve.add_argument(
        "--quiet", action="store_true", help="do not print events (the page still shows them)"
    )
    report = commands.add_parser(
        "report",
        help="merge the records of several runs into one HTML report and one audit",
        description="Merge the records of any number of pytest runs (each written by "
        "pytest --analytics-jsonl=RUN.jsonl, CI shards say) into one HTML report and, with "
        "--audit, one audit of the guide's checklist, as one run would have them. A test found "
        "in two files (a shard run twice) is kept twice and said so on stderr. Exit status: 0; "
        "1 when --audit is given and the audit fails; 2 on a usage error.",
        epilog="example: hybrid-analytics report shard-*.jsonl --html out/analytics.html "
        "--audit --tracking-plan tests/tracking-plan.yaml",
    )
    report.add_argument(
        "runs",
        nargs="+",
        metavar="RUN.jsonl",
        help="a run's records, as pytest --analytics-jsonl writes them; tests keep the "
        "order of the files",
    )
    report.add_argument(
        "--html",
        metavar="OUT.html",
        default=REPORT_NAME,
        help=f"where to write the HTML report (default: {REPORT_NAME}); its directory is made",
    )
    report.add_argument(
        "--audit",
        action="store_true",
        help="print the guide's checklist judged from every test of every file, and exit 1 "
        "when a line fails (the HTML report shows the audit either way)",
    )
    report.add_argument(
        "--tracking-plan",
        metavar="PLAN.yaml",
        help="the runs' tracking plan: its critical events are the audit's (default: judged "
        "from the events' names)",
    )
    return parser


def _banner(url: str, jsonl: str | None, bind: str = _LOOPBACK, guarded: bool = False) -> str:
    lines = [
        f"hybrid-analytics collector on {url}",
        f"  posthog-js:     posthog.init('<project key>', {{ api_host: '{url}' }})",
        f"  posthog (py):   Posthog('<project key>', host='{url}')",
        f"  live timeline:  {url}/",
    ]
    if jsonl:
        lines.append(f"  JSON Lines:     {jsonl}")
    if guarded:
        lines.append(
            "  only requests under this URL's secret are served and recorded; others get 404"
        )
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(bind).is_unspecified:
            lines.append(
                "  every interface: from elsewhere, use this machine's address or name in place "
                f"of {bind}"
            )
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


def _wait_for_a_signal() -> int:
    """Block until SIGINT or SIGTERM (blocked in every thread, so this one receives it)."""
    return signal.sigwait({signal.SIGINT, signal.SIGTERM})


def _run(
    live: _Live,
    collector: Collector,
    guard: _Guard | None,
    options: argparse.Namespace,
    out: IO[str],
    jsonl: IO[str] | None,
    wait: Callable[[], object],
) -> None:
    """Serve until ``wait()`` returns, then stop: long polls answered, the collector closed,
    every event printed and written."""
    watcher = _Watcher(live, out, jsonl, options.quiet)
    watcher.start()
    collector.start()
    try:
        url = collector.url + (guard.prefix if guard is not None else "")
        banner = _banner(url, options.jsonl, options.bind, guard is not None)
        print(banner, file=out, flush=True)
        wait()
    finally:
        live.stop()
        collector.stop()
        watcher.finish()


def _serve(options: argparse.Namespace, out: IO[str], wait: Callable[[], object]) -> int:
    live = _Live()
    payloads = dict(options.payload)
    for key, value in options.flag:
        live.flags.set(key, value, payload=payloads.pop(key, None))
    if payloads:
        print(
            f"hybrid-analytics: --payload for {', '.join(payloads)} without --flag", file=sys.stderr
        )
        return 2
    guard = None if _is_loopback(options.bind) else _Guard(secrets.token_urlsafe(16))
    routes: dict[str, Route] = {
        "/": _page if guard is None else _page_route(_live_page(guard.prefix)),
        _EVENTS_PATH: _events_route(live),
        "/favicon.ico": _no_icon,
    }

    def api(path: str) -> Endpoint:
        return live.api

    target: Callable[[str], Endpoint] = api
    if guard is not None:
        routes, target = guard.routes(routes), guard.target(api)
    try:
        collector = Collector(target, routes=routes, host=options.bind, port=options.port)
    except (OSError, OverflowError) as exc:
        where = f"[{options.bind}]" if ":" in options.bind else options.bind
        print(f"hybrid-analytics: cannot listen on {where}:{options.port}: {exc}", file=sys.stderr)
        return 2
    try:
        jsonl = open(options.jsonl, "w", encoding="utf-8") if options.jsonl else None  # noqa: SIM115
    except OSError as exc:
        collector.stop()
        print(f"hybrid-analytics: cannot write {options.jsonl}: {exc}", file=sys.stderr)
        return 2
    try:
        _run(live, collector, guard, options, out, jsonl, wait)
    finally:
        if jsonl is not None:
            jsonl.close()
    rejected = len(live.rejected)
    print(
        f"hybrid-analytics: stopped; {plural(len(live), 'event')}"
        + (f", {plural(rejected, 'rejected request')}" if rejected else "")
        + (f", written to {options.jsonl}" if options.jsonl else ""),
        file=out,
        flush=True,
    )
    return 0


def _read_run(path: str) -> tuple[list[RecordedTest], list[ClientNote]]:
    """One run's records; ``ValueError`` with the file (and the line) when they cannot be."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a run's records (not UTF-8 text)") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not text.strip():
        raise ValueError(f"{path}: empty: not a run's records (written by --analytics-jsonl)")
    return load_run_lines(text, source=path)


def _twice(runs: Sequence[tuple[str, Sequence[RecordedTest]]]) -> list[str]:
    """A warning for each pair of files that hold the same test, a test counted against the
    first file it is in (a file given twice, or a test twice in one file, is said so too)."""
    first: dict[str, int] = {}
    again: dict[tuple[int, int], list[str]] = {}
    for index, (_, tests) in enumerate(runs):
        for test in tests:
            if test.nodeid in first:
                again.setdefault((first[test.nodeid], index), []).append(test.nodeid)
            else:
                first[test.nodeid] = index
    lines = []
    for (a, b), nodeids in again.items():
        count = f"{plural(len(nodeids), 'test')} {'is' if len(nodeids) == 1 else 'are'}"
        one, other = runs[a][0], runs[b][0]
        where = (
            f"twice in {one}" if one == other else f"in both {one} and {other} (a shard run twice?)"
        )
        named = ", ".join(nodeids[:_NAMED]) + (
            f" and {len(nodeids) - _NAMED} more" if len(nodeids) > _NAMED else ""
        )
        lines.append(f"hybrid-analytics: {count} {where}: {named}; both records are kept")
    return lines


def _report(options: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Read every file (a usage error writes nothing), then write the HTML report and print
    the audit and a summary line, as the plugin does for one run's records."""
    try:
        plan = TrackingPlan.load(options.tracking_plan) if options.tracking_plan else None
        runs = [(path, *_read_run(path)) for path in options.runs]
    except ValueError as exc:  # PlanError too
        print(f"hybrid-analytics: {exc}", file=err)
        return 2
    for line in _twice([(path, tests) for path, tests, _ in runs]):
        print(line, file=err)
    tests = [test for _, run, _ in runs for test in run]
    notes = [note for _, _, run_notes in runs for note in run_notes]
    result = audit(tests, session_notes=notes, plan=plan)
    html = Path(options.html)
    try:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(tests, audit=result, session_notes=notes), encoding="utf-8")
    except OSError as exc:
        print(f"hybrid-analytics: cannot write {html}: {exc.strerror or exc}", file=err)
        return 2
    if options.audit:
        print(mask_secrets(result.render()), file=out)
    sides = Counter(event.source for test in tests for event in test.events)
    events = sum(sides.values())
    print(
        f"hybrid-analytics: {plural(len(tests), 'test')} from {plural(len(runs), 'run')}, "
        f"{plural(events, 'event')} ({sides['client']} client, {sides['server']} server); "
        f"report written to {html}",
        file=out,
    )
    return 1 if options.audit and result.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``hybrid-analytics`` console script.

    >>> main(["serve", "--port", "8010", "--jsonl", "session.jsonl"])   # until Ctrl-C
    0
    >>> main(["report", "shard-1.jsonl", "shard-2.jsonl", "--html", "out.html", "--audit"])
    0
    """
    options = _parser().parse_args(argv)
    if options.command == "report":
        return _report(options, sys.stdout, sys.stderr)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # inherited by threads
    try:
        return _serve(options, sys.stdout, _wait_for_a_signal)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


if __name__ == "__main__":  # python -m pytest_hybrid_analytics.cli, as the console script
    sys.exit(main())
