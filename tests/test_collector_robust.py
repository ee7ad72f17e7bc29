"""The loopback collector under abuse, over real sockets: fuzzed real payloads, malformed HTTP,
clients that vanish, stall or send too much, 32 threads at once. Whatever arrives, it answers,
keeps a rejected request with a reason, and records the next valid request."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_hybrid_analytics import Analytics, Answer, EventRecorder, FakePostHog, RejectedRequest
from pytest_hybrid_analytics._roads.collector import MAX_REQUEST_BYTES, Collector

PAYLOADS = Path(__file__).parent / "payloads"
REAL = [
    (request["path"], request["headers"], base64.b64decode(request["body_base64"]))
    for path in sorted(PAYLOADS.glob("posthog-*.json"))
    for request in json.loads(path.read_text())["requests"]
]
STATUSES = {200, 400, 404, 405, 408, 413, 431, 501}


class Watched(EventRecorder):
    """A recorder the test can wait on for rejected requests too."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def record(self, events: Any, **options: Any) -> None:
        super().record(events, **options)
        with self.changed:
            self.changed.notify_all()

    def reject(self, request: RejectedRequest) -> None:
        super().reject(request)
        with self.changed:
            self.changed.notify_all()

    def wait_rejected(self, count: int, timeout: float = 10) -> list[RejectedRequest]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.rejected) >= count, timeout)
        return self.rejected


class Served:
    """A running collector and the recorder behind it."""

    def __init__(self, **options: Any) -> None:
        self.recorder = Watched()
        self.api = FakePostHog(self.recorder)
        self.collector = Collector(lambda path: self.api, **options).start()
        self.port = self.collector.port

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def exchange(self, raw: bytes) -> bytes:
        """Send raw bytes; everything the collector answers until it hangs up."""
        with self.connect() as sock:
            sock.sendall(raw)
            return read_all(sock)

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", path, body, dict(headers or {}))
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def check_alive(self) -> None:
        """A valid batch right now is answered 200 and recorded."""
        name = f"alive_{uuid.uuid4().hex}"
        status, _ = self.post("/batch/", batch(name))
        assert status == 200
        assert len(self.recorder.wait_for(name, timeout=5)) == 1


def read_all(sock: socket.socket) -> bytes:
    parts = []
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        parts.append(piece)
    return b"".join(parts)


def batch(name: str, *, count: int = 1, distinct_id: str = "u") -> bytes:
    events = [
        {"event": name, "distinct_id": distinct_id, "uuid": str(uuid.uuid4())} for _ in range(count)
    ]
    return json.dumps({"api_key": "phc_k", "batch": events}).encode()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def detail_of(raw: bytes) -> str:
    detail: str = json.loads(raw.partition(b"\r\n\r\n")[2])["detail"]
    return detail


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.collector.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[Served]:
    server = Served()
    yield server
    server.collector.stop()


# -- fuzz ---------------------------------------------------------------------------------


def _nest(depth: int) -> bytes:
    return b'{"batch": [' + b"[" * depth + b"]" * depth + b"]}"


def _utf8_breaker(body: bytes, at: int, junk: bytes) -> bytes:
    text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    cut = at % (len(text) + 1)
    return text[:cut] + junk + text[cut:]


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 4000)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)))),
    st.tuples(
        st.just("content-type"),
        st.sampled_from(
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/octet-stream",
                "image/png",
                "application/json; charset=latin-1",
                "\xff\xfe",
            ]
        ),
    ),
    st.tuples(st.just("encoding"), st.sampled_from(["gzip", "deflate", "br", "zstd", "x-\xe9"])),
    st.tuples(st.just("nest"), st.integers(1, 200_000)),
    st.tuples(st.just("huge"), st.integers(1, 6 * 1024 * 1024)),
    st.tuples(
        st.just("utf8"),
        st.tuples(st.integers(0, 4000), st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"])),
    ),
    st.tuples(st.just("gzip-cut"), st.integers(0, 2000)),
)


