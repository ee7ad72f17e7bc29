"""Collector ingest: 16 concurrent real ``posthog`` clients into the loopback collector, against
the same load into a plain pytest-httpserver endpoint that only stores the bodies.

The clients live in an app process, as they would in an app server (in this process they would
share the servers' GIL): 16 ``Posthog`` clients (threaded consumers, the SDK's defaults, no
retries) on 16 threads, each capturing the same events, until every client has shut down (its
queue flushed and answered). The collector decodes and records every event before it answers;
the baselines only keep the bytes. The servers take turns, round after round, so noise on a busy
machine hits all alike. Nothing leaves 127.0.0.1: the SDK really sends, to the URL it is given.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from benchmarks._measure import Figure
from pytest_hybrid_analytics import Answer, EventRecorder, FakePostHog
from pytest_hybrid_analytics._roads.collector import Collector

CLIENTS = 16
PER_CLIENT = 1_000
ROUNDS = 3

#: The app. For each host it reads: 16 clients on 16 threads, set up untimed, then timed from
#: the go until every client has shut down; it prints the seconds and the errors the SDK saw.
_APP = """
import json, sys, threading, time
from posthog import Posthog

clients, per_client = int(sys.argv[1]), int(sys.argv[2])
for line in sys.stdin:
    errors = []
    sdk = [
        Posthog(f"phc_bench_{n}", host=line.strip(), max_retries=0,
                max_queue_size=per_client + 1,
                on_error=lambda error, batch: errors.append(repr(error)))
        for n in range(clients)  # one project each: the SDK warns about clients sharing a key
    ]
    go = threading.Barrier(clients + 1)

    def send(n):
        go.wait()
        for i in range(per_client):
            sdk[n].capture("ingested", distinct_id=f"user-{n}",
                           properties={"n": i, "plan": "pro", "amount": 12.5})
        sdk[n].shutdown()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    go.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": time.perf_counter() - start, "errors": errors}), flush=True)
