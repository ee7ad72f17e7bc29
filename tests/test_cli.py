"""``hybrid-analytics serve`` end to end: the installed console script, the published ``posthog``
SDK pointed at the URL it prints, the live terminal, the live page and its long poll, JSON Lines
loaded back, a clean stop on SIGINT and SIGTERM, and the secret a collector on another address
asks for. ``hybrid-analytics report``: several runs' records merged into one HTML report and one
audit, as the plugin writes them for one run."""

from __future__ import annotations

import dataclasses
import io
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, expect
from support import INNER_INI, make_event
from web_app import WebApp

from pytest_hybrid_analytics import (
    CapturedEvent,
    ClientNote,
    RejectedRequest,
    TrackingPlan,
    assert_same_person,
    load_jsonl,
)
from pytest_hybrid_analytics._reports.audit import audit
from pytest_hybrid_analytics._reports.html import render_html
from pytest_hybrid_analytics._reports.records import RecordedTest, dump_run_lines
from pytest_hybrid_analytics.cli import _format_line, _Guard, _is_loopback, _parser, _serve, main

SCRIPT = Path(sys.executable).with_name("hybrid-analytics")
BANNER = re.compile(r"hybrid-analytics collector on (?P<url>http://127\.0\.0\.1:(?P<port>\d+))")
#: A collector on an address that is not loopback: the URL ends with the run's secret.
GUARDED = re.compile(
    r"hybrid-analytics collector on "
    r"(?P<url>http://(?P<host>[^/]+):(?P<port>\d+)/(?P<secret>[A-Za-z0-9_-]{22}))"
)


class Serve:
    """``hybrid-analytics serve`` in a subprocess, its output read line by line as it comes."""

    def __init__(self, *args: str, banner: re.Pattern[str] = BANNER) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            first = self.line()
            self.match = banner.fullmatch(first)
            assert self.match, first
            self.url, self.port = self.match["url"], int(self.match["port"])
            self.banner = [first]
            while self.banner[-1] != "Ctrl-C to stop.":
                self.banner.append(self.line())
        except BaseException:  # not handed to the fixture yet: stop it here
            self.process.kill()
            self.process.wait(timeout=15)
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("<end of output>")

    def line(self) -> str:
        return self.lines.get(timeout=15)

    def stop(self, signum: signal.Signals) -> tuple[int, list[str], str]:
        """Send ``signum``; the exit code, the rest of stdout, and stderr."""
        self.process.send_signal(signum)
        self.process.wait(timeout=15)
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        rest = []
        while (line := self.line()) != "<end of output>":
            rest.append(line)
        return self.process.returncode, rest, err


@pytest.fixture
def serve() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=15)
        server.reader.join(timeout=15)
        for pipe in (server.process.stdout, server.process.stderr):
            assert pipe is not None
            pipe.close()


APP = """
import json, sys, warnings
from posthog import Posthog

warnings.simplefilter("ignore", DeprecationWarning)
client = Posthog("phc_cli", host=sys.argv[1], sync_mode=True, max_retries=0)
client.capture("$pageview", distinct_id="anon-7", properties={"$current_url": "/shop"})
client.capture("$identify", distinct_id="user-7", properties={"$anon_distinct_id": "anon-7"})
client.capture("order_paid", distinct_id="user-7", properties={"amount": 12.5})
told = {
    "variant": client.get_feature_flag("new-checkout", "user-7"),
    "payload": client.get_feature_flag_payload("new-checkout", "user-7"),
    "beta": client.feature_enabled("beta", "user-7"),
    "unset": client.feature_enabled("never-set", "user-7"),
}
client.shutdown()
print(json.dumps(told))
"""


def poll(url: str, after: int = 0, timeout: float = 10, rejected_after: int = 0) -> dict[str, Any]:
    params = {"after": after, "rejected_after": rejected_after, "timeout": timeout}
    answer = requests.get(f"{url}/_hybrid/events", params=params, timeout=timeout + 10)
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