def mutate(
    real: tuple[str, dict[str, str], bytes], mutation: tuple[str, Any]
) -> tuple[str, dict[str, str], bytes]:
    path, headers, body = real
    framing = ("content-length", "host", "connection", "transfer-encoding")
    headers = {k: v for k, v in headers.items() if k.lower() not in framing}
    kind, arg = mutation
    if kind == "truncate":
        body = body[: arg % (len(body) + 1)]
    elif kind == "flip":
        mutated = bytearray(body)
        for position, value in arg:
            if mutated:
                mutated[position % len(mutated)] = value
        body = bytes(mutated)
    elif kind == "content-type":
        headers["Content-Type"] = arg
    elif kind == "encoding":
        headers["Content-Encoding"] = arg
    elif kind == "nest":
        body = _nest(arg)
    elif kind == "huge":
        body = b'{"api_key": "k", "event": "e", "distinct_id": "u", "properties": {"x": "'
        body += b"a" * arg + b'"}}'
    elif kind == "utf8":
        body = _utf8_breaker(body, *arg)
    elif kind == "gzip-cut":
        whole = gzip.compress(body)
        body = whole[: arg % len(whole)]
    return path, headers, body


def frame(path: str, headers: dict[str, str], body: bytes, chunked: bool) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        step = max(len(body) // 3, 1)
        pieces = [body[i : i + step] for i in range(0, len(body), step)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    lines.append("Connection: close")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + payload


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(REAL), MUTATIONS, st.booleans())
@example(REAL[0], ("nest", 100_000), False)
@example(REAL[0], ("huge", 5 * 1024 * 1024), True)
@example(REAL[0], ("gzip-cut", 20), False)
@example(REAL[0], ("utf8", (10, b"\xff")), True)
def test_fuzzed_real_payloads_are_answered_and_the_next_valid_one_recorded(
    shared: Served, real: tuple[str, dict[str, str], bytes], mutation: Any, chunked: bool
) -> None:
    path, headers, body = mutate(real, mutation)
    before_events, before_rejected = len(shared.recorder), len(shared.recorder.rejected)

    raw = shared.exchange(frame(path, headers, body, chunked))

    status = status_of(raw)
    assert status in STATUSES
    assert raw.partition(b"\r\n\r\n")[2].startswith(b"{")  # every answer is JSON
    rejected = shared.recorder.rejected[before_rejected:]
    if status == 200:
        assert rejected == []
    else:
        [refused] = rejected
        assert refused.status == status
        assert refused.reason == detail_of(raw)
        assert len(shared.recorder) == before_events
    shared.check_alive()


# -- malformed HTTP -------------------------------------------------------------------------

HEAD = b"POST /batch/ HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (HEAD + b"Content-Length: abc\r\n\r\n", 400, "Content-Length 'abc' is not a byte count"),
        (HEAD + b"Content-Length: -5\r\n\r\n", 400, "Content-Length '-5' is not a byte count"),
        (HEAD + b"Content-Length: 1e3\r\n\r\n", 400, "Content-Length '1e3' is not a byte count"),
        (
            HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "malformed chunked body: chunk size 'zz' is not hex",
        ),
        (
            HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            400,
            "malformed chunked body: chunk size '0x5' is not hex",
        ),
        (
            HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nhiXX",
            400,
            "malformed chunked body: a chunk does not end with CRLF",
        ),
        (
            HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "Transfer-Encoding 'gzip, chunked' is not supported",
        ),
        (
            b"BREW /batch/ HTTP/1.1\r\n\r\n",
            501,
            "malformed HTTP request: Unsupported method ('BREW')",
        ),
        (
            b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
            414,
            "malformed HTTP request: Request-URI Too Long",
        ),
        (
            HEAD + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n",
            431,
            "malformed HTTP request: Too many headers",
        ),
        (
            HEAD + b"X-Long: " + b"y" * 70_000 + b"\r\n\r\n",
            431,
            "malformed HTTP request: Line too long",
        ),
    ],
    ids=[
        "length-not-a-number",
        "length-negative",
        "length-float",
        "chunk-size-not-hex",
        "chunk-size-prefixed",
        "chunk-without-crlf",
        "unsupported-coding",
        "unknown-method",
        "uri-too-long",
        "too-many-headers",
        "header-too-long",
    ],
)
def test_malformed_http_is_answered_rejected_and_survived(
    served: Served, raw: bytes, status: int, reason: str
) -> None:
    answer = served.exchange(raw)
    assert status_of(answer) == status
    assert detail_of(answer) == reason
    [refused] = served.recorder.rejected
    assert (refused.status, refused.reason, refused.transport) == (status, reason, "collector")
    served.check_alive()


