"""A load generator: recorded SDK requests replayed over keep-alive HTTP/1.1 from several processes.

The requests are the real ones in ``tests/payloads`` (posthog-js gzip, base64 and JSON batches,
posthog-python and posthog-node batches, capture v1), mixed, each SDK's in turn. Every replay
carries fresh event uuids (the same bytes otherwise, re-compressed where the body was), so that
a server keeping one event per uuid, as PostHog and the collector do, keeps every one of them.

The worker processes start once and serve every run: each holds its share of the requests as
ready-to-send bytes, opens one connection, and on the go sends them one after another as fast
as the server answers, reconnecting only when the server closes the connection. Nothing here
knows which server it talks to: the same requests, connections and processes for all.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import multiprocessing
import socket
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from pytest_hybrid_analytics import parse_capture_request
from pytest_hybrid_analytics._model.ingest import capture_path
from pytest_hybrid_analytics._model.wire import decode_body_encoding, split_url

PAYLOADS = Path(__file__).resolve().parent.parent / "tests" / "payloads"

#: Headers a replay does not copy from the recording: the load generator sets its own.
_OWN = frozenset({"host", "content-length", "connection", "transfer-encoding", "expect"})


@dataclass(frozen=True)
class Replay:
    """One recorded ingestion request, ready to send again."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: The events it carries (as the collector decodes them).
    events: int
    #: Which recording it came from (``posthog-js-gzip``...).
    origin: str
    encoding: str


def recorded() -> list[Replay]:
    """Every recorded ingestion request the load generator replays (not lz64, posthog-js's
    encoding before 2023, which only a decoder exists for here)."""
    replays = []
    for path in sorted(PAYLOADS.glob("*.json")):
        for request in json.loads(path.read_text())["requests"]:
            if capture_path(split_url(request["path"])[0]) is None:
                continue  # /flags, remote config
            body = base64.b64decode(request["body_base64"])
            headers = request["headers"]
            _, encoding = decode_body_encoding(body, headers, split_url(request["path"])[1])
            if encoding == "lz64":
                continue
            events = parse_capture_request(request["path"], headers, body)
            replays.append(
                Replay(
                    request.get("method", "POST"),
                    request["path"],
                    tuple((k, v) for k, v in headers.items() if k.lower() not in _OWN),
                    body,
                    len(events),
                    path.stem,
                    encoding,
                )
            )
    return replays


def workload(total: int) -> list[Replay]:
    """``total`` requests: the recordings take turns (one request of each SDK scenario in
    turn, each scenario's requests in order), every event with a uuid of its own."""
    by_origin: dict[str, list[Replay]] = {}
    for replay in recorded():
        by_origin.setdefault(replay.origin, []).append(replay)
    turns = [list(replays) for replays in by_origin.values()]
    out: list[Replay] = []
    serial = 0
    round_ = 0
    while len(out) < total:
        for replays in turns:
            if len(out) == total:
                break
            template = replays[round_ % len(replays)]
            serial += 1
            out.append(_fresh(template, serial))
        round_ += 1
    return out


def _fresh(template: Replay, serial: int) -> Replay:
    """``template`` with every event uuid replaced by a new one of the same length."""
    events = parse_capture_request(template.path, dict(template.headers), template.body)
    swaps = {
        event.uuid: str(uuid.UUID(int=(serial << 16) + n))
        for n, event in enumerate(events)
        if event.uuid
    }

    def swap(text: bytes) -> bytes:
        for old, new in swaps.items():
            text = text.replace(old.encode(), new.encode())
        return text

    body = template.body
    if body[:2] == b"\x1f\x8b":
        body = gzip.compress(swap(gzip.decompress(body)), mtime=0)
    elif template.encoding == "base64":
        fields = parse_qsl(body.decode(), keep_blank_values=True)
        parts = []
        for name, value in fields:
            if name == "data":
                raw = base64.b64decode(value + "=" * (-len(value) % 4))
                value = base64.b64encode(swap(raw)).decode()
            parts.append(f"{name}={quote(value, safe='')}")
        body = "&".join(parts).encode()
    else:
        body = swap(body)
    again = parse_capture_request(template.path, dict(template.headers), body)
    assert [e.uuid for e in again] == [swaps.get(e.uuid or "", e.uuid) for e in events]
    return Replay(
        template.method,
        template.path,
        template.headers,
        body,
        template.events,
        template.origin,
        template.encoding,
    )