def test_serve_end_to_end_with_the_posthog_sdk(tmp_path: Path, serve: list[Serve]) -> None:
    jsonl = tmp_path / "session.jsonl"
    server = Serve(
        "--jsonl",
        str(jsonl),
        "--flag",
        "new-checkout=variant-b",
        "--payload",
        'new-checkout={"discount": 10}',
        "--flag",
        "beta",
    )
    serve.append(server)
    assert server.banner[1:] == [
        f"  posthog-js:     posthog.init('<project key>', {{ api_host: '{server.url}' }})",
        f"  posthog (py):   Posthog('<project key>', host='{server.url}')",
        f"  live timeline:  {server.url}/",
        f"  JSON Lines:     {jsonl}",
        "Ctrl-C to stop.",
    ]

    # The SDK runs in its own process, as an app would: in this one the plugin claims it.
    app = subprocess.run(
        [sys.executable, "-c", APP, server.url], capture_output=True, text=True, timeout=60
    )
    assert (app.returncode, app.stderr) == (0, "")
    assert json.loads(app.stdout) == {
        "variant": "variant-b",
        "payload": {"discount": 10},
        "beta": True,
        "unset": False,
    }

    first = poll(server.url)
    names = [e["event"] for e in first["events"]]
    assert names[:3] == ["$pageview", "$identify", "order_paid"]
    assert set(names[3:]) == {"$feature_flag_called"}
    assert (first["after"], first["rejected"], first["stopping"]) == (len(names), [], False)

    live = [server.line().split("  ") for _ in names]  # printed as they arrived
    assert [line[1:4] for line in live] == [
        [e["source"], e["event"], e["distinct_id"]] for e in first["events"]
    ]
    assert live[2][4:] == ["posthog-python", "amount=12.5"]

    bad = requests.post(f"{server.url}/batch/", data=b"not json", timeout=5)
    assert bad.status_code == 400
    _, mark, refused = server.line().split("  ", 2)
    assert (mark, refused) == ("REJECTED", f"POST /batch/ -> 400: {bad.json()['detail']}")
    # A long poll past everything so far is answered by the next event.
    answered: queue.Queue[dict[str, Any]] = queue.Queue()
    waiting = threading.Thread(
        target=lambda: answered.put(poll(server.url, first["after"], rejected_after=1))
    )
    waiting.start()
    assert requests.post(
        f"{server.url}/i/v0/e/",
        json={"api_key": "phc_js", "event": "clicked", "properties": {"distinct_id": "anon-7"}},
        timeout=5,
    ).ok
    news = answered.get(timeout=20)
    waiting.join()
    assert [e["event"] for e in news["events"]] == ["clicked"]
    assert (news["after"], news["rejected_after"]) == (first["after"] + 1, 1)
    assert server.line().split("  ")[1:4] == ["server", "clicked", "anon-7"]

    page = requests.get(f"{server.url}/", timeout=5)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "/_hybrid/events?after=" in page.text
    assert requests.get(f"{server.url}/favicon.ico", timeout=5).status_code == 204
    config = requests.get(f"{server.url}/array/phc_js/config.js", timeout=5)
    assert config.headers["Content-Type"] == "application/javascript"
    assert '"phc_js"' in config.text

    code, rest, err = server.stop(signal.SIGINT)
    total = len(names) + 1
    assert (code, err) == (0, "")
    assert rest == [
        f"hybrid-analytics: stopped; {total} events, 1 rejected request, written to {jsonl}"
    ]

    recorded = load_jsonl(jsonl)
    assert [e.event for e in recorded.events] == [*names, "clicked"]
    assert [e.uuid for e in recorded.events] == [
        e["uuid"] for e in first["events"] + news["events"]
    ]
    assert recorded.find("order_paid", source="server", amount=12.5)[0].api_key == "phc_cli"
    assert recorded.identity.same_person("anon-7", "user-7")
    assert_same_person(recorded)
    [rejected] = recorded.rejected
    assert (rejected.status, rejected.body) == (400, b"not json")