def test_a_malformed_request_after_a_good_one_is_not_taken_for_it(served: Served) -> None:
    good = batch("first")
    with served.connect() as sock:
        sock.sendall(
            b"POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(good), good)
        )
        sock.sendall(b"BREW /coffee HTTP/1.1\r\n\r\n")
        answers = read_all(sock)
    assert answers.count(b"HTTP/1.1 ") == 2
    [refused] = served.recorder.rejected
    assert (refused.method, refused.url, refused.headers) == ("BREW", "/coffee", {})
    served.recorder.wait_for("first", timeout=5)


# -- faults ---------------------------------------------------------------------------------


def test_a_client_that_disconnects_mid_body(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + batch("cut")[:40])
    with served.connect() as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n400\r\n" + batch("cut")[:40])
    first, second = served.recorder.wait_rejected(2)
    reason = "the client went away before sending the whole body"
    assert (first.status, first.reason, second.reason) == (400, reason, reason)
    assert served.recorder.find("cut") == []
    served.check_alive()


def test_a_body_over_the_limit_gets_a_clear_413(served: Served) -> None:
    too_big = b"x" * (MAX_REQUEST_BYTES + 1)
    answer = requests.post(
        f"{served.collector.url}/batch/",
        data=too_big,
        headers={"Origin": "http://shop.test"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.headers["Access-Control-Allow-Origin"] == "http://shop.test"  # a page reads it
    assert answer.json() == {
        "type": "invalid_request",
        "detail": f"the body of {MAX_REQUEST_BYTES + 1} bytes is larger than the "
        f"{MAX_REQUEST_BYTES}-byte limit",
    }
    [refused] = served.recorder.rejected
    assert (refused.status, refused.body) == (413, b"")
    served.check_alive()


def test_a_chunked_body_over_the_limit_and_an_announced_one_get_413() -> None:
    server = Served(max_body=1000)
    try:
        chunks = iter([b"y" * 600, b"y" * 600, b"y" * 600])
        answer = requests.post(f"{server.collector.url}/batch/", data=chunks, timeout=10)
        assert (answer.status_code, answer.json()["detail"]) == (
            413,
            "the body is larger than the 1000-byte limit",
        )
        # With Expect: 100-continue the refusal comes before the body is sent at all.
        raw = server.exchange(HEAD + b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
        assert not raw.startswith(b"HTTP/1.1 100")
        assert (status_of(raw), detail_of(raw)) == (
            413,
            "the body of 5000000 bytes is larger than the 1000-byte limit",
        )
        assert [r.status for r in server.recorder.rejected] == [413, 413]
        server.check_alive()
    finally:
        server.collector.stop()


def test_slow_clients_do_not_hold_up_the_others(served: Served) -> None:
    bodies = [batch("slow", distinct_id="snail") for _ in range(8)]  # same length, own uuids
    slow = [served.connect() for _ in range(8)]
    for sock, body in zip(slow, bodies, strict=True):
        sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
    for n in range(len(bodies[0])):
        for sock, body in zip(slow, bodies, strict=True):  # a byte each, then someone else
            sock.sendall(body[n : n + 1])
        if n % 4 == 0:
            served.check_alive()
    for sock in slow:
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 200
        sock.close()
    assert len(served.recorder.wait_for("slow", distinct_id="snail", count=8, timeout=5)) == 8
    assert served.recorder.rejected == []


def test_a_body_that_never_finishes_gets_408() -> None:
    server = Served(body_timeout=0.3)
    try:
        with server.connect() as sock:
            sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n" + b"{")
            raw = read_all(sock)  # the collector answers once the deadline passes
        assert (status_of(raw), detail_of(raw)) == (408, "the body did not arrive within 0.3 s")
        assert server.recorder.rejected[0].status == 408
        server.check_alive()
    finally:
        server.collector.stop()


def test_stop_hangs_up_on_clients_still_connected() -> None:
    server = Served()
    idle = server.connect()
    stalled = server.connect()
    stalled.sendall(HEAD + b"Content-Length: 100\r\n\r\n{")
    server.check_alive()  # both connections are being served by now
    server.collector.stop()
    for sock in (idle, stalled):
        assert read_all(sock) == b""  # hung up, not left to time out
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        server.connect()


class Broken:
    """An endpoint with a bug: every request raises."""

    def __init__(self) -> None:
        self.rejected: list[RejectedRequest] = []

    def handle(self, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("boom")

    def reject(self, request: RejectedRequest) -> None:
        self.rejected.append(request)


def test_a_failure_inside_the_api_is_a_500_and_the_collector_goes_on() -> None:
    broken, fine = Broken(), FakePostHog(Watched())
    with Collector(lambda path: broken if path.startswith("/broken") else fine) as collector:
        answer = requests.post(f"{collector.url}/broken/batch/", data=batch("x"), timeout=5)
        assert (answer.status_code, answer.json()["detail"]) == (
            500,
            "the collector failed on this request: RuntimeError: boom",
        )
        assert [r.status for r in broken.rejected] == [500]
        assert requests.post(f"{collector.url}/batch/", data=batch("ok"), timeout=5).ok
        assert fine.recorder is not None
        fine.recorder.wait_for("ok", timeout=5)


def test_extra_routes_answer_their_paths_and_the_api_the_rest() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def page(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        seen.append((method, path, body))
        return Answer(200, {"Content-Type": "text/html"}, b"<h1>timeline</h1>")

    def failing(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        raise ValueError("no page")

    analytics = Analytics()
    routes = {"/": page, "/ui/fail": failing}
    with Collector(lambda path: analytics.api, routes=routes) as collector:
        got = requests.get(f"{collector.url}/?x=1", timeout=5)
        assert (got.status_code, got.text, got.headers["Content-Type"]) == (
            200,
            "<h1>timeline</h1>",
            "text/html",
        )
        assert seen == [("GET", "/?x=1", b"")]
        assert requests.get(f"{collector.url}/ui/fail", timeout=5).status_code == 500
        assert requests.post(f"{collector.url}/batch/", data=batch("api"), timeout=5).ok
        analytics.wait_for("api", timeout=5)
        assert [r.reason for r in analytics.rejected] == [
            "the collector failed on this request: ValueError: no page"
        ]


def test_a_fixed_port_and_a_clear_error_when_it_is_taken() -> None:
    with Collector(lambda path: FakePostHog()) as first:
        assert first.url == f"http://127.0.0.1:{first.port}"
        with pytest.raises(OSError, match="Address already in use"):
            Collector(lambda path: FakePostHog(), port=first.port)


# -- load -----------------------------------------------------------------------------------

TOTAL, THREADS, PER_REQUEST = 50_000, 32, 100


def test_32_threads_50000_events_through_the_collector_and_the_requests_road(
    analytics: Analytics,
) -> None:
    assert analytics.host is not None
    targets = [f"{analytics.host}/batch/", "https://us.i.posthog.com/batch/"]
    sent: list[set[str]] = [set() for _ in range(THREADS)]
    failures: list[BaseException] = []
    go = threading.Barrier(THREADS)

    def send(worker: int) -> None:
        share = TOTAL // THREADS + (worker < TOTAL % THREADS)
        url = targets[worker % 2]
        try:
            with requests.Session() as session:
                go.wait()
                for start in range(0, share, PER_REQUEST):
                    events = []
                    for n in range(start, min(start + PER_REQUEST, share)):
                        event_id = str(uuid.uuid4())
                        sent[worker].add(event_id)
                        events.append(
                            {
                                "event": "load",
                                "distinct_id": f"w{worker}",
                                "uuid": event_id,
                                "properties": {"n": n},
                            }
                        )
                    answer = session.post(url, json={"api_key": "k", "batch": events}, timeout=30)
                    assert answer.status_code == 200, answer.text
        except BaseException as exc:  # noqa: BLE001 - reported below, from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    events = analytics.wait_for("load", count=TOTAL, timeout=30)
    assert len(events) == len(analytics) == TOTAL
    uuids = [e.uuid for e in events]
    assert len(set(uuids)) == TOTAL
    assert set(uuids) == set().union(*sent)
    by_road = {"collector": 0, "requests": 0}
    for event in events:
        by_road[event.transport] += 1
    assert by_road == {"collector": TOTAL // 2, "requests": TOTAL // 2}
    assert analytics.rejected == []
