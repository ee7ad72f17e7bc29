"""``hybrid-analytics serve``: the loopback collector on its own, for clicking through an app by
hand or for a suite that is not Python.

It prints the URL to give posthog-js as ``api_host`` (and a backend SDK as ``host``), prints
each event as it arrives, serves a live page of the timeline at that URL, and with ``--jsonl``
writes every event to a JSON Lines file that :func:`~pytest_hybrid_analytics.load_jsonl`
loads back into an ``EventRecorder``. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.

.. code-block:: console

    $ hybrid-analytics serve --port 8010 --jsonl session.jsonl --flag new-checkout=test
    hybrid-analytics collector on http://127.0.0.1:8010
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.text import clock, format_value, plural
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.fake_api import Answer
from pytest_hybrid_analytics._reports.jsonl import event_to_json, write_jsonl
from pytest_hybrid_analytics._reports.templating import load_template
from pytest_hybrid_analytics._roads.collector import Collector, Route

__all__ = ["main"]

#: The live page's long poll: ``GET /_hybrid/events?after=<events>&rejected_after=<rejected>``.
_EVENTS_PATH = "/_hybrid/events"
#: The longest a long poll is held open before it answers with nothing new.
_POLL_SECONDS = 25.0
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}
#: The live page at ``/``: ``_reports/templates/serve.html`` with its style and script inline.
_PAGE = (
    load_template("serve.html", "css", "js")
    .render(css=load_template("serve.css").render(), js=load_template("serve.js").render())
    .encode()
)


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


def _page(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
    return Answer(200, {"Content-Type": "text/html; charset=utf-8"}, _PAGE)


def _no_icon(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
    return Answer(204)


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
        description="Record PostHog events from any app on 127.0.0.1, without PostHog.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the collector standalone",
        description="Run the fake PostHog API on 127.0.0.1: give its URL to posthog-js as "
        "api_host and to a backend SDK as host; events print here and on a live page.",
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
    return parser


def _banner(url: str, jsonl: str | None) -> str:
    lines = [
        f"hybrid-analytics collector on {url}",
        f"  posthog-js:     posthog.init('<project key>', {{ api_host: '{url}' }})",
        f"  posthog (py):   Posthog('<project key>', host='{url}')",
        f"  live timeline:  {url}/",
    ]
    if jsonl:
        lines.append(f"  JSON Lines:     {jsonl}")
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


def _wait_for_a_signal() -> int:
    """Block until SIGINT or SIGTERM (blocked in every thread, so this one receives it)."""
    return signal.sigwait({signal.SIGINT, signal.SIGTERM})


def _run(
    live: _Live,
    collector: Collector,
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
        print(_banner(collector.url, options.jsonl), file=out, flush=True)
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
    routes: dict[str, Route] = {
        "/": _page,
        _EVENTS_PATH: _events_route(live),
        "/favicon.ico": _no_icon,
    }
    try:
        collector = Collector(lambda path: live.api, routes=routes, port=options.port)
    except OSError as exc:
        print(
            f"hybrid-analytics: cannot listen on 127.0.0.1:{options.port}: {exc}", file=sys.stderr
        )
        return 2
    try:
        jsonl = open(options.jsonl, "w", encoding="utf-8") if options.jsonl else None  # noqa: SIM115
    except OSError as exc:
        collector.stop()
        print(f"hybrid-analytics: cannot write {options.jsonl}: {exc}", file=sys.stderr)
        return 2
    try:
        _run(live, collector, options, out, jsonl, wait)
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


def main(argv: Sequence[str] | None = None) -> int:
    """The ``hybrid-analytics`` console script.

    >>> main(["serve", "--port", "8010", "--jsonl", "session.jsonl"])   # until Ctrl-C
    0
    """
    options = _parser().parse_args(argv)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # inherited by threads
    try:
        return _serve(options, sys.stdout, _wait_for_a_signal)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
