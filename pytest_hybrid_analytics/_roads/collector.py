"""The loopback collector: the fake PostHog API over real HTTP on 127.0.0.1 (or another host).

For what runs outside the test's process (an app server the suite started, posthog-node, a
browser's unload beacons): point its PostHog host at :attr:`Collector.url`. Each request is
handed to the fake PostHog API, which stores its events *before* the answer is written, so an
assertion right after the SDK's flush already sees them. Binds to loopback unless given
another ``host``.

Whatever a client sends, the collector answers and goes on serving the others: a malformed
request line or header, a bad ``Content-Length`` or chunk size, a body over the limit (413), a
body that does not arrive in time (408), a client that goes away mid-body, or a failure inside
the fake API (500) each becomes a rejected request with a reason on the current recorder.
"""

from __future__ import annotations

import contextlib
import email.parser
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_hybrid_analytics._model.events import RejectedRequest, Source
from pytest_hybrid_analytics._model.wire import header, split_url
from pytest_hybrid_analytics._recording.fake_api import Answer, Endpoint

__all__ = ["BODY_TIMEOUT", "MAX_REQUEST_BYTES", "Collector", "Route", "side_of"]

#: The largest request body the collector reads; larger ones get 413 (PostHog's limit: 20 MB).
MAX_REQUEST_BYTES = 20 * 1024 * 1024
#: Seconds a request's whole body may take to arrive; a slower one gets 408.
BODY_TIMEOUT = 30.0
#: A handler for an extra path: ``(method, path with query, headers, body) -> Answer``.
Route = Callable[[str, str, Mapping[str, str], bytes], Answer]

#: How much of a refused request is read and dropped, so the client can read the refusal.
_DRAIN_BYTES = 64 * 1024 * 1024
#: How long a refused request may pause before the collector stops reading it and hangs up.
_DRAIN_IDLE = 1.0
#: How much later than its deadline a body's read may give up, rather than set the socket's
#: timeout again.
_SLACK = 0.01
#: The most trailer lines after a chunked body.
_MAX_TRAILERS = 100
_HEX = re.compile(rb"[0-9a-fA-F]{1,15}")
#: A header line as nearly every client writes it: a name (the characters the email parser
#: takes for one), a colon, the value, CRLF or LF. Any other line (folded, a bare CR, no name,
#: a ``From `` line...) sends the whole header block through the email parser, as http.server
#: does.
_PLAIN_HEADER = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r?\n")
#: http.client's limits on a request's header block.
_MAX_LINE = 65536
_MAX_HEADERS = 100


def _parse_headers(rfile: Any) -> tuple[http.client.HTTPMessage, list[tuple[str, str]]]:
    """The request's header block, as ``http.client.parse_headers`` reads it (the same limits,
    errors, names, values and order), without the email parser for plain lines: it costs more
    than the rest of a request. Also its ``items()``, read once."""
    lines = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = http.client.HTTPMessage()
    pairs = []
    match = _PLAIN_HEADER.fullmatch
    for line in lines[:-1]:
        plain = match(line.decode("iso-8859-1"))
        if plain is None:
            text = b"".join(lines).decode("iso-8859-1")
            parsed: http.client.HTTPMessage = email.parser.Parser(
                _class=http.client.HTTPMessage
            ).parsestr(text)
            return parsed, [(name, str(value)) for name, value in parsed.items()]
        name, value = plain.groups()
        message.set_raw(name, value)
        # Decoded from ISO-8859-1, a value has no surrogates: items() would give it unchanged.
        pairs.append((name, value))
    return message, pairs


_dates: tuple[int, str] = (0, "")


def _date() -> str:
    """The ``Date`` header http.server writes, made once a second."""
    global _dates
    now = time.time()
    second, text = _dates
    if int(now) != second:
        text = formatdate(now, usegmt=True)
        _dates = (int(now), text)
    return text


