"""The loopback collector: the fake PostHog API over real HTTP on 127.0.0.1.

For what runs outside the test's process (an app server the suite started, posthog-node, a
browser's unload beacons): point its PostHog host at :attr:`Collector.url`. Each request is
handed to the fake PostHog API, which stores its events *before* the answer is written, so an
assertion right after the SDK's flush already sees them. Binds to loopback only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_hybrid_analytics.api import Answer, Endpoint
from pytest_hybrid_analytics.recorder import RejectedRequest

__all__ = ["MAX_REQUEST_BYTES", "Collector"]

#: The largest request body the collector reads; larger ones get 413 (PostHog's limit: 20 MB).
MAX_REQUEST_BYTES = 20 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, target: Callable[[str], Endpoint]) -> None:
        self.target = target
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request is not worth a traceback on stderr."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorder is the log."""

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _refuse(self, status: int, reason: str, body: bytes = b"") -> None:
        api = self.server.target(self.path)
        api.reject(
            RejectedRequest(
                self.command,
                self.path,
                dict(self.headers.items()),
                body,
                reason,
                "collector",
                status,
            )
        )
        self._answer(Answer.json(status, {"type": "invalid_request", "detail": reason}))
        self.close_connection = True

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(65537)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                size += length
                if size > MAX_REQUEST_BYTES:
                    self._refuse(413, f"the body is larger than {MAX_REQUEST_BYTES} bytes")
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._refuse(
                413, f"the body of {length} bytes is larger than the {MAX_REQUEST_BYTES}-byte limit"
            )
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("the client went away before sending the whole body")
        return body

    def _handle(self) -> None:
        try:
            body = self._body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if body is None:
            return
        api = self.server.target(self.path)
        answer = api.handle(
            self.command, self.path, dict(self.headers.items()), body, transport="collector"
        )
        with contextlib.suppress(OSError):
            self._answer(answer)

    do_GET = do_POST = do_OPTIONS = do_HEAD = do_PUT = do_DELETE = do_PATCH = _handle


class Collector:
    """A real HTTP server on ``127.0.0.1`` (an ephemeral port) speaking the PostHog API.

    ``target`` returns the fake PostHog API to hand a request for a path to.

    >>> with Collector(lambda path: analytics.api) as collector:
    ...     Posthog("phc_key", host=collector.url).capture("signed_up", distinct_id="u1")
    """

    def __init__(self, target: Callable[[str], Endpoint]) -> None:
        self._server = _Server(target)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give an SDK as its host (``http://127.0.0.1:<port>``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def netloc(self) -> str:
        """``127.0.0.1:<port>``."""
        return self.url.removeprefix("http://")

    def start(self) -> Collector:
        """Serve in a background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="hybrid-analytics-collector", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
