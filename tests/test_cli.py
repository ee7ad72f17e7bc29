"""``hybrid-analytics serve`` end to end: the installed console script, the published ``posthog``
SDK pointed at the URL it prints, the live terminal, the live page and its long poll, JSON Lines
loaded back, and a clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

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
from web_app import WebApp

from pytest_hybrid_analytics import CapturedEvent, RejectedRequest, assert_same_person, load_jsonl
from pytest_hybrid_analytics.cli import _format_line, _parser, _serve, main

SCRIPT = Path(sys.executable).with_name("hybrid-analytics")
BANNER = re.compile(r"hybrid-analytics collector on (http://127\.0\.0\.1:(\d+))")


class Serve:
    """``hybrid-analytics serve`` in a subprocess, its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        first = self.line()
        match = BANNER.fullmatch(first)
        assert match, first
        self.url, self.port = match[1], int(match[2])
        self.banner = [first]
        while self.banner[-1] != "Ctrl-C to stop.":
            self.banner.append(self.line())

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
    server = threading.Thread(target=lambda: done.put(_serve(options, out, wait)))
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