def side_of(headers: Mapping[str, str]) -> Source | None:
    """``"client"`` for a request a browser sent, else ``None`` (the events' own ``$lib`` and
    ``$is_server`` then say the side).

    Decided by the request, not its body: only browsers send the Fetch Metadata headers
    ``Sec-Fetch-Site`` and ``Sec-Fetch-Dest`` (to the loopback collector too, a trustworthy
    origin), and every browser's ``User-Agent`` starts with ``Mozilla/``; server SDKs name
    themselves there (``posthog-python/...``, ``posthog-node/...``) and hand-rolled senders
    their HTTP library (``python-requests/...``, ``node``). ``Sec-Fetch-Mode`` alone proves
    nothing: Node's ``fetch`` sends it. So a page using the collector as its ``api_host`` has its
    events marked ``client`` even when they carry no ``$lib`` (a page's hand-rolled ``fetch``),
    and a backend's never are.

    >>> side_of({"User-Agent": "posthog-python/7.91.1"}), side_of({"Sec-Fetch-Site": "cross-site"})
    (None, 'client')
    """
    if header(headers, "Sec-Fetch-Site") or header(headers, "Sec-Fetch-Dest"):
        return "client"
    return "client" if header(headers, "User-Agent").startswith("Mozilla/") else None


class _Refused(Exception):
    """A request the collector refuses before the fake API sees it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        target: Callable[[str], Endpoint],
        routes: Mapping[str, Route],
        host: str,
        port: int,
        max_body: int,
        body_timeout: float,
        keep_alive: Callable[[], bool],
    ) -> None:
        self.target = target
        self.routes = dict(routes)
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.keep_alive = keep_alive
        #: Connections waiting for their next request (keep-alive, idle).
        self.idle: set[socket.socket] = set()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._stopping = False
        if ":" in host:  # an IPv6 address
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def serve(self) -> None:
        """Accept connections until :meth:`stop_serving`; each is handled in its own thread.

        A blocking ``accept`` that ``stop_serving`` interrupts, rather than ``serve_forever``'s
        half-second poll, so stopping takes no time."""
        while True:
            try:
                request, address = self.get_request()
            except OSError:
                if self._stopping:
                    return
                continue
            if self._stopping:
                request.close()
                return
            try:
                self.process_request(request, address)
            except Exception:  # noqa: BLE001 - e.g. no thread to spare: drop this one client
                self.shutdown_request(request)

    def stop_serving(self) -> None:
        """Make :meth:`serve` return at once."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_idle(self) -> None:
        """End every keep-alive connection waiting for its next request."""
        with self._open_lock:
            idle = list(self.idle)
        for sock in idle:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def hang_up_all(self) -> None:
        """End every connection still open (slow or idle clients), so their threads finish."""
        with self._open_lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request is not worth a traceback on stderr."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    #: Seconds an idle keep-alive connection, or a request line or header, may take.
    timeout = 30
    #: Answers go out as soon as they are written (no 40 ms Nagle wait on keep-alive).
    disable_nagle_algorithm = True
    #: The request line as read (set by ``handle_one_request``).
    raw_requestline: bytes
    #: The request's headers in order, and the first value of each by lower-case name (what
    #: ``headers.get`` answers), read once by ``parse_request``.
    _pairs: list[tuple[str, str]]
    _first: dict[str, str]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorder is the log."""

    # -- answering -------------------------------------------------------------------------

    def _answer(self, answer: Answer, *, close: bool = False) -> None:
        """What ``send_response``, ``send_header`` and ``end_headers`` write (status line,
        ``Server``, ``Date``, the headers), in one write with the body: one system call, not
        two."""
        lines = []
        for name, value in answer.headers.items():
            lines.append(f"{name}: {value}\r\n")
            if name.lower() == "connection":  # as send_header
                if value.lower() == "close":
                    self.close_connection = True
                elif value.lower() == "keep-alive":
                    self.close_connection = False
        lines.append(f"Content-Length: {len(answer.body)}\r\n")
        if close or not self.server.keep_alive():
            lines.append("Connection: close\r\n")
            self.close_connection = True
        if self.request_version == "HTTP/0.9":
            head = b""  # no status line, no headers
        else:
            status = answer.status
            phrase = self.responses[status][0] if status in self.responses else ""
            head = (
                f"{self.protocol_version} {status} {phrase}\r\n"
                f"Server: {self.version_string()}\r\nDate: {_date()}\r\n"
                f"{''.join(lines)}\r\n"
            ).encode("latin-1", "strict")
        self.wfile.write(head if self.command == "HEAD" else head + answer.body)

    def _api(self, path: str) -> Endpoint | None:
        try:
            return self.server.target(path)
        except Exception:  # noqa: BLE001 - a failing target must not take the collector down
            return None

    def _refuse(self, status: int, reason: str, body: bytes = b"") -> None:
        """Keep the request as rejected on the current recorder, answer ``status``, hang up."""
        path = (getattr(self, "path", "") if self.command else "") or "/"
        command = self.command or "?"
        headers = getattr(self, "headers", None)
        sent = {k: str(v) for k, v in headers.items()} if headers is not None else {}
        api = self._api(path)
        if api is not None:
            with contextlib.suppress(Exception):  # the refusal is answered whatever happens
                api.reject(RejectedRequest(command, path, sent, body, reason, "collector", status))
        # A page's posthog-js gets to read the refusal too (not a bare CORS error).
        cors = {"Access-Control-Allow-Origin": sent.get("Origin") or sent.get("origin") or "*"}
        with contextlib.suppress(OSError):
            self._answer(
                Answer.json(status, {"type": "invalid_request", "detail": reason}, cors),
                close=True,
            )
        self._linger()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request line or header ``http.server`` could not parse: rejected, answered."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = str(code)
        self._refuse(code, f"malformed HTTP request: {message or phrase}")

    def handle_one_request(self) -> None:
        """One request of the connection; idle (closable by ``close_idle``) until its request
        line arrives."""
        with self.server._open_lock:
            self.server.idle.add(self.connection)
        try:
            super().handle_one_request()
        finally:
            with self.server._open_lock:
                self.server.idle.discard(self.connection)

    def parse_request(self) -> bool:
        """Parse the request line and headers, forgetting the previous request's first.

        http.server's own ``parse_request`` (Python 3.11), step for step and word for word,
        but for the header block, read by :func:`_parse_headers`."""
        with self.server._open_lock:
            self.server.idle.discard(self.connection)
        self.__dict__.pop("path", None)
        self.__dict__.pop("headers", None)
        self.command = None  # type: ignore[assignment]  # set in case of error on the first line
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) == 0:
            return False
        if len(words) >= 3:  # enough to determine the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                components = base_version_number.split(".")
                if len(components) != 2:
                    raise ValueError
                if any(not component.isdigit() for component in components):
                    raise ValueError("non digit in http version")
                if any(len(component) > 10 for component in components):
                    raise ValueError("unreasonable length http version")
                version_number = int(components[0]), int(components[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(
                    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                    f"Invalid HTTP version ({base_version_number})",
                )
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # gh-87389: no open redirect through '//host'
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers, self._pairs = _parse_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err)
            )
            return False
        first: dict[str, str] = {}
        for name, value in self._pairs:
            first.setdefault(name.lower(), value)
        self._first = first
        conntype = first.get("connection", "")
        if conntype.lower() == "close":
            self.close_connection = True
        elif conntype.lower() == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = first.get("expect", "")
        if (
            expect.lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        """Refuse a body over the limit before the client sends it."""
        try:
            declared = self._content_length()
        except _Refused as refused:
            self._refuse(refused.status, refused.reason)
            return False
        if declared is not None and declared > self.server.max_body:
            self._refuse(413, self._too_large(declared))
            return False
        return super().handle_expect_100()

    # -- reading the body ------------------------------------------------------------------

    def _too_large(self, size: int | None = None) -> str:
        limit = self.server.max_body
        if size is None:
            return f"the body is larger than the {limit}-byte limit"
        return f"the body of {size} bytes is larger than the {limit}-byte limit"

    def _content_length(self) -> int | None:
        raw = self._first.get("content-length")
        if raw is None:
            return None
        text = str(raw).strip()
        if not text.isdigit() or not text.isascii():
            raise _Refused(400, f"Content-Length {text[:40]!r} is not a byte count")
        return int(text)

    def _read(self, size: int, deadline: float) -> bytes:
        """Exactly ``size`` bytes of the body, read as they come, within the deadline."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            self._until(deadline)
            piece = self.rfile.read1(min(size - got, 1 << 20))
            if not piece:
                raise ConnectionError
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def _until(self, deadline: float) -> None:
        """Bound the next read by ``deadline`` (``TimeoutError`` once it has passed).

        The socket's timeout is left as it is when it already ends the read at the deadline,
        give or take ``_SLACK`` (as it does by default: a body's deadline is the connection's
        own timeout): setting it is a system call that gives up the GIL, twice a request."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        current = self.connection.gettimeout()
        if current is None or not remaining <= current <= remaining + _SLACK:
            self.connection.settimeout(remaining)

    def _line(self, deadline: float, what: str) -> bytes:
        self._until(deadline)
        line = self.rfile.readline(65537)
        if not line:
            raise ConnectionError
        if len(line) > 65536 or not line.endswith(b"\n"):
            raise _Refused(400, f"malformed chunked body: the {what} line is too long")
        return line

    def _chunked(self, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self._line(deadline, "chunk size")
            digits = line.split(b";")[0].strip()
            if not _HEX.fullmatch(digits):
                shown = digits[:20].decode("latin-1")
                raise _Refused(400, f"malformed chunked body: chunk size {shown!r} is not hex")
            length = int(digits, 16)
            if length == 0:
                for _ in range(_MAX_TRAILERS):
                    if self._line(deadline, "trailer") in (b"\r\n", b"\n"):
                        return b"".join(chunks)
                raise _Refused(400, "malformed chunked body: too many trailer lines")
            size += length
            if size > self.server.max_body:
                raise _Refused(413, self._too_large())
            chunks.append(self._read(length, deadline))
            if self._read(2, deadline) != b"\r\n":
                raise _Refused(400, "malformed chunked body: a chunk does not end with CRLF")

    def _body(self) -> bytes:
        try:
            return self._receive(time.monotonic() + self.server.body_timeout)
        finally:
            if self.connection.gettimeout() != self.timeout:
                with contextlib.suppress(OSError):
                    self.connection.settimeout(self.timeout)

    def _receive(self, deadline: float) -> bytes:
        coding = self._first.get("transfer-encoding")
        if coding is not None:
            codings = [c.strip().lower() for c in str(coding).split(",")]
            if codings != ["chunked"]:
                raise _Refused(501, f"Transfer-Encoding {str(coding)[:40]!r} is not supported")
            return self._chunked(deadline)
        length = self._content_length() or 0
        if length > self.server.max_body:
            raise _Refused(413, self._too_large(length))
        return self._read(length, deadline) if length else b""

    def _gone(self) -> bool:
        """Whether the client hung up (asked after a held answer: a client whose own timeout
        ran out closes its connection)."""
        # A socket with a timeout waits to be readable before any recv, MSG_DONTWAIT or not:
        # the peek must not wait, or a held answer would last until the client gave up.
        timeout = self.connection.gettimeout()
        self.connection.settimeout(0)
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False  # still connected, nothing sent
        except OSError:
            return True  # reset
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(timeout)
        return peeked == b""

    def _linger(self) -> None:
        """Close after a refusal the way a web server does: stop sending, then read and drop
        what the client still sends until it closes (bounded in bytes and by idle time), so it
        gets to read the refusal instead of a reset connection."""
        dropped = 0
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_IDLE)
            while dropped < _DRAIN_BYTES:
                piece = self.connection.recv(1 << 20)
                if not piece:
                    break
                dropped += len(piece)

    # -- handling --------------------------------------------------------------------------

    def _handle(self) -> None:
        try:
            body = self._body()
        except _Refused as refused:
            self._refuse(refused.status, refused.reason)
            return
        except TimeoutError:
            limit = self.server.body_timeout
            self._refuse(408, f"the body did not arrive within {limit:g} s")
            return
        except (OSError, ValueError):
            self._refuse(400, "the client went away before sending the whole body")
            return
        headers = dict(self._pairs)
        route = self.server.routes.get(split_url(self.path)[0]) if self.server.routes else None
        try:
            if route is not None:
                answer = route(self.command, self.path, headers, body)
            else:
                api = self.server.target(self.path)
                answer = api.handle(
                    self.command,
                    self.path,
                    headers,
                    body,
                    source=side_of(headers),
                    transport="collector",
                    gone=self._gone,
                )
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the collector
            self._refuse(500, f"the collector failed on this request: {type(exc).__name__}: {exc}")
            return
        if answer.failure:
            # faults.drop: the connection closes with no answer at all.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            self._answer(answer)

    do_GET = do_POST = do_OPTIONS = do_HEAD = do_PUT = do_DELETE = do_PATCH = _handle


class Collector:
    """A real HTTP server on ``127.0.0.1`` (or ``host``) speaking the PostHog API.

    ``target`` returns the fake PostHog API to hand a request for a path to. ``routes`` adds
    non-PostHog pages by exact path (``"/"`` for a UI page, say): each takes
    ``(method, path, headers, body)`` and returns an :class:`~pytest_hybrid_analytics.Answer`;
    a route may block (a long poll) since every connection has its own thread. ``host`` is
    the address to bind (``"0.0.0.0"``: every IPv4 interface); ``port`` 0 (the default) takes
    an ephemeral port; ``max_body`` and ``body_timeout`` bound a request;
    ``keep_alive()`` false makes every answer close its connection.

    >>> with Collector(lambda path: analytics.api) as collector:
    ...     Posthog("phc_key", host=collector.url).capture("signed_up", distinct_id="u1")
    >>> hello = lambda method, path, headers, body: Answer(200, {}, b"hello")
    >>> Collector(lambda path: analytics.api, routes={"/hello": hello}, port=8010).start()
    """

    def __init__(
        self,
        target: Callable[[str], Endpoint],
        *,
        routes: Mapping[str, Route] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = MAX_REQUEST_BYTES,
        body_timeout: float = BODY_TIMEOUT,
        keep_alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self._server = _Server(target, routes or {}, host, port, max_body, body_timeout, keep_alive)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give an SDK as its host (``http://127.0.0.1:<port>``)."""
        host, port = self._server.server_address[:2]
        return f"http://[{host!s}]:{port}" if ":" in str(host) else f"http://{host!s}:{port}"

    @property
    def netloc(self) -> str:
        """``127.0.0.1:<port>``."""
        return self.url.removeprefix("http://")

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def start(self) -> Collector:
        """Serve in a background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve, name="hybrid-analytics-collector", daemon=True
            )
            self._thread.start()
        return self

    def close_idle(self) -> None:
        """End the keep-alive connections waiting for a next request (their clients open new
        ones)."""
        self._server.close_idle()

    def stop(self) -> None:
        """Stop serving, hang up on clients still connected, and close the socket."""
        if self._thread is not None:
            self._server.stop_serving()
            self._thread.join()
            self._thread = None
        self._server.hang_up_all()
        self._server.server_close()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