def follow(url: str, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """Every event the server has, long poll after long poll, once ``until(events)`` holds;
    fails when a long poll brings nothing new."""
    events: list[dict[str, Any]] = []
    while not until(events):
        news = poll(url, after=len(events))
        assert news["events"], f"nothing new within 10 s after {[e['event'] for e in events]}"
        events += news["events"]
    return events


def test_serve_records_posthog_js_in_chromium(
    tmp_path: Path, serve: list[Serve], browser: Browser, web_app: WebApp
) -> None:
    """A real page, no plugin attached: posthog-js's own ``api_host`` is the URL serve prints."""
    jsonl = tmp_path / "browser.jsonl"
    server = Serve("--jsonl", str(jsonl), "--flag", "new-checkout=variant-b")
    serve.append(server)
    context = browser.new_context()
    try:
        page = context.new_page()
        url = f"{web_app.url}/serve.html?api_host={server.url}"
        page.goto(url)
        expect(page.locator("#status")).to_have_text("ready")
        page.wait_for_function("posthog.getFeatureFlag('new-checkout') === 'variant-b'")
        page.click("#buy")
        page.click("#login")
        # Wait for the batched events too: posthog-js loses a batch that a navigation catches
        # in the middle of its asynchronous gzip (the SDK's own behaviour, not serve's).
        wanted = {"$identify", "purchase_clicked", "$feature_flag_called"}
        follow(server.url, lambda got: wanted <= {e["event"] for e in got})
        page.click("#next")  # $pageleave goes by sendBeacon at pagehide
        page.wait_for_url("**/next.html")
        live = follow(server.url, lambda got: "$pageleave" in [e["event"] for e in got])
    finally:
        context.close()
    code, rest, err = server.stop(signal.SIGINT)
    assert (code, err) == (0, "")
    assert rest[-1].startswith(f"hybrid-analytics: stopped; {len(live)} events, written to")

    recorded = load_jsonl(jsonl)
    assert [e.uuid for e in recorded.events] == [e["uuid"] for e in live]
    names = [e.event for e in recorded.events]
    for name in ("$pageview", "$feature_flag_called", "purchase_clicked", "$identify"):
        assert names.count(name) == 1, names
    assert names.count("$autocapture") == 3  # buy, log in, the link
    assert names[-1] == "$pageleave"
    assert recorded.rejected == []
    assert {(e.source, e.lib, e.api_key, e.transport) for e in recorded.events} == {
        ("client", "web", "phc_serve", "collector")
    }
    assert {e.properties["$current_url"] for e in recorded.events} == {url}
    [called] = recorded.find("$feature_flag_called")
    assert called.properties["$feature_flag_response"] == "variant-b"
    [bought] = recorded.find("purchase_clicked", plan="pro", price=29.99)
    [identify] = recorded.find("$identify", distinct_id="user-9")
    assert identify.properties["$anon_distinct_id"] == bought.distinct_id != "user-9"
    assert recorded.find("$pageleave")[0].distinct_id == "user-9"
    assert_same_person(recorded)


def test_sigterm_answers_a_waiting_long_poll_and_stops(serve: list[Serve]) -> None:
    server = Serve("--quiet")
    serve.append(server)
    answered: queue.Queue[dict[str, Any]] = queue.Queue()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(b"GET /_hybrid/events?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        threading.Thread(target=lambda: answered.put(_answer(sock)), daemon=True).start()
        assert requests.get(f"{server.url}/favicon.ico", timeout=5).status_code == 204
        code, rest, err = server.stop(signal.SIGTERM)
        reply = answered.get(timeout=15)
    assert (code, rest, err) == (0, ["hybrid-analytics: stopped; 0 events"], "")
    assert reply in (
        {"events": [], "rejected": [], "after": 0, "rejected_after": 0, "stopping": True},
        {},
    )  # answered, or hung up on: never left hanging


def _answer(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        piece = sock.recv(65536)
        if not piece:
            return {}
        data += piece
    answer: dict[str, Any] = json.loads(data.partition(b"\r\n\r\n")[2])
    return answer


def test_a_fixed_port_and_a_clear_error_when_it_is_taken(serve: list[Serve]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Serve("--port", str(port))
    serve.append(server)
    assert server.url == f"http://127.0.0.1:{port}"
    taken = subprocess.run(
        [str(SCRIPT), "serve", "--port", str(port)], capture_output=True, text=True, timeout=30
    )
    assert (taken.returncode, taken.stdout) == (2, "")
    assert taken.stderr.startswith(f"hybrid-analytics: cannot listen on 127.0.0.1:{port}: ")
    assert "Address already in use" in taken.stderr
    assert server.stop(signal.SIGINT)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--flag", "=on"], "argument --flag: '=on': a flag is KEY or KEY=VALUE"),
        (["serve", "--payload", "k"], "argument --payload: 'k': a payload is KEY=JSON"),
        (["serve", "--payload", "k={x"], "argument --payload: 'k={x': the payload is not JSON"),
        (["serve", "--port", "http"], "argument --port: invalid int value: 'http'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_are_named(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


def test_a_payload_needs_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--payload", 'other={"a": 1}']) == 2
    assert capsys.readouterr().err == "hybrid-analytics: --payload for other without --flag\n"


def test_terminal_lines() -> None:
    event = CapturedEvent(
        event="order_paid",
        distinct_id="user-1",
        properties={"$lib": "posthog-python", "amount": 12.5, "items": ["a"] * 20, "token": "t"},
        timestamp=datetime(2026, 3, 1, 12, 0, 1, 250_000, tzinfo=UTC),
        uuid=None,
        source="server",
        lib="posthog-python",
        api_key="k",
        set={},
        set_once={},
    )
    assert _format_line(event) == (
        "12:00:01.250  server  order_paid  user-1  posthog-python  amount=12.5  "
        "items=['a', 'a', 'a', 'a', 'a', 'a'…"
    )
    rejected = RejectedRequest(
        "POST",
        "/batch/",
        {},
        b"x",
        "the body is not JSON",
        "collector",
        400,
        datetime(2026, 3, 1, 12, 0, 2, tzinfo=UTC),
    )
    assert _format_line(rejected) == (
        "12:00:02.000  REJECTED  POST /batch/ -> 400: the body is not JSON"
    )


def test_serve_in_process_writes_prints_and_stops_when_told(tmp_path: Path) -> None:
    """The serve loop without the console script: ``wait`` is what SIGINT would end."""
    ready, stop = threading.Event(), threading.Event()

    def wait() -> None:
        ready.set()
        stop.wait()

    out = io.StringIO()
    jsonl = tmp_path / "in-process.jsonl"
    options = _parser().parse_args(["serve", "--jsonl", str(jsonl), "--flag", "beta=off"])
    done: queue.Queue[int] = queue.Queue()
    server = threading.Thread(target=lambda: done.put(_serve(options, out, wait)), daemon=True)
    server.start()
    assert ready.wait(timeout=15)
    url = BANNER.match(out.getvalue())
    assert url
    body = {"api_key": "k", "batch": [{"event": "in_process", "distinct_id": "u"}] * 2}
    assert requests.post(f"{url[1]}/batch/", json=body, timeout=5).ok
    flags = requests.post(f"{url[1]}/flags/?v=2", json={"distinct_id": "u"}, timeout=5).json()
    assert flags["flags"]["beta"]["enabled"] is False
    assert poll(url[1])["after"] == 2
    stop.set()
    server.join(timeout=15)
    assert done.get(timeout=1) == 0
    printed = out.getvalue().splitlines()
    assert [line.split("  ")[2] for line in printed[6:8]] == ["in_process", "in_process"]
    assert printed[-1] == f"hybrid-analytics: stopped; 2 events, written to {jsonl}"
    assert [e.event for e in load_jsonl(jsonl).events] == ["in_process", "in_process"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url[1]}/", timeout=5)


def test_an_unwritable_jsonl_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-dir" / "events.jsonl"
    assert main(["serve", "--jsonl", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"hybrid-analytics: cannot write {missing}: ")


# -- serve --bind: a secret on an address that is not loopback ---------------------------------


def _capture(url: str, event: str) -> requests.Response:
    body = {"api_key": "phc_bind", "event": event, "properties": {"distinct_id": "u-bind"}}
    return requests.post(f"{url}/i/v0/e/", json=body, timeout=5)


def _status_line(port: int, request: bytes) -> bytes:
    """The status line the collector answers a raw ``request`` with."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline()


def test_serve_on_every_interface_serves_and_records_only_under_the_secret(
    tmp_path: Path, serve: list[Serve]
) -> None:
    jsonl = tmp_path / "bound.jsonl"
    server = Serve("--bind", "0.0.0.0", "--jsonl", str(jsonl), banner=GUARDED)
    serve.append(server)
    assert server.match is not None
    secret = server.match["secret"]
    assert server.match["host"] == "0.0.0.0"
    assert server.banner[1:] == [
        f"  posthog-js:     posthog.init('<project key>', {{ api_host: '{server.url}' }})",
        f"  posthog (py):   Posthog('<project key>', host='{server.url}')",
        f"  live timeline:  {server.url}/",
        f"  JSON Lines:     {jsonl}",
        "  only requests under this URL's secret are served and recorded; others get 404",
        "  every interface: from elsewhere, use this machine's address or name in place of 0.0.0.0",
        "Ctrl-C to stop.",
    ]
    # 0.0.0.0 takes connections on every address, loopback's too: all of them need the secret.
    root = f"http://127.0.0.1:{server.port}"
    url = f"{root}/{secret}"
    assert _capture(url, "with_the_secret").status_code == 200
    assert server.line().split("  ")[1:4] == ["server", "with_the_secret", "u-bind"]

    other = secret[:-1] + ("B" if secret.endswith("A") else "A")
    refused = {
        "no secret": _capture(root, "without_the_secret"),
        "another secret": _capture(f"{root}/{other}", "with_another_secret"),
        "secret not first": _capture(f"{root}/x{url.removeprefix(root)}", "secret_later"),
        "secret as a prefix": _capture(f"{url}x", "secret_and_more"),
        "bad body": requests.post(f"{root}/batch/", data=b"not json", timeout=5),
        "flags": requests.post(f"{root}/flags/?v=2", json={"distinct_id": "u"}, timeout=5),
        "page": requests.get(f"{root}/", timeout=5),
        "long poll": requests.get(f"{root}/_hybrid/events?timeout=0", timeout=5),
    }
    assert {name: answer.status_code for name, answer in refused.items()} == dict.fromkeys(
        refused, 404
    )
    assert secret not in json.dumps([answer.json() for answer in refused.values()])
    # A request refused before its path is looked at gets its own status: not recorded either.
    bad_length = b"POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n"
    assert _status_line(server.port, bad_length).startswith(b"HTTP/1.1 400 ")

    # Under the secret, what the fake API or the collector refuses is recorded, without it.
    bad = requests.post(f"{url}/batch/", data=b"not json", timeout=5)
    assert bad.status_code == 400
    _, mark, refusal = server.line().split("  ", 2)  # the next line: nothing printed between
    assert (mark, refusal) == ("REJECTED", f"POST /batch/ -> 400: {bad.json()['detail']}")
    bad_length = bad_length.replace(b" /batch/", f" /{secret}/e/".encode())
    assert _status_line(server.port, bad_length).startswith(b"HTTP/1.1 400 ")
    _, mark, refusal = server.line().split("  ", 2)
    assert (mark, refusal) == (
        "REJECTED",
        "POST /e/ -> 400: Content-Length 'many' is not a byte count",
    )
    seen = poll(url)
    assert [e["event"] for e in seen["events"]] == ["with_the_secret"]
    assert [(r["url"], r["status"]) for r in seen["rejected"]] == [("/batch/", 400), ("/e/", 400)]

    page = requests.get(f"{url}/", timeout=5)
    assert page.status_code == 200
    assert f"`/{secret}/_hybrid/events?after=" in page.text
    assert page.text.count(f"${{location.origin}}/{secret}") == 2
    bare = requests.get(url, allow_redirects=False, timeout=5)
    assert (bare.status_code, bare.headers["Location"]) == (308, f"/{secret}/")
    assert requests.get(f"{url}/favicon.ico", timeout=5).status_code == 204

    code, rest, err = server.stop(signal.SIGINT)
    assert (code, err) == (0, "")
    assert rest == [f"hybrid-analytics: stopped; 1 event, 2 rejected requests, written to {jsonl}"]
    recorded = load_jsonl(jsonl)
    assert [(e.event, e.endpoint) for e in recorded.events] == [("with_the_secret", "/i/v0/e/")]
    assert [r.url for r in recorded.rejected] == ["/batch/", "/e/"]
    assert secret not in jsonl.read_text(encoding="utf-8")


def _this_machines_address() -> str | None:
    """The IPv4 address this machine's traffic leaves from, when it is not loopback (a UDP
    socket's connect sends nothing; it only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # TEST-NET-3: routed as any outside address
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_serve_on_this_machines_address(serve: list[Serve]) -> None:
    address = _this_machines_address()
    if address is None:
        pytest.skip("this machine has no route out, so no address but loopback")
    server = Serve("--bind", address, "--quiet", banner=GUARDED)
    serve.append(server)
    assert server.match is not None
    assert server.match["host"] == address
    assert not [line for line in server.banner if "every interface" in line]
    assert _capture(server.url, "from_the_network").status_code == 200
    assert _capture(f"http://{address}:{server.port}", "no_secret").status_code == 404
    assert [e["event"] for e in poll(server.url)["events"]] == ["from_the_network"]
    assert server.stop(signal.SIGTERM) == (0, ["hybrid-analytics: stopped; 1 event"], "")


class InProcess:
    """``_serve`` in a thread, its banner read once it waits: ``url`` is what it prints."""

    def __init__(self, *args: str) -> None:
        self.out = io.StringIO()
        self.ready, self.stopping = threading.Event(), threading.Event()
        self.done: queue.Queue[int] = queue.Queue()
        options = _parser().parse_args(["serve", *args])
        self.thread = threading.Thread(target=self._serve, args=(options,), daemon=True)
        self.thread.start()
        try:
            assert self.ready.wait(timeout=15)
            assert self.done.empty(), self.done.get()
            found = re.match(r"hybrid-analytics collector on (\S+)\n", self.out.getvalue())
            assert found, self.out.getvalue()
            self.url = found[1]
        except BaseException:
            self.stopping.set()
            raise

    def _serve(self, options: Any) -> None:
        try:
            self.done.put(_serve(options, self.out, self._wait))
        finally:
            self.ready.set()  # also when it never got to wait

    def _wait(self) -> None:
        self.ready.set()
        self.stopping.wait()

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join(timeout=15)
        return self.done.get(timeout=1)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", r"http://127\.0\.0\.1:\d+"),
        ("localhost", r"http://127\.0\.0\.1:\d+"),
        ("::1", r"http://\[::1\]:\d+"),
    ],
)
def test_loopback_asks_for_no_secret(host: str, url: str) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    server = InProcess("--bind", host, "--quiet")
    try:
        assert re.fullmatch(url, server.url)
        assert _capture(server.url, "on_loopback").status_code == 200
        assert requests.get(f"{server.url}/", timeout=5).status_code == 200
        assert [e["event"] for e in poll(server.url)["events"]] == ["on_loopback"]
    finally:
        assert server.stop() == 0
    assert "secret" not in server.out.getvalue()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("fd00::2", False),
        ("no-such-host.invalid", False),
    ],
)
def test_which_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("path", "stripped"),
    [
        ("/s3cret/i/v0/e/?ip=1&_=17", "/i/v0/e/?ip=1&_=17"),
        ("/s3cret/", "/"),
        ("/s3cret", "/"),
        ("/s3cret?x=1", "/?x=1"),
        ("http://10.0.0.5:8010/s3cret/batch/", "/batch/"),
        ("/batch/", None),
        ("/", None),
        ("/s3cretx/batch/", None),
        ("/x/s3cret/batch/", None),
        ("/S3CRET/batch/", None),
        ("/sécret/batch/", None),
    ],
)
def test_the_guard_takes_the_secret_off_the_first_segment_only(
    path: str, stripped: str | None
) -> None:
    assert _Guard("s3cret").strip(path) == stripped


@pytest.mark.parametrize(
    ("host", "shown"), [("198.51.100.1", "198.51.100.1"), ("2001:db8::1", "[2001:db8::1]")]
)
def test_an_address_this_machine_does_not_have_is_named(
    host: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--bind", host]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"hybrid-analytics: cannot listen on {shown}:0: ")
    assert "Cannot assign requested address" in err


def test_posthog_js_and_the_live_page_under_the_secret(
    serve: list[Serve], browser: Browser, web_app: WebApp
) -> None:
    """posthog-js keeps the secret of its ``api_host`` in every request, and the live page,
    opened under the secret, polls under it."""
    server = Serve("--bind", "0.0.0.0", "--quiet", banner=GUARDED)
    serve.append(server)
    url = server.url.replace("0.0.0.0", "127.0.0.1", 1)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{web_app.url}/serve.html?api_host={url}")
        expect(page.locator("#status")).to_have_text("ready")
        page.click("#buy")
        follow(url, lambda got: "purchase_clicked" in [e["event"] for e in got])
        timeline = context.new_page()
        timeline.goto(f"{url}/")
        expect(timeline.locator("#js")).to_have_text(
            f"posthog.init('<project key>', {{ api_host: '{url}' }})"
        )
        names = timeline.locator("#rows tr td:nth-child(3)")
        expect(names.filter(has_text=re.compile(r"^purchase_clicked$"))).to_have_count(1)
        expect(timeline.locator("#status")).to_have_text("live")
        outside = context.new_page().goto(f"http://127.0.0.1:{server.port}/")
        assert outside is not None
        assert outside.status == 404
    finally:
        context.close()
    code, rest, err = server.stop(signal.SIGINT)
    assert (code, err) == (0, "")
    [stopped] = rest
    assert re.fullmatch(r"hybrid-analytics: stopped; \d+ events", stopped)  # none rejected


# -- hybrid-analytics report -------------------------------------------------------------------

GENERATED = re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
KEY = "phc_4f9a7c2e81b3d6a5f0e9"


def _same_page(text: str) -> str:
    """An HTML report without the moment it was generated."""
    return GENERATED.sub("generated <when>", text)


def _heading(nodeid: str) -> str:
    """A test's node id as its section of the HTML report shows it."""
    return f"<code class='nodeid'>{nodeid.replace('[', '<wbr>[')}</code>"


def _keyed(event: CapturedEvent, key: str = KEY) -> CapturedEvent:
    return dataclasses.replace(event, api_key=key)


def _shards() -> tuple[list[RecordedTest], list[RecordedTest], list[ClientNote]]:
    """Two CI machines' tests, and the notes the second made as its run ended."""
    first = [
        RecordedTest(
            "tests/test_shop.py::test_checkout",
            events=[
                _keyed(make_event("$pageview", "anon-1", at=0)),
                _keyed(make_event("$identify", "user-1", at=1, **{"$anon_distinct_id": "anon-1"})),
                _keyed(make_event("purchase_completed", "user-1", source="server", at=2, n=9)),
            ],
            duration=1.5,
        ),
        RecordedTest(
            "tests/test_shop.py::test_login[chromium]",
            "failed",
            events=[_keyed(make_event("$pageview", "anon-2", at=0))],
            message="AssertionError: no $identify",
        ),
    ]
    second = [
        RecordedTest(
            "tests/test_billing.py::test_refund",
            events=[_keyed(make_event("refund_issued", "user-1", source="server", at=5))],
        ),
        RecordedTest("tests/test_billing.py::test_invoice", "skipped", reason="no Stripe key"),
    ]
    notes = [ClientNote("app/jobs.py:3", "never shut down", finding=False)]
    return first, second, notes


def _write_runs(tmp_path: Path, *runs: tuple[list[RecordedTest], list[ClientNote]]) -> list[str]:
    """Each run's records as ``--analytics-jsonl`` writes them: ``shard-<n>.jsonl``."""
    paths = []
    for number, (tests, notes) in enumerate(runs, start=1):
        path = tmp_path / f"shard-{number}.jsonl"
        path.write_text(dump_run_lines(tests, notes), encoding="utf-8")
        paths.append(str(path))
    return paths


def test_report_merges_the_runs_into_one_html_report_and_one_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, notes = _shards()
    paths = _write_runs(tmp_path, (first, []), (second, notes))
    html = tmp_path / "out" / "analytics.html"
    code = main(["report", *paths, "--html", str(html), "--audit"])
    out, err = capsys.readouterr()

    everything = [*first, *second]
    expected = audit(everything, session_notes=notes)
    assert not expected.failed  # so the exit status is 0
    assert (code, err) == (0, "")
    assert out == (
        f"{expected.render()}\nhybrid-analytics: 4 tests from 2 runs, 5 events (3 client, "
        f"2 server); report written to {html}\n"
    )
    text = html.read_text(encoding="utf-8")
    assert _same_page(text) == _same_page(
        render_html(everything, audit=expected, session_notes=notes)
    )
    assert {t.nodeid: text.count(_heading(t.nodeid)) for t in everything} == dict.fromkeys(
        (t.nodeid for t in everything), 1
    )
    # The failing test first (as in any report), then the order of the files.
    where = [text.index(_heading(t.nodeid)) for t in (first[1], first[0], *second)]
    assert where == sorted(where)
    assert "app/jobs.py:3: never shut down" in text  # the second run's note

    # The files the other way round: the other order.
    assert main(["report", *reversed(paths), "--html", str(html)]) == 0
    capsys.readouterr()
    text = html.read_text(encoding="utf-8")
    where = [text.index(_heading(t.nodeid)) for t in (first[1], *second, first[0])]
    assert where == sorted(where)


def test_a_test_in_two_runs_is_kept_twice_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, _ = _shards()
    again = [dataclasses.replace(first[0], outcome="failed", message="flaky")]
    paths = _write_runs(tmp_path, (first, []), ([*second, *again], []), (again, []))
    html = tmp_path / "report.html"
    assert main(["report", *paths, "--html", str(html)]) == 0
    out, err = capsys.readouterr()
    checkout = "tests/test_shop.py::test_checkout"
    assert err.splitlines() == [
        f"hybrid-analytics: 1 test is in both {paths[0]} and {paths[1]} (a shard run twice?): "
        f"{checkout}; both records are kept",
        f"hybrid-analytics: 1 test is in both {paths[0]} and {paths[2]} (a shard run twice?): "
        f"{checkout}; both records are kept",
    ]
    assert out == (
        "hybrid-analytics: 6 tests from 3 runs, 11 events (7 client, 4 server); "
        f"report written to {html}\n"
    )
    assert html.read_text(encoding="utf-8").count(_heading(checkout)) == 3

    # One file given twice: every one of its tests, named up to three.
    assert main(["report", paths[1], paths[1], "--html", str(html)]) == 0
    assert capsys.readouterr().err == (
        f"hybrid-analytics: 3 tests are twice in {paths[1]}: tests/test_billing.py::test_refund, "
        f"tests/test_billing.py::test_invoice, {checkout}; both records are kept\n"
    )
    more = [RecordedTest(f"t.py::test_{n}") for n in range(5)]
    [many] = _write_runs(tmp_path, (more, []))
    assert main(["report", many, many, "--html", str(html)]) == 0
    assert capsys.readouterr().err == (
        f"hybrid-analytics: 5 tests are twice in {many}: t.py::test_0, t.py::test_1, "
        "t.py::test_2 and 2 more; both records are kept\n"
    )


def test_a_failing_audit_exits_1_with_audit_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_keys = RecordedTest(
        "tests/test_keys.py::test_two_keys",
        events=[
            _keyed(make_event("$pageview", "u1", at=0), "phc_client0000000000000001"),
            _keyed(make_event("signed_up", "u1", source="server", at=1), "phc_server000000002"),
        ],
    )
    [path] = _write_runs(tmp_path, ([two_keys], []))
    expected = audit([two_keys])
    assert expected.line("Same API key used for both client and server").verdict == "fail"
    html = tmp_path / "keys.html"
    assert main(["report", path, "--html", str(html), "--audit"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{expected.render()}\nhybrid-analytics: 1 test from 1 run, ")
    html.unlink()
    assert main(["report", path, "--html", str(html)]) == 0
    assert capsys.readouterr().out == (
        f"hybrid-analytics: 1 test from 1 run, 2 events (1 client, 1 server); "
        f"report written to {html}\n"
    )
    assert "Same API key used for both client and server" in html.read_text(encoding="utf-8")


def test_the_tracking_plan_names_the_critical_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, notes = _shards()
    paths = _write_runs(tmp_path, (first, []), (second, notes))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "events:\n  $pageview:\n    source: client\n    critical: true\n", encoding="utf-8"
    )
    everything = [*first, *second]
    expected = audit(everything, session_notes=notes, plan=TrackingPlan.load(plan))
    assert expected.render() != audit(everything, session_notes=notes).render()
    html = tmp_path / "plan.html"
    code = main(["report", *paths, "--html", str(html), "--audit", "--tracking-plan", str(plan)])
    out = capsys.readouterr().out
    assert code == (1 if expected.failed else 0)
    assert out.startswith(f"{expected.render()}\nhybrid-analytics: 4 tests from 2 runs, ")


def test_the_report_goes_to_analytics_report_html_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    [path] = _write_runs(tmp_path, (_shards()[1], []))
    monkeypatch.chdir(tmp_path)
    assert main(["report", path]) == 0
    assert capsys.readouterr().out == (
        "hybrid-analytics: 2 tests from 1 run, 1 event (0 client, 1 server); "
        "report written to analytics-report.html\n"
    )
    text = (tmp_path / "analytics-report.html").read_text(encoding="utf-8")
    assert text.count(_heading("tests/test_billing.py::test_refund")) == 1


HEADER = '{"hybrid_analytics_run": 1}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "PATH: cannot be read (No such file or directory)"),
        ("", "PATH: empty: not a run's records (written by --analytics-jsonl)"),
        (
            '{"event": "x"}\n',
            "PATH:1: not a run's records (written by --analytics-jsonl): the first line is "
            '\'{"event": "x"}\'',
        ),
        (
            HEADER + "{oops\n",
            "PATH:2: not JSON (Expecting property name enclosed in double quotes: line 1 "
            "column 2 (char 1))",
        ),
        (HEADER + "[1]\n", "PATH:2: expected a JSON object"),
        (
            HEADER + '{"test": {"nodeid": "t::a"}}\n',
            "PATH:2: a test record that cannot be read: KeyError('events')",
        ),
        (
            HEADER + '{"session_note": 3}\n',
            "PATH:2: a session note that cannot be read: AttributeError(\"'int' object has no "
            "attribute 'items'\")",
        ),
        (b"\xff\xfe{}", "PATH: not a run's records (not UTF-8 text)"),
    ],
)
def test_a_file_that_is_not_a_runs_records_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    [good] = _write_runs(tmp_path, (_shards()[0], []))
    path = tmp_path / "bad.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    html = tmp_path / "never.html"
    assert main(["report", good, str(path), "--html", str(html), "--audit"]) == 2
    assert capsys.readouterr() == ("", f"hybrid-analytics: {message.replace('PATH', str(path))}\n")
    assert not html.exists()


def test_a_bad_plan_or_an_unwritable_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [good] = _write_runs(tmp_path, (_shards()[0], []))
    missing = tmp_path / "no-plan.yaml"
    assert main(["report", good, "--tracking-plan", str(missing)]) == 2
    assert capsys.readouterr() == (
        "",
        f"hybrid-analytics: tracking plan {missing}: cannot be read (No such file or directory)\n",
    )
    under_a_file = Path(good) / "report.html"
    assert main(["report", good, "--html", str(under_a_file), "--audit"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"hybrid-analytics: cannot write {under_a_file}: ")


def test_report_of_one_runs_records_is_the_plugins_own_report(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same records give the same HTML report and the same audit as the plugin's."""
    pytester.makeini(INNER_INI)
    pytester.makepyfile(
        test_shop="""
        import json

        def send(analytics, event, distinct_id, **properties):
            body = {"api_key": "phc_4f9a7c2e81b3d6a5f0e9", "batch": [{"event": event,
                    "distinct_id": distinct_id, "properties": {"$lib": "posthog-python",
                    **properties}}]}
            assert analytics.api.handle("POST", "/batch/", {}, json.dumps(body)).status == 200

        def test_signup(analytics):
            send(analytics, "signed_up", "u1", plan="pro")

        def test_refund(analytics):
            send(analytics, "refund_issued", "u1", amount=3)
            assert False, "the refund was not booked"
        """
    )
    result = pytester.runpytest(
        "--analytics-jsonl=run.jsonl", "--analytics-report=plugin", "--analytics-audit"
    )
    result.assert_outcomes(passed=1, failed=1)
    capsys.readouterr()
    html = pytester.path / "cli.html"
    code = main(["report", str(pytester.path / "run.jsonl"), "--html", str(html), "--audit"])
    out = capsys.readouterr().out
    plugin = (pytester.path / "plugin" / "analytics-report.html").read_text(encoding="utf-8")
    assert _same_page(html.read_text(encoding="utf-8")) == _same_page(plugin)
    printed, summary = out.rstrip("\n").rsplit("\n", 1)
    assert printed.splitlines()[0].startswith("Analytics audit: ")
    start = result.outlines.index(printed.splitlines()[0])
    assert result.outlines[start : start + len(printed.splitlines())] == printed.splitlines()
    assert code == (1 if "FAIL" in printed else 0)
    assert summary.startswith("hybrid-analytics: 2 tests from 1 run, 2 events (0 client, 2 server)")


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command, options in (
        ("serve", ["--bind HOST", "--port", "--jsonl FILE", "--flag", "--payload", "--quiet"]),
        ("report", ["RUN.jsonl", "--html OUT.html", "--audit", "--tracking-plan PLAN.yaml"]),
    ):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert [option for option in options if option not in text] == []
        assert f"example: hybrid-analytics {command} " in " ".join(text.split())