"""


class _App:
    """The app process, kept for every run (its imports are paid once)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _APP, str(CLIENTS), str(PER_CLIENT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send_to(self, host: str) -> tuple[float, int]:
        """Seconds until all 16 clients shut down, and how many errors they reported."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(host + "\n")
        stdin.flush()
        result = json.loads(stdout.readline())
        return float(result["seconds"]), len(result["errors"])

    def close(self) -> None:
        self._process.communicate(timeout=60)


#: One run: (seconds, events the server got, errors the clients saw).
_Run = tuple[float, int, int]


def _collector_run(app: _App) -> _Run:
    recorder = EventRecorder()
    api = FakePostHog(recorder)
    with Collector(lambda path: api) as collector:
        seconds, errors = app.send_to(collector.url)
    return seconds, len(recorder), errors


def _httpserver_run(app: _App, *, threaded: bool) -> _Run:
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

    bodies: list[bytes] = []

    def store(request: Request) -> Response:
        bodies.append(request.get_data())
        return Response('{"status": 1}', content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=threaded)
    server.expect_request("/batch/", method="POST").respond_with_handler(store)
    server.start()
    try:
        seconds, errors = app.send_to(server.url_for("").rstrip("/"))
    finally:
        server.clear()
        server.stop()
    received = sum(len(json.loads(body)["batch"]) for body in bodies)  # counted after the clock
    return seconds, received, errors


class _Null:
    """An endpoint that answers 200 and decodes nothing: the collector's HTTP front-end alone."""

    def handle(self, *args: object, **kwargs: object) -> Answer:
        return Answer(200, {"Content-Type": "application/json"}, b'{"status": 1}')

    def reject(self, request: object) -> None:
        """Nothing to keep."""


def _sdk_batch(size: int = 100) -> bytes:
    """A ``/batch/`` body as posthog-python 7 sends it."""
    properties = {
        "plan": "pro",
        "amount": 12.5,
        "$lib": "posthog-python",
        "$lib_version": "7.91.1",
        "$python_runtime": "CPython",
        "$python_version": "3.11.7",
        "$os": "Linux",
        "$geoip_disable": True,
        "$is_server": True,
    }
    events = [
        {
            "event": "ingested",
            "distinct_id": f"user-{n % 16}",
            "properties": {"n": n, **properties},
            "timestamp": "2026-03-01T12:00:00.000000+00:00",
            "uuid": f"00000000-0000-4000-8000-{n:012x}",
            "type": "capture",
            "library": "posthog-python",
            "library_version": "7.91.1",
        }
        for n in range(size)
    ]
    return json.dumps({"api_key": "phc_bench", "batch": events, "sentAt": "2026-03-01"}).encode()


def _per_request(port: int, body: bytes, count: int = 200) -> float:
    """Seconds per ``/batch/`` request, one keep-alive connection, one after another."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "User-Agent": "posthog-python/7.91.1"}
    try:
        start = time.perf_counter()
        for _ in range(count):
            connection.request("POST", "/batch/", body, headers)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
        return (time.perf_counter() - start) / count
    finally:
        connection.close()


def _front_end(rounds: int) -> list[Figure]:
    """Where the collector's time goes, server-bound: per request, with and without decoding."""
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

    body = _sdk_batch()
    bodies: list[bytes] = []

    def store(request: Request) -> Response:
        bodies.append(request.get_data())
        return Response('{"status": 1}', content_type="application/json")

    plain = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    plain.expect_request("/batch/", method="POST").respond_with_handler(store)
    plain.start()
    null = _Null()
    api = FakePostHog(EventRecorder())
    best = {"decoding": float("inf"), "front-end": float("inf"), "plain": float("inf")}
    try:
        with Collector(lambda path: api) as decoding, Collector(lambda path: null) as front:
            ports = {"decoding": decoding.port, "front-end": front.port, "plain": plain.port}
            for _ in range(rounds):
                for name, port in ports.items():
                    best[name] = min(best[name], _per_request(port, body))
    finally:
        plain.clear()
        plain.stop()
    ms = {name: seconds * 1e3 for name, seconds in best.items()}
    return [
        Figure(
            "  per 100-event request, one client: collector, its front-end alone, httpserver",
            f"{ms['decoding']:.2f} / {ms['front-end']:.2f} / {ms['plain']:.2f} ms",
            "(where the time goes)",
            True,
        )
    ]


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


def _best(runs: list[_Run]) -> _Run:
    """The fastest time, the fewest events received, all errors."""
    return (
        min(seconds for seconds, _, _ in runs),
        min(received for _, received, _ in runs),
        sum(errors for _, _, errors in runs),
    )


def run(rounds: int = ROUNDS) -> list[Figure]:
    sent = CLIENTS * PER_CLIENT
    contenders: dict[str, Callable[[_App], _Run]] = {
        "plain": lambda app: _httpserver_run(app, threaded=False),
        "threaded": lambda app: _httpserver_run(app, threaded=True),
        "collector": _collector_run,
    }
    runs: dict[str, list[_Run]] = {name: [] for name in contenders}
    app = _App()
    try:
        with _quiet("werkzeug"):
            for _ in range(rounds):
                for name, once in contenders.items():
                    runs[name].append(once(app))
    finally:
        app.close()
    ours, ours_least, ours_errors = _best(runs["collector"])
    figures = []
    for name, label in (
        ("plain", "pytest-httpserver, defaults"),
        ("threaded", "pytest-httpserver, threaded=True"),
    ):
        theirs, theirs_least, theirs_errors = _best(runs[name])
        ratio = theirs / ours
        figures.append(
            Figure(
                f"{CLIENTS} posthog clients -> collector vs {label}",
                f"{ratio:.2f}x",
                ">= 1.00x",
                ratio >= 1.0,
            )
        )
        figures.append(
            Figure(
                f"  events/s: collector {sent / ours:,.0f}, {label} {sent / theirs:,.0f}",
                f"lost {sent - theirs_least}",
                "(baseline)",
                theirs_least == sent and theirs_errors == 0,
            )
        )
    with _quiet("werkzeug"):
        figures += _front_end(rounds)
    lost = sent - ours_least
    figures.append(
        Figure(
            f"events lost by the collector ({rounds} runs of {sent:,})",
            f"{lost} ({ours_errors} errors)",
            "0",
            lost == 0 and ours_errors == 0,
        )
    )
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure.row())