@dataclass(frozen=True)
class Result:
    """One run: from the first request sent to the last answer read, in all processes."""

    seconds: float
    requests: int
    events: int
    #: Answers other than 200, connections refused or cut, by what happened.
    errors: dict[str, int]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


class LoadGenerator:
    """``processes`` worker processes, each replaying its share of ``requests`` (dealt out in
    turn) over one keep-alive connection; started once, run against each server in turn.

    >>> with LoadGenerator(workload(4000), processes=3) as load:
    ...     result = load.run("127.0.0.1", port)
    """

    def __init__(self, requests: list[Replay], processes: int) -> None:
        self.requests = requests
        self.events = sum(r.events for r in requests)
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._go = context.Barrier(processes + 1)
        self._pipes: list[Connection] = []
        self._workers = []
        for n in range(processes):
            share = [_wire_parts(r) for r in requests[n::processes]]
            ours, theirs = context.Pipe()
            worker = context.Process(
                target=_work, args=(theirs, share, self._go), name=f"loadgen-{n}", daemon=True
            )
            worker.start()
            self._pipes.append(ours)
            self._workers.append(worker)

    def run(self, host: str, port: int) -> Result:
        """Send every request to ``host:port``; returns when the last answer has been read."""
        for pipe in self._pipes:
            pipe.send((host, port))
        for pipe in self._pipes:
            assert pipe.recv() == "ready"
        self._go.wait()
        reports = [pipe.recv() for pipe in self._pipes]
        errors: dict[str, int] = {}
        for report in reports:
            for what, count in report["errors"].items():
                errors[what] = errors.get(what, 0) + count
        return Result(
            max(r["end"] for r in reports) - min(r["start"] for r in reports),
            len(self.requests),
            self.events,
            errors,
        )

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for worker in self._workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wire_parts(replay: Replay) -> tuple[bytes, bytes]:
    """The request line and headers after ``Host`` (which depends on the server), and the
    body."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in replay.headers)
    head = f"{lines}Content-Length: {len(replay.body)}\r\n\r\n".encode("latin-1")
    return f"{replay.method} {replay.path} HTTP/1.1\r\n".encode() + b"\0" + head, replay.body


# -- the worker process -----------------------------------------------------------------------


def _work(pipe: Connection, share: list[tuple[bytes, bytes]], go: Any) -> None:
    while True:
        order = pipe.recv()
        if order is None:
            return
        host, port = order
        host_line = f"Host: {host}:{port}\r\n".encode()
        wire = []
        for head, body in share:
            line, rest = head.split(b"\0", 1)
            wire.append(line + host_line + rest + body)
        client = _Client(host, port)
        client.connect()
        pipe.send("ready")
        go.wait()
        start = time.perf_counter()
        for request in wire:
            client.exchange(request)
        end = time.perf_counter()
        client.close()
        pipe.send({"start": start, "end": end, "errors": client.errors})


class _Client:
    """One keep-alive connection: send a request, read its answer, again; reconnects when the
    server closes the connection (``Connection: close``, or it went away)."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.errors: dict[str, int] = {}

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer.clear()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def _fail(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1
        self.close()

    def exchange(self, request: bytes) -> None:
        if self.sock is None:
            try:
                self.connect()
            except OSError as exc:
                self._fail(f"connect: {type(exc).__name__}")
                return
        assert self.sock is not None
        try:
            self.sock.sendall(request)
            status, keep = self._answer()
        except (OSError, ValueError) as exc:
            self._fail(type(exc).__name__)
            return
        if status != 200:
            self.errors[f"HTTP {status}"] = self.errors.get(f"HTTP {status}", 0) + 1
        if not keep:
            self.close()

    def _fill(self) -> None:
        assert self.sock is not None
        piece = self.sock.recv(65536)
        if not piece:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += piece

    def _answer(self) -> tuple[int, bool]:
        """The status of the answer, and whether the connection stays open; its body read."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        version, status = head[0].split(" ", 2)[:2]
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        if fields.get("transfer-encoding", "").lower() == "chunked":
            self._chunked()
        elif "content-length" in fields:
            length = int(fields["content-length"])
            while len(self.buffer) < length:
                self._fill()
            del self.buffer[:length]
        else:  # the body runs to the end of the connection
            with contextlib.suppress(ConnectionResetError):
                while True:
                    self._fill()
            keep = False
        return int(status), keep

    def _chunked(self) -> None:
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                self._fill()
            size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
            del self.buffer[: end + 2]
            while len(self.buffer) < size + 2:
                self._fill()
            del self.buffer[: size + 2]
            if size == 0:
                return
