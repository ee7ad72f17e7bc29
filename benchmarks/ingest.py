"""Collector ingest against the machine: recorded SDK requests replayed by a load generator.

``PROCESSES`` worker processes (:mod:`benchmarks._loadgen`) replay ``REQUESTS`` recorded
ingestion requests (posthog-js gzip, base64 and JSON batches, posthog-python and posthog-node
batches, capture v1; mixed, every event with a uuid of its own) over one keep-alive HTTP/1.1
connection each, as fast as the server answers, to each server in turn, round after round, so
that noise on a busy machine hits all alike:

- the collector, with the fake PostHog API and a recorder: every request decoded and every event
  recorded before the answer (counted after the clock: none may be missing);
- pytest-httpserver, a plain endpoint that keeps each body (with its defaults, and threaded;
  werkzeug closes the connection after every answer, so its clients reconnect);
- the floor: a bare asyncio server that reads each request whole and answers 200, decoding
  nothing (:mod:`benchmarks._loadgen_floor`), the most this machine serves over loopback from
  one Python process;
- and, to say where the collector's time goes, its HTTP front-end alone (an endpoint that
  answers 200 without decoding).

Beside each rate: the CPU time the server's process spent a request (the load generator's
processes not counted).

Each figure is the best round of each server. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from benchmarks._loadgen import LoadGenerator, Result, workload
from benchmarks._loadgen_floor import FloorServer
from benchmarks._measure import Figure
from pytest_hybrid_analytics import Answer, EventRecorder, FakePostHog
from pytest_hybrid_analytics._roads.collector import Collector

REQUESTS = 4_000
PROCESSES = 3
ROUNDS = 3
#: Goals: the collector against pytest-httpserver, and against the floor.
OVER_HTTPSERVER = 2.0
OF_FLOOR = 0.5


@dataclass(frozen=True)
class _Run:
    result: Result
    #: What the server kept: events recorded (the collector) or requests answered / stored.
    kept: int
    #: CPU seconds this process (the server's threads) spent on the run.
    cpu: float
    rejected: int = 0


def _served(load: LoadGenerator, port: int) -> tuple[Result, float]:
    """The run, and the CPU time the server (this process) spent on it."""
    cpu = time.process_time()
    result = load.run("127.0.0.1", port)
    return result, time.process_time() - cpu


def _collector(load: LoadGenerator) -> _Run:
    recorder = EventRecorder()
    api = FakePostHog(recorder)
    with Collector(lambda path: api) as collector:
        result, cpu = _served(load, collector.port)
    return _Run(result, len(recorder), cpu, len(recorder.rejected) + len(recorder.retried))


class _Null:
    """An endpoint that answers 200 and decodes nothing: the collector's HTTP front-end alone,
    to say where the collector's time goes."""

    def handle(self, *args: object, **kwargs: object) -> Answer:
        return Answer(200, {"Content-Type": "application/json"}, b'{"status": 1}')

    def reject(self, request: object) -> None:
        """Nothing to keep."""


def _front_end(load: LoadGenerator) -> _Run:
    null = _Null()
    with Collector(lambda path: null) as collector:
        result, cpu = _served(load, collector.port)
    return _Run(result, result.requests, cpu)


def _httpserver(load: LoadGenerator, *, threaded: bool) -> _Run:
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

    bodies: list[bytes] = []

    def store(request: Request) -> Response:
        bodies.append(request.get_data())
        return Response('{"status": 1}', content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=threaded)
    server.expect_request(re.compile(".*"), method="POST").respond_with_handler(store)
    server.start()
    try:
        result, cpu = _served(load, server.port)
    finally:
        server.clear()
        server.stop()
    return _Run(result, len(bodies), cpu)


def _floor(load: LoadGenerator) -> _Run:
    with FloorServer() as floor:
        result, cpu = _served(load, floor.port)
    return _Run(result, floor.requests, cpu)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Without werkzeug's line per request on stderr."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _server(name: str, run: _Run, does: str, *, events: bool = True) -> Figure:
    """One server's throughput, with the events it carried and the CPU it spent a request."""
    result = run.result
    cpu = run.cpu / result.requests * 1e6
    carried = f"{result.events_per_second:,.0f} ev/s, " if events else ""
    return Figure(
        f"  {name}: {carried}CPU {cpu:.0f} µs/request",
        f"{result.requests_per_second:,.0f} req/s",
        f"({does})",
        True,
    )


def run(rounds: int = ROUNDS, requests: int = REQUESTS, processes: int = PROCESSES) -> list[Figure]:
    contenders: dict[str, Callable[[LoadGenerator], _Run]] = {
        "collector": _collector,
        "httpserver": lambda load: _httpserver(load, threaded=False),
        "httpserver threaded": lambda load: _httpserver(load, threaded=True),
        "floor": _floor,
        "front-end": _front_end,
    }
    runs: dict[str, list[_Run]] = {name: [] for name in contenders}
    sent = workload(requests)
    with LoadGenerator(sent, processes) as load, _quiet("werkzeug"):
        for _ in range(rounds):
            for name, once in contenders.items():
                runs[name].append(once(load))
    best = {name: min(done, key=lambda r: r.result.seconds) for name, done in runs.items()}
    events = sum(r.events for r in sent)
    ours = best["collector"].result.requests_per_second
    plain = min(best["httpserver"], best["httpserver threaded"], key=lambda r: r.result.seconds)
    over = ours / plain.result.requests_per_second
    share = ours / best["floor"].result.requests_per_second
    lost = max(events - run.kept for run in runs["collector"])
    errors = sum(sum(run.result.errors.values()) for done in runs.values() for run in done)
    kept = min(
        run.kept for name in ("httpserver", "httpserver threaded", "floor") for run in runs[name]
    )
    return [
        Figure(
            f"  load: {requests:,} recorded requests, {events:,} events, {processes} processes",
            f"best of {rounds}",
            "(the same for all)",
            True,
        ),
        _server("collector", best["collector"], "decodes, records"),
        _server("pytest-httpserver", best["httpserver"], "stores the bodies"),
        _server("pytest-httpserver threaded", best["httpserver threaded"], "stores the bodies"),
        _server("floor", best["floor"], "reads, answers 200"),
        _server("collector's HTTP front-end alone", best["front-end"], "no decoding", events=False),
        Figure(
            "collector / pytest-httpserver (its faster setting)",
            f"{over:.2f}x",
            f">= {OVER_HTTPSERVER:.1f}x",
            over >= OVER_HTTPSERVER,
        ),
        Figure("collector / floor", f"{share:.2f}x", f">= {OF_FLOOR:.1f}x", share >= OF_FLOOR),
        Figure(
            f"events lost by the collector ({rounds} runs of {events:,})",
            f"{lost} ({errors} HTTP errors)",
            "0",
            lost == 0 and errors == 0 and all(r.rejected == 0 for r in runs["collector"]),
        ),
        Figure(
            "  requests the other servers kept (fewest in a run)",
            f"{kept:,} of {requests:,}",
            "(all)",
            kept == requests,
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.row())
