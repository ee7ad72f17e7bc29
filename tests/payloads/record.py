"""Record the real HTTP requests that the published PostHog SDKs send.

Run from the repository root:

    /work/main/.venv/bin/python tests/payloads/record.py [scenario-name ...]

It starts a loopback HTTP server that answers like PostHog, drives posthog-js (in Debian's
Chromium through Playwright), the ``posthog`` Python SDK and posthog-node (through
``record_node.mjs``) against it, and writes one ``<sdk>-<scenario>.json`` file per scenario
next to this script. Each file keeps every ingestion and flags request byte for byte
(``body_base64``) plus the events the SDK itself reported through its own hook (``truth``).
Before a file is written, an independent decoder below checks that the truth and the wire
agree. The test suite does not run this script; it is how the data was made.

With scenario names as arguments (e.g. ``js-gzip python-sync``) only those are recorded.
``--version all`` (or ``--version posthog-js@1.312.0``, repeatable) records the SDK version
matrix of the README's "Supported SDK versions": one ``<sdk>-<version>.json`` per version.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_MODULES = ROOT / "fixtures" / "node_modules"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
TOKEN = "phc_recorder_token"
DEADLINE = 25.0  # seconds any single wait may take before the scenario fails

INGESTION_PATHS = ("/e/", "/i/v0/e/", "/batch/", "/i/v1/analytics/events", "/s/", "/capture/")
FLAGS_PATHS = ("/flags", "/decide")


# --------------------------------------------------------------------------------------------
# Loopback server


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class ServerState:
    """What the fake PostHog answers; replaced for each scenario."""

    remote_config: dict[str, Any] | None = None
    flags_response: dict[str, Any] = field(default_factory=lambda: {"flags": {}})
    decide_response: dict[str, Any] | None = None
    dist: Path = NODE_MODULES / "posthog-js" / "dist"
    pages: dict[str, str] = field(default_factory=dict)


class Collector(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.cond = threading.Condition()
        self.received: list[Received] = []
        self.state = ServerState()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-keep-alive
            super().handle_error(request, client_address)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self, state: ServerState) -> None:
        with self.cond:
            self.received = []
            self.state = state

    def record(self, item: Received) -> None:
        with self.cond:
            self.received.append(item)
            self.cond.notify_all()

    def snapshot(self) -> list[Received]:
        with self.cond:
            return list(self.received)

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = DEADLINE) -> Any:
        """Return predicate()'s first truthy value; re-check on every request (or every 0.5 s,
        for conditions that also depend on the browser), fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.cond:
                count = len(self.received)
            result = predicate()
            if result:
                return result
            with self.cond:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    paths = [f"{r.method} {r.path}" for r in self.received]
                    raise TimeoutError(f"timed out waiting for {what}; server saw {paths}")
                if len(self.received) == count:
                    self.cond.wait(min(remaining, 0.5))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Collector

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any) -> None:
        self._answer(200, json.dumps(payload).encode(), "application/json")

    def _handle(self) -> None:
        body = self._read_body() if self.command in ("POST", "PUT") else b""
        self.server.record(Received(self.command, self.path, list(self.headers.items()), body))
        state = self.server.state
        path = urlsplit(self.path).path
        if self.command == "OPTIONS":
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/flags"):
            # PostHog's /flags?config=true answer carries the remote config at its top level
            # (posthog-js 1.256..1.312 read their config from it), as /decide's always does.
            asks = "config=true" in self.path and state.remote_config is not None
            config = {**(state.remote_config or {})} if asks else {}
            self._json({**config, **state.flags_response})
        elif path.startswith("/decide"):
            self._json(state.decide_response or {})
        elif path == "/i/v1/analytics/events":
            self._json({"results": {}})
        elif path.startswith("/array/") and path.endswith("/config.js"):
            token = path.split("/")[2]
            if state.remote_config is None:
                self._answer(404, b"no remote config")
                return
            config = json.dumps({"config": state.remote_config, "siteApps": []})
            script = (
                "window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
                f"window._POSTHOG_REMOTE_CONFIG[{json.dumps(token)}]={config};"
            )
            self._answer(200, script.encode(), "application/javascript")
        elif path.startswith("/array/") and path.endswith("/config"):
            if state.remote_config is None:
                self._answer(404, b"no remote config")
            else:
                self._json(state.remote_config)
        elif path.startswith("/static/"):
            self._file(state.dist / Path(path).name)
        elif path.startswith("/pkg/"):
            _, _, package, name = path.split("/", 3)
            self._file(NODE_MODULES / package / "dist" / name)
        elif path in state.pages:
            self._answer(200, state.pages[path].encode(), "text/html; charset=utf-8")
        elif self.command == "POST" and path.startswith(INGESTION_PATHS):
            self._json({"status": 1})
        else:
            self._answer(404, b"not found")

    def _file(self, file: Path) -> None:
        if file.is_file() and ".." not in file.parts:
            self._answer(200, file.read_bytes(), "application/javascript")
        else:
            self._answer(404, b"no such file")

    do_GET = do_POST = do_OPTIONS = _handle


# --------------------------------------------------------------------------------------------
# Independent decoder (used only to check the truth against the wire)

_LZ_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def lz_decompress_from_base64(text: str) -> str:
    """LZString.decompressFromBase64 (lz-string 1.x), as posthog-js < 1.63 used for lz64."""
    values = [_LZ_KEY.index(c) for c in text]

    def value_at(i: int) -> int:
        return values[i] if i < len(values) else 0

    data_val, data_pos, data_index = value_at(0), 32, 1

    def read_bits(n: int) -> int:
        nonlocal data_val, data_pos, data_index
        bits, power = 0, 1
        while power != 1 << n:
            bit = data_val & data_pos
            data_pos >>= 1
            if data_pos == 0:
                data_pos = 32
                data_val = value_at(data_index)
                data_index += 1
            if bit:
                bits |= power
            power <<= 1
        return bits

    kind = read_bits(2)
    if kind == 2:
        return ""
    first = chr(read_bits(8 if kind == 0 else 16))
    dictionary: list[str] = ["", "", "", first]
    enlarge_in, num_bits = 4, 3
    w, result = first, [first]
    while True:
        if data_index > len(values):
            raise ValueError("truncated lz64 data")
        code = read_bits(num_bits)
        if code in (0, 1):
            dictionary.append(chr(read_bits(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
        elif code == 2:
            joined = "".join(result)
            return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1
        if code < len(dictionary):
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = w + w[0]
        else:
            raise ValueError("bad lz64 code")
        result.append(entry)
        dictionary.append(w + entry[0])
        enlarge_in -= 1
        w = entry
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1


def decode_body(path: str, headers: dict[str, str], body: bytes) -> tuple[Any, str]:
    """Return (decoded JSON, encoding label) for one request body."""
    lower = {k.lower(): v for k, v in headers.items()}
    labels = []
    content_encoding = lower.get("content-encoding", "")
    if content_encoding == "gzip" or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
        labels.append("gzip (Content-Encoding)" if content_encoding else "gzip")
    elif content_encoding == "deflate":
        body = zlib.decompress(body)
        labels.append("deflate")
    text = body.decode("utf-8")
    if text.startswith("data="):
        form = dict(part.split("=", 1) for part in text.split("&") if "=" in part)
        data = unquote(form["data"])
        query = parse_qs(urlsplit(path).query)
        compression = unquote(form.get("compression", "")) or query.get("compression", [""])[0]
        if compression == "lz64":
            text = lz_decompress_from_base64(data)
            labels.append("form data= lz64")
        else:
            text = base64.b64decode(data).decode("utf-8")
            labels.append(f"form data= base64 (compression={compression or 'absent'})")
    else:
        labels.append("json")
    return json.loads(text), " + ".join(labels)


def events_of(decoded: Any) -> list[dict[str, Any]]:
    if isinstance(decoded, list):
        return decoded
    if isinstance(decoded, dict) and isinstance(decoded.get("batch"), list):
        batch: list[dict[str, Any]] = decoded["batch"]
        return batch
    if isinstance(decoded, dict) and "event" in decoded:
        return [decoded]
    return []  # a flags request


def is_kept(r: Received) -> bool:
    path = urlsplit(r.path).path
    return r.method == "POST" and (path.startswith(INGESTION_PATHS + FLAGS_PATHS))


def wire_events(requests: list[Received]) -> list[dict[str, Any]]:
    found = []
    for r in requests:
        if is_kept(r):
            decoded, _ = decode_body(r.path, dict(r.headers), r.body)
            found.extend(events_of(decoded))
    return found


def event_key(event: dict[str, Any]) -> str | None:
    """uuid, or for SDKs too old to send one, the $insert_id."""
    return event.get("uuid") or (event.get("properties") or {}).get("$insert_id")


def truth_key(item: dict[str, Any]) -> str | None:
    return item.get("uuid") or item.get("insert_id")


def all_truth_on_wire(truth: list[dict[str, Any]], requests: list[Received]) -> bool:
    seen = {event_key(e) for e in wire_events(requests)}
    return bool(truth) and all(truth_key(t) in seen for t in truth)


# --------------------------------------------------------------------------------------------
# Output


@dataclass
class Scenario:
    sdk: str
    sdk_version: str
    name: str
    description: str
    requests: list[Received]
    truth: list[dict[str, Any]]
    transports: dict[int, tuple[str, str | None]]  # index in requests -> (transport, note)
    # what the description promises: the set of "<path>: <encoding>" labels and of transports
    encodings: set[str]
    transport_kinds: set[str]

    @property
    def filename(self) -> str:
        return f"{self.sdk}-{self.name}.json"


def check_and_write(scenario: Scenario) -> dict[str, Any]:
    kept = [(i, r) for i, r in enumerate(scenario.requests) if is_kept(r)]
    encodings: Counter[str] = Counter()
    on_wire: Counter[str | None] = Counter()
    wire_by_key: dict[str | None, dict[str, Any]] = {}
    out_requests = []
    for i, r in kept:
        headers = {k: v for k, v in r.headers if k.lower() != "host"}
        decoded, label = decode_body(r.path, headers, r.body)
        events = events_of(decoded)
        encodings[f"{urlsplit(r.path).path}: {label}"] += 1
        for event in events:
            on_wire[event_key(event)] += 1
            wire_by_key[event_key(event)] = event
        transport, note = scenario.transports.get(i, ("unknown", None))
        item: dict[str, Any] = {
            "method": r.method,
            "path": r.path,
            "headers": headers,
            "body_base64": base64.b64encode(r.body).decode("ascii"),
            "transport": transport,
        }
        if note:
            item["note"] = note
        out_requests.append(item)

    problems = []
    truth_counts = Counter(truth_key(t) for t in scenario.truth)
    for t in scenario.truth:
        key = truth_key(t)
        if on_wire[key] != truth_counts[key]:
            problems.append(f"{t} is on the wire {on_wire[key]} times")
            continue
        event = wire_by_key[key]
        distinct_id = event.get("distinct_id") or (event.get("properties") or {}).get("distinct_id")
        if event.get("event") != t["event"] or distinct_id != t["distinct_id"]:
            problems.append(f"{t} differs on the wire: {event.get('event')!r} {distinct_id!r}")
    extra = [(k, wire_by_key[k].get("event")) for k in on_wire if k not in truth_counts]
    if extra:
        problems.append(f"wire events missing from the truth: {extra}")
    seen_transports = {scenario.transports.get(i, ("unknown", None))[0] for i, _ in kept}
    if set(encodings) != scenario.encodings:
        problems.append(f"encodings {sorted(encodings)} != expected {sorted(scenario.encodings)}")
    if seen_transports != scenario.transport_kinds:
        problems.append(f"transports {seen_transports} != expected {scenario.transport_kinds}")
    if problems:
        raise AssertionError(
            f"{scenario.filename}: truth and wire disagree:\n" + "\n".join(problems)
        )

    document = {
        "sdk": scenario.sdk,
        "sdk_version": scenario.sdk_version,
        "scenario": scenario.name,
        "description": scenario.description,
        "requests": out_requests,
        "truth": scenario.truth,
    }
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if len(text.encode()) > 200_000:
        raise AssertionError(f"{scenario.filename} is {len(text.encode())} bytes (> 200 KB)")
    (HERE / scenario.filename).write_text(text, encoding="utf-8")
    summary = {
        "file": scenario.filename,
        "requests": len(out_requests),
        "truth": len(scenario.truth),
        "encodings": dict(encodings),
        "transports": dict(Counter(r["transport"] for r in out_requests)),
    }
    print(json.dumps(summary))
    return summary


# --------------------------------------------------------------------------------------------
# posthog-js in Chromium

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Payload recorder</title>
<script src="/pkg/{package}/{bundle}"></script>
<script>
function __truthPush(item) {{
  var all = JSON.parse(localStorage.getItem('__truth') || '[]');
  all.push(item);
  localStorage.setItem('__truth', JSON.stringify(all));
}}
var options = {options};
options.api_host = location.origin;
{hook}
posthog.init({token}, options);
</script></head>
<body>
<h1>Payload recorder</h1>
<p id="text">Some text for the recorder.</p>
<button id="buy" class="cta primary" data-attr="buy"
        onclick="window.onBuy && onBuy()">Buy now</button>
<a id="next" href="/next">Next page</a>
</body></html>
"""

# posthog-js >= 1.x before_send: called with the final event, return it to send it.
BEFORE_SEND_HOOK = """options.before_send = function (e) {
  if (e) {
    __truthPush({uuid: e.uuid, event: e.event, distinct_id: e.properties.distinct_id});
  }
  return e;
};"""

# posthog-js 1.57 has no before_send and no event uuid: its _onCapture(name, data) hook gets the
# event just before it is queued or sent; the event is identified by properties.$insert_id.
ON_CAPTURE_HOOK = """options._onCapture = function (name, data) {
  __truthPush({uuid: data.uuid || null, event: name, distinct_id: data.properties.distinct_id,
               insert_id: data.properties.$insert_id});
};"""

NEXT_PAGE = "<!doctype html><html><head><title>Next</title></head><body>next</body></html>"

GZIP_CONFIG = {
    "supportedCompression": ["gzip-js"],
    "autocapture_opt_out": False,
    "analytics": {"endpoint": "/i/v0/e/"},
    "hasFeatureFlags": True,
}


GZIP_ALL = {"/e/: gzip + json", "/flags/: gzip + json", "/i/v0/e/: gzip + json"}
B64 = "form data= base64 (compression=base64)"
BASE64_AFTER_CONFIG = {"/e/: gzip + json", f"/flags/: {B64}", f"/i/v0/e/: {B64}"}


def package_version(package: str) -> str:
    version: str = json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    return version


class BrowserRun:
    """One fresh browser context on the recorder page, remembering what Playwright saw."""

    def __init__(self, browser: Any, server: Collector) -> None:
        self.server = server
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.playwright_saw: list[tuple[str, str, bytes | None]] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.context.on("request", self._on_request)

    def _on_request(self, request: Any) -> None:
        if request.method == "POST":
            path = request.url[len(self.server.origin) :]
            self.playwright_saw.append((path, request.resource_type, request.post_data_buffer))

    def truth(self) -> list[dict[str, Any]]:
        truth: list[dict[str, Any]] = self.page.evaluate(
            "JSON.parse(localStorage.getItem('__truth') || '[]')"
        )
        return truth

    def wait_for_requests(self, what: str, predicate: Callable[[list[Received]], bool]) -> None:
        self.server.wait_for(what, lambda: predicate(self.server.snapshot()))

    def wait_for_truth_on_wire(self, minimum: int = 1) -> list[dict[str, Any]]:
        # Wait until truth and wire hold the same events: the truth can lag behind the wire
        # (localStorage written by an unloading page reaches the next page a little later).
        def done() -> list[dict[str, Any]] | None:
            truth = self.truth()
            wire = {event_key(e) for e in wire_events(self.server.snapshot())}
            ok = len(truth) >= minimum and {truth_key(t) for t in truth} == wire
            return truth if ok else None

        truth: list[dict[str, Any]] = self.server.wait_for(
            "the same events in the truth and on the wire", done
        )
        return truth

    def transports(
        self, requests: list[Received], default: str
    ) -> dict[int, tuple[str, str | None]]:
        kinds = {"fetch": "fetch", "xhr": "xhr", "ping": "beacon"}
        seen = [(p, kinds.get(t, t), b) for p, t, b in self.playwright_saw]
        result: dict[int, tuple[str, str | None]] = {}
        for i, r in enumerate(requests):
            match = next((s for s in seen if s[0] == r.path and s[2] == r.body), None)
            if match is not None:
                seen.remove(match)
                result[i] = (match[1], None)
            elif {k.lower(): v for k, v in r.headers}.get("sec-fetch-mode") == "no-cors":
                note = (
                    "sendBeacon at pagehide: reached the server but not Playwright's request event"
                )
                result[i] = ("beacon", note)
            else:
                result[i] = (default, "not seen by Playwright's request event")
        return result

    def close(self) -> None:
        self.context.close()


@contextmanager
def browser_page(
    browser: Any,
    server: Collector,
    *,
    options: dict[str, Any],
    remote_config: dict[str, Any] | None,
    package: str = "posthog-js",
    bundle: str = "array.full.js",
    hook: str = BEFORE_SEND_HOOK,
    decide_response: dict[str, Any] | None = None,
    flags_response: dict[str, Any] | None = None,
) -> Iterator[BrowserRun]:
    options = {"opt_out_useragent_filter": True, **options}
    page = PAGE.format(
        package=package,
        bundle=bundle,
        options=json.dumps(options),
        hook=hook,
        token=json.dumps(TOKEN),
    )
    server.reset(
        ServerState(
            remote_config=remote_config,
            decide_response=decide_response,
            flags_response=flags_response or {"flags": {}},
            dist=NODE_MODULES / package / "dist",
            pages={"/": page, "/next": NEXT_PAGE},
        )
    )
    run = BrowserRun(browser, server)
    try:
        run.page.goto(server.origin + "/")
        yield run
    except BaseException:
        print("\n".join(run.console[-40:]), file=sys.stderr)
        raise
    finally:
        run.close()


def has_post(prefix: str, count: int = 1) -> Callable[[list[Received]], bool]:
    def check(requests: list[Received]) -> bool:
        posts = [r for r in requests if r.method == "POST" and r.path.startswith(prefix)]
        return len(posts) >= count

    return check


def flags_with_group(requests: list[Received]) -> bool:
    for r in requests:
        if r.method == "POST" and r.path.startswith("/flags"):
            decoded, _ = decode_body(r.path, dict(r.headers), r.body)
            if decoded.get("groups") == {"company": "acme"}:
                return True
    return False


def js_scenario(
    run: BrowserRun,
    name: str,
    description: str,
    *,
    encodings: set[str],
    transport_kinds: set[str] | None = None,
    default_transport: str = "fetch",
    package: str = "posthog-js",
    minimum_truth: int = 1,
) -> Scenario:
    for _ in range(5):
        truth = run.wait_for_truth_on_wire(minimum_truth)
        requests = run.server.snapshot()
        if run.truth() == truth and all_truth_on_wire(truth, requests):
            break  # nothing was captured or sent between the check and the snapshot
    else:
        raise AssertionError(f"{name}: the SDK kept capturing; no stable snapshot")
    run.page.evaluate("1")  # let Playwright deliver the request events it still holds
    kept = [r for r in requests if is_kept(r)]
    transports = run.transports(kept, default_transport)
    return Scenario(
        "posthog-js",
        package_version(package),
        name,
        description,
        kept,
        truth,
        transports,
        encodings,
        transport_kinds or {default_transport},
    )


def js_gzip(browser: Any, server: Collector) -> Scenario:
    options = {"request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(browser, server, options=options, remote_config=GZIP_CONFIG) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        # the app's own click handler captures, so button_clicked and $autocapture are queued
        # in the same click dispatch and leave in one batch
        run.page.evaluate(
            "window.onBuy = function () { posthog.capture('button_clicked', {button: 'buy',"
            " price: 9.99, tags: ['a', 'b'], nested: {ok: true, n: null},"
            " text: 'caf\\u00e9 \\u2603 \\ud83d\\ude80'}) }; 'installed'"
        )
        run.page.click("#buy")
        return js_scenario(
            run,
            "gzip",
            "posthog-js 1.449.2 (dist/array.full.js) in headless Chromium, init with "
            "opt_out_useragent_filter and request_queue_config.flush_interval_ms=250. Remote "
            "config (config.js) = supportedCompression ['gzip-js'], autocapture_opt_out false, "
            "analytics.endpoint '/i/v0/e/', hasFeatureFlags true. Requests: the initial "
            "$pageview sent instantly to /e/ (before remote config switched the endpoint); the "
            "flags POST /flags/?v=2; then a real click on <button id=buy> whose onclick calls "
            "posthog.capture('button_clicked', {...non-ASCII text...}), so button_clicked and "
            "the $autocapture of that click leave in one batch to /i/v0/e/. All "
            "bodies are raw gzip (text/plain, no compression query param) of "
            '{"api_key","batch":[...],"sent_at"}.',
            encodings=GZIP_ALL,
            minimum_truth=3,
        )


def js_base64(browser: Any, server: Collector) -> Scenario:
    config = {**GZIP_CONFIG, "supportedCompression": ["base64"]}
    options = {"request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(browser, server, options=options, remote_config=config) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.evaluate("posthog.capture('button_clicked', {button: 'buy', price: 9.99})")
        return js_scenario(
            run,
            "base64",
            "posthog-js 1.449.2 in Chromium; remote config supportedCompression ['base64'], "
            "analytics.endpoint '/i/v0/e/'. The initial $pageview is still gzip to /e/ (sent "
            "before the remote config arrived, when compression defaults to gzip-js); the flags "
            "POST and the later button_clicked capture are form bodies data=<urlencoded base64 "
            "JSON> (application/x-www-form-urlencoded) with ?compression=base64 in the URL.",
            encodings=BASE64_AFTER_CONFIG,
            minimum_truth=2,
        )


def js_json(browser: Any, server: Collector) -> Scenario:
    options = {"disable_compression": True, "request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(browser, server, options=options, remote_config=GZIP_CONFIG) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.evaluate("posthog.capture('button_clicked', {button: 'buy', price: 9.99})")
        return js_scenario(
            run,
            "json",
            "posthog-js 1.449.2 in Chromium, init with disable_compression: true (remote config "
            "still offers gzip-js). Every body, including the initial $pageview and the flags "
            "POST, is plain JSON with Content-Type application/json.",
            encodings={"/e/: json", "/flags/: json", "/i/v0/e/: json"},
            minimum_truth=2,
        )


def js_identify(browser: Any, server: Collector) -> Scenario:
    options = {"request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(browser, server, options=options, remote_config=GZIP_CONFIG) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.evaluate(
            "posthog.identify('user-42', {email: 'user42@example.com'},"
            " {first_seen: '2024-01-01'});"
            " posthog.alias('alias-42');"
            " posthog.setPersonProperties({plan: 'pro'});"
            " posthog.group('company', 'acme', {name: 'Acme'});"
            " posthog.capture('after_group', {step: 5})"
        )
        run.wait_for_requests("the flags reload with the group", flags_with_group)
        return js_scenario(
            run,
            "identify",
            "posthog-js 1.449.2 in Chromium, gzip remote config. Anonymous $pageview and the "
            "first flags POST; then in one script: posthog.identify('user-42', {email}, "
            "{first_seen}) -> $identify sent at once, alone (top-level $set/$set_once, "
            "properties.$anon_distinct_id); posthog.alias('alias-42') -> $create_alias; "
            "setPersonProperties({plan:'pro'}) -> $set with properties.$set; "
            "group('company','acme',{name:'Acme'}) -> $groupidentify; capture('after_group') "
            "carrying $groups; these four leave in one batch. The flags reloads triggered by "
            "identify and group were debounced into one /flags POST with distinct_id user-42, "
            "$anon_distinct_id, groups and group_properties.",
            encodings=GZIP_ALL,
            minimum_truth=6,
        )


def js_unload(browser: Any, server: Collector, *, base64_beacon: bool) -> Scenario:
    config = {k: v for k, v in GZIP_CONFIG.items() if k != "supportedCompression"}
    if not base64_beacon:
        config["supportedCompression"] = ["gzip-js"]
    # default flush interval (3 s): the captures are still queued when the page goes away
    with browser_page(browser, server, options={}, remote_config=config) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.wait_for_requests("the initial $pageview", has_post("/e/"))
        run.page.evaluate(
            "posthog.capture('queued_one', {n: 1}); posthog.capture('queued_two', {n: 2});"
            " document.getElementById('next').click()"
        )
        run.page.wait_for_url("**/next")
        if base64_beacon:
            description = (
                "posthog-js 1.449.2 in Chromium; remote config WITHOUT supportedCompression, so "
                "the SDK has no compression after config: the initial $pageview is gzip (sent "
                "before config) and the flags POST is base64 form. Two captures are queued "
                "(default 3 s flush) and a link click navigates away at once: at pagehide the "
                "queue plus $pageleave leave in ONE sendBeacon, forced to base64 "
                "(?compression=base64, form data=) because beacons must be CORS-simple. The "
                "beacon reached the loopback server but not Playwright's request event."
            )
            name = "unload-beacon-base64"
        else:
            description = (
                "posthog-js 1.449.2 in Chromium, gzip remote config, endpoint /i/v0/e/. Two "
                "captures are queued (default 3 s flush) and a link click navigates away at "
                "once: at pagehide the queued events and $pageleave leave by sendBeacon as gzip "
                "(Blob type text/plain). The beacon reached the loopback server but not "
                "Playwright's request event."
            )
            name = "unload-beacon"
        encodings = BASE64_AFTER_CONFIG if base64_beacon else GZIP_ALL
        return js_scenario(
            run,
            name,
            description,
            encodings=encodings,
            transport_kinds={"fetch", "beacon"},
            minimum_truth=5,  # $pageview, queued_one, queued_two, $autocapture, $pageleave
        )


def js_xhr(browser: Any, server: Collector) -> Scenario:
    options = {"api_transport": "XHR", "request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(browser, server, options=options, remote_config=GZIP_CONFIG) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.evaluate("posthog.capture('button_clicked', {button: 'buy'})")
        return js_scenario(
            run,
            "xhr",
            "posthog-js 1.449.2 in Chromium with api_transport: 'XHR' and the gzip remote "
            "config: the $pageview, flags POST and button_clicked go out by XMLHttpRequest "
            "(Playwright resource_type xhr) instead of fetch.",
            default_transport="xhr",
            encodings=GZIP_ALL,
            minimum_truth=2,
        )


def js_recording(browser: Any, server: Collector) -> Scenario:
    config = {**GZIP_CONFIG, "sessionRecording": {"endpoint": "/s/"}}
    options = {"request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(
        browser, server, options=options, remote_config=config, bundle="array.js"
    ) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.wait_for_function("posthog.sessionRecordingStarted()")
        run.page.evaluate(
            "document.getElementById('text').textContent = 'changed by the recorder script'"
        )
        run.page.click("#buy")
        run.wait_for_requests("a /s/ POST", has_post("/s/"))
        return js_scenario(
            run,
            "recording",
            "posthog-js 1.449.2 (dist/array.js; the lazy recorder is loaded from "
            "/static/<version>/lazy-recorder.js, served from the package's dist) with remote "
            "config sessionRecording {endpoint:'/s/'} and gzip. Besides $pageview/$autocapture "
            "and flags, the recorder POSTs $snapshot events (rrweb meta, full snapshot, "
            "incremental DOM mutation/click) to /s/ as gzip bare JSON arrays without an "
            "api_key envelope.",
            encodings=GZIP_ALL | {"/s/: gzip + json"},
            minimum_truth=3,
        )


def js_legacy_lz64(browser: Any, server: Collector) -> Scenario:
    decide = {
        "config": {"enable_collect_everything": False},
        "editorParams": {},
        "featureFlags": {},
        "isAuthenticated": False,
        "sessionRecording": False,
        "supportedCompression": ["lz64"],
    }
    with browser_page(
        browser,
        server,
        options={"autocapture": False},
        remote_config=None,
        package="posthog-js-v1-57",
        hook=ON_CAPTURE_HOOK,
        decide_response=decide,
    ) as run:
        run.wait_for_requests("the /decide POST", has_post("/decide"))
        run.page.evaluate(
            "posthog.capture('button_clicked', {button: 'buy', price: 9.99});"
            " posthog.capture('second_event', {text: 'caf\\u00e9'})"
        )
        return js_scenario(
            run,
            "legacy-1.57-lz64",
            "posthog-js 1.57.2 (2023, dist/array.full.js) in Chromium, XHR transport; no bot "
            "filter exists in that version and no event uuid (events are matched by "
            "properties.$insert_id; truth comes from the _onCapture hook, uuid null). Config "
            "comes from POST /decide/?v=3 (body data=<base64 JSON>, no compression marker) "
            "answered with supportedCompression ['lz64']. The $pageview is sent before that "
            "answer, as data=<urlencoded base64 JSON> with NO compression marker anywhere; the "
            "later captures are batched to /e/ as a form body "
            "data=<urlencoded LZString.compressToBase64(JSON)>&compression=lz64 (the marker is "
            "in the body, not the URL) and decode to a bare JSON array. Every URL carries "
            "?ip=1&_=<ms>&ver=1.57.2.",
            package="posthog-js-v1-57",
            encodings={
                "/e/: form data= base64 (compression=absent)",
                "/decide/: form data= base64 (compression=absent)",
                "/e/: form data= lz64",
            },
            transport_kinds={"xhr"},
            minimum_truth=3,
        )


def js_legacy_bare(browser: Any, server: Collector) -> Scenario:
    options = {"request_queue_config": {"flush_interval_ms": 250}}
    with browser_page(
        browser,
        server,
        options=options,
        remote_config=GZIP_CONFIG,
        package="posthog-js-v1-400",
    ) as run:
        run.wait_for_requests("the flags POST", has_post("/flags"))
        run.page.evaluate(
            "posthog.capture('button_clicked', {button: 'buy', price: 9.99});"
            " posthog.capture('second_event', {n: 2})"
        )
        return js_scenario(
            run,
            "legacy-1.400-bare",
            "posthog-js 1.400.1 (before the 1.407.3 api_key/batch envelope) in Chromium with the "
            "gzip remote config: the instantly-sent $pageview body is a single event object, "
            "the batched captures a bare JSON array; both raw gzip (text/plain) with only "
            "?_=<ms> in the URL (no compression param). The flags POST is still base64 form "
            "(data=, ?v=2&_=<ms>&ver=1.400.1&compression=base64) and its body has no sent_at.",
            package="posthog-js-v1-400",
            encodings={"/e/: gzip + json", f"/flags/: {B64}", "/i/v0/e/: gzip + json"},
            minimum_truth=3,
        )


# --------------------------------------------------------------------------------------------
# posthog (Python)


def python_version() -> str:
    from posthog.version import VERSION

    return VERSION


def python_scenario(
    server: Collector,
    name: str,
    description: str,
    truth: list[dict[str, Any]],
    transport: str,
    encodings: set[str],
) -> Scenario:
    server.wait_for(
        "every truth event on the wire", lambda: all_truth_on_wire(truth, server.snapshot())
    )
    kept = [r for r in server.snapshot() if is_kept(r)]
    transports: dict[int, tuple[str, str | None]] = {i: (transport, None) for i in range(len(kept))}
    return Scenario(
        "posthog-python",
        python_version(),
        name,
        description,
        kept,
        truth,
        transports,
        encodings,
        {transport},
    )


def truth_hook(truth: list[dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def before_send(msg: dict[str, Any]) -> dict[str, Any]:
        truth.append(
            {"uuid": msg["uuid"], "event": msg["event"], "distinct_id": msg["distinct_id"]}
        )
        return msg

    return before_send


@contextmanager
def local_timezone(posix_tz: str) -> Iterator[None]:
    """Run with a fixed local timezone, so naive datetimes are told apart from UTC ones."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = posix_tz
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def py_sync(server: Collector) -> Scenario:
    from posthog import Posthog

    server.reset(ServerState())
    truth: list[dict[str, Any]] = []
    client = Posthog(
        TOKEN, host=server.origin, sync_mode=True, max_retries=0, before_send=truth_hook(truth)
    )
    client.capture(
        "order_placed",
        distinct_id="py-user-1",
        properties={"total": 12.5, "items": ["a", "b"], "note": "caf\u00e9 \u2603"},
        groups={"company": "acme"},
    )
    client.set(distinct_id="py-user-1", properties={"plan": "pro"})
    client.set_once(distinct_id="py-user-1", properties={"first_seen": "2024-01-01"})
    client.alias(previous_id="py-anon-1", distinct_id="py-user-1")
    client.group_identify("company", "acme", {"name": "Acme"}, distinct_id="py-user-1")
    with local_timezone("RECORDER-3"):  # POSIX: local time is UTC+03:00
        client.capture(
            "naive_timestamp",
            distinct_id="py-user-1",
            timestamp=dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
            properties={"timestamp_given": "naive 2024-05-06T07:08:09.123456, local tz +03:00"},
        )
        now = dt.datetime.now()  # naive local "now"
        client.capture(
            "naive_now_timestamp",
            distinct_id="py-user-1",
            timestamp=now,
            properties={"timestamp_given": f"naive datetime.now() {now.isoformat()} (+03:00)"},
        )
    client.capture(
        "aware_timestamp",
        distinct_id="py-user-1",
        timestamp=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        properties={"timestamp_given": "aware 2024-05-06T07:08:09+02:00"},
    )
    client.shutdown()
    return python_scenario(
        server,
        "sync",
        f"posthog {python_version()} Client(sync_mode=True, max_retries=0): one POST /batch/ "
        "per call, plain JSON {batch, historical_migration, sent_at, api_key}. Calls: capture "
        "with properties and groups; set; set_once; alias(previous_id='py-anon-1', "
        "distinct_id='py-user-1') -> $create_alias with distinct_id 'py-anon-1'; "
        "group_identify -> $groupidentify; then, with the process's local timezone set to "
        "UTC+03:00: a capture with the naive datetime(2024,5,6,7,8,9,123456), which the SDK "
        "labels as UTC unchanged ('2024-05-06T07:08:09.123456+00:00'), and a capture with a "
        "naive datetime.now(), which the SDK (value within 5 s of now) reads as local time and "
        "converts to UTC (3 hours earlier); finally a capture with an aware +02:00 timestamp, "
        "converted to UTC ('2024-05-06T05:08:09+00:00'). properties.timestamp_given says what "
        "was passed.",
        truth,
        "requests",
        {"/batch/: json"},
    )


def py_gzip_batch(server: Collector) -> Scenario:
    from posthog import Posthog

    server.reset(ServerState())
    truth: list[dict[str, Any]] = []
    client = Posthog(
        TOKEN,
        host=server.origin,
        gzip=True,
        max_retries=0,
        flush_interval=30,
        before_send=truth_hook(truth),
    )
    for n in range(5):
        client.capture("batched_event", distinct_id=f"py-user-{n % 2}", properties={"n": n})
    client.flush()
    client.shutdown()
    return python_scenario(
        server,
        "gzip-batch",
        f"posthog {python_version()} threaded Client(gzip=True, max_retries=0, "
        "flush_interval=30): 5 captures then flush() -> one POST /batch/ with "
        "Content-Encoding: gzip and Content-Type application/json, 5 events in batch.",
        truth,
        "requests",
        {"/batch/: gzip (Content-Encoding) + json"},
    )


def py_v1(server: Collector) -> Scenario:
    from posthog import Posthog

    server.reset(ServerState())
    truth: list[dict[str, Any]] = []
    client = Posthog(
        TOKEN,
        host=server.origin,
        capture_mode="v1",
        capture_compression="gzip",
        max_retries=0,
        flush_interval=30,
        before_send=truth_hook(truth),
    )
    client.capture(
        "v1_event", distinct_id="py-user-1", properties={"n": 1, "$session_id": "sess-1"}
    )
    client.set(distinct_id="py-user-1", properties={"plan": "pro"})
    client.capture("v1_personless", properties={"n": 2})
    client.flush()
    client.shutdown()
    return python_scenario(
        server,
        "v1",
        f"posthog {python_version()} Client(capture_mode='v1', capture_compression='gzip'): "
        "POST /i/v1/analytics/events with Authorization: Bearer <token>, PostHog-Sdk-Info, "
        "PostHog-Attempt, PostHog-Request-Id, PostHog-Request-Timestamp and Content-Encoding: "
        "gzip; body {created_at, batch:[{event, uuid, distinct_id, timestamp, options, "
        "properties}]}. Events: a capture with $session_id, a $set, and a personless capture "
        '(no distinct_id). Answered 200 {"results": {}}.',
        truth,
        "requests",
        {"/i/v1/analytics/events: gzip (Content-Encoding) + json"},
    )


def py_flags(server: Collector) -> Scenario:
    from posthog import Posthog

    flags = {
        "flags": {
            "new-checkout": {
                "key": "new-checkout",
                "value": "test",
                "failed": False,
                "reason": {
                    "code": "condition_match",
                    "condition_index": 0,
                    "description": "Matched condition set 1",
                },
                "metadata": {"id": 42, "version": 3, "payload": '{"color": "blue"}'},
            }
        },
        "requestId": "00000000-0000-4000-8000-000000000042",
        "evaluatedAt": 1714979289000,
        "errorsWhileComputingFlags": False,
    }
    server.reset(ServerState(flags_response=flags))
    truth: list[dict[str, Any]] = []
    client = Posthog(
        TOKEN, host=server.origin, sync_mode=True, max_retries=0, before_send=truth_hook(truth)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # get_feature_flag is deprecated
        value = client.get_feature_flag(
            "new-checkout", "py-user-1", person_properties={"plan": "pro"}
        )
    assert value == "test", value
    snapshot = client.evaluate_flags("py-user-2", groups={"company": "acme"})
    assert snapshot.get_flag("new-checkout") == "test"
    client.capture("checkout_started", distinct_id="py-user-2", flags=snapshot)
    client.shutdown()
    return python_scenario(
        server,
        "flags",
        f"posthog {python_version()} Client(sync_mode=True): get_feature_flag('new-checkout', "
        "'py-user-1', person_properties={plan: pro}) -> POST /flags/?v=4 (plain JSON with "
        "api_key, flag_keys_to_evaluate) answered with the v4 typed shape (value 'test', "
        "payload, reason, metadata), then its $feature_flag_called event to /batch/. Then "
        "evaluate_flags('py-user-2', groups={company: acme}) -> a second /flags POST (no "
        "flag_keys_to_evaluate), snapshot.get_flag('new-checkout') -> $feature_flag_called, "
        "and capture('checkout_started', flags=snapshot) carrying $feature/new-checkout and "
        "$active_feature_flags with no extra request.",
        truth,
        "requests",
        {"/flags/: json", "/batch/: json"},
    )


def py_async(server: Collector) -> Scenario:
    from posthog import AsyncPosthog

    server.reset(ServerState())
    truth: list[dict[str, Any]] = []

    async def main() -> None:
        client = AsyncPosthog(
            TOKEN, host=server.origin, max_retries=0, before_send=truth_hook(truth)
        )
        await client.capture_immediate("async_event", distinct_id="py-async-1", properties={"n": 1})
        await client.capture_immediate("async_event", distinct_id="py-async-1", properties={"n": 2})
        await client.shutdown()

    asyncio.run(main())
    return python_scenario(
        server,
        "async",
        f"posthog {python_version()} AsyncPosthog(max_retries=0) over httpx: two "
        "await capture_immediate(...) calls, each one POST /batch/ with one event (plain JSON).",
        truth,
        "httpx",
        {"/batch/: json"},
    )


# --------------------------------------------------------------------------------------------
# posthog-node


def node_scenario(
    server: Collector,
    name: str,
    description: str,
    encodings: set[str],
    package: str = "posthog-node",
) -> Scenario:
    server.reset(ServerState())
    node = shutil.which("node") or "node"
    proc = subprocess.run(
        [node, str(HERE / "record_node.mjs"), server.origin, TOKEN, name, package],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"record_node.mjs {name} failed:\n{proc.stdout}\n{proc.stderr}")
    truth = json.loads(proc.stdout.strip().splitlines()[-1])
    server.wait_for(
        "every truth event on the wire", lambda: all_truth_on_wire(truth, server.snapshot())
    )
    kept = [r for r in server.snapshot() if is_kept(r)]
    transports: dict[int, tuple[str, str | None]] = {
        i: ("node-fetch", None) for i in range(len(kept))
    }
    version = package_version(package)
    return Scenario(
        "posthog-node",
        version,
        name,
        description,
        kept,
        truth,
        transports,
        encodings,
        {"node-fetch"},
    )


def node_gzip(server: Collector) -> Scenario:
    return node_scenario(
        server,
        "gzip",
        "posthog-node 5.70.0 on Node 20 with default options (flushAt 20, gzip on): 3 "
        "capture() + identify() + alias(), then await client.shutdown() -> one POST /batch/ "
        "with Content-Encoding: gzip, Content-Type application/json, body "
        "{api_key, batch, sent_at}, distinct_id top-level in each event. Truth is the "
        "SDK's own 'flush' event (the messages it reports as sent).",
        {"/batch/: gzip (Content-Encoding) + json"},
    )


def node_plain(server: Collector) -> Scenario:
    return node_scenario(
        server,
        "plain",
        "posthog-node 5.70.0 with disableCompression: true: the same calls as the gzip "
        "scenario, one POST /batch/ with a plain JSON body and no Content-Encoding.",
        {"/batch/: json"},
    )


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# The SDK version matrix (README, 'Supported SDK versions'): one recording per version,
# ``<sdk>-<version>.json``, recorded with ``--version`` (see RECORDING.md)

FLAG = "new-checkout"
FLAG_REASON = {"code": "condition_match", "condition_index": 0, "description": "Matched set 1"}
#: /flags?v=2 (posthog-js, posthog-node, posthog-python < 7), with the flag set to "test".
FLAGS_V2 = {
    "flags": {
        FLAG: {
            "key": FLAG,
            "enabled": True,
            "variant": "test",
            "reason": FLAG_REASON,
            "metadata": {"id": 1, "version": 1, "payload": None, "description": None},
        }
    },
    "errorsWhileComputingFlags": False,
    "requestId": "00000000-0000-4000-8000-000000000001",
    "quotaLimited": [],
}
#: /flags?v=4 (posthog-python 7): typed values.
FLAGS_V4 = {
    **FLAGS_V2,
    "flags": {
        FLAG: {
            "key": FLAG,
            "value": "test",
            "failed": False,
            "reason": FLAG_REASON,
            "metadata": {"id": 1, "version": 1, "payload": None, "description": None},
        }
    },
}
#: /decide (posthog-js 1.57, 1.203, 1.234): the remote config and the flags in one answer.
DECIDE = {
    **GZIP_CONFIG,
    "config": {"enable_collect_everything": True},
    "featureFlags": {FLAG: "test"},
    "featureFlagPayloads": {},
    "errorsWhileComputingFlags": False,
}
#: What each posthog-js version of the matrix sends (path: encoding), recorded with the gzip
#: remote config: where the config comes from decides it (the first requests leave before).
_FLAGS_B64 = {"/e/: gzip + json", f"/flags/: {B64}", "/i/v0/e/: gzip + json"}
_DECIDE_B64 = {"/e/: gzip + json", f"/decide/: {B64}", "/i/v0/e/: gzip + json"}
JS_VERSION_ENCODINGS: dict[str, set[str]] = {
    "1.57.2": {
        "/decide/: form data= base64 (compression=absent)",
        "/e/: form data= base64 (compression=absent)",
        "/e/: gzip + json",
    },
    "1.203.2": _DECIDE_B64,
    "1.234.4": _DECIDE_B64,
    **dict.fromkeys(("1.256.0", "1.268.9", "1.312.0", "1.364.4"), _FLAGS_B64),
    **dict.fromkeys(("1.396.3", "1.400.1"), _FLAGS_B64),
    **dict.fromkeys(("1.434.18", "1.449.2"), GZIP_ALL),
}
JOURNEY = """
posthog.capture('purchase_clicked', {plan: 'pro', price: 29.99, text: 'caf\\u00e9 \\u2603'});
posthog.getFeatureFlag('new-checkout');
posthog.identify('user-42', {email: 'user42@example.com'});
"""
LEAVE = (
    "posthog.capture('queued_one', {n: 1}); posthog.capture('queued_two', {n: 2});"
    " location.href = '/next';"
)


def matrix() -> dict[str, tuple[str, ...]]:
    """The versions the README table proves, per SDK."""
    from pytest_hybrid_analytics._model.sdk_versions import SUPPORTED

    return SUPPORTED


def js_package(version: str) -> str:
    """The npm alias in fixtures/ that pins posthog-js ``version``."""
    for folder in sorted(NODE_MODULES.glob("posthog-js*")):
        if (folder / "package.json").is_file() and package_version(folder.name) == version:
            return folder.name
    raise SystemExit(f"posthog-js {version} is not installed in {NODE_MODULES} (npm ci)")


def js_version(browser: Any, server: Collector, version: str) -> Scenario:
    package = js_package(version)
    legacy = version == "1.57.2"  # no before_send, no uuid: its _onCapture hook
    with browser_page(
        browser,
        server,
        options={},  # the default 3 s batch: the last captures are still queued at pagehide
        remote_config=GZIP_CONFIG,
        package=package,
        hook=ON_CAPTURE_HOOK if legacy else BEFORE_SEND_HOOK,
        decide_response=DECIDE,
        flags_response=FLAGS_V2,
    ) as run:
        run.page.wait_for_function(
            "posthog.getFeatureFlag && posthog.getFeatureFlag('new-checkout', {send_event: false})"
            " === 'test'"
        )
        run.page.evaluate(JOURNEY)
        # All delivered before the page leaves: a request still in flight at pagehide would
        # be sent again in the beacon (posthog-js's own retry at unload), a second copy.
        run.wait_for_truth_on_wire(4)
        run.page.evaluate(LEAVE)
        run.page.wait_for_url("**/next")
        kinds = {"xhr" if legacy else "fetch", "beacon"}
        return js_scenario(
            run,
            version,
            f"posthog-js {version} (the npm alias {package}, dist/array.full.js) in headless "
            "Chromium, same-origin, its defaults (3 s batch) plus opt_out_useragent_filter; "
            "the gzip remote config served where this version reads it (config.js, the "
            "/flags?config=true answer or /decide), the flag new-checkout = 'test'. Once the "
            "flag is loaded: capture('purchase_clicked'), getFeatureFlag('new-checkout') "
            "($feature_flag_called), identify('user-42'), all delivered; then two captures and a "
            "navigation "
            "at once: they leave with $pageleave in the sendBeacon at pagehide. The matrix's "
            "browser journey (tests/test_versions_browser.py), as it goes on the wire.",
            encodings=JS_VERSION_ENCODINGS.get(version, set()),
            transport_kinds=kinds,
            default_transport="xhr" if legacy else "fetch",
            package=package,
            minimum_truth=7,
        )


def python_matrix_version(server: Collector, version: str) -> Scenario:
    folder = ROOT / ".matrix" / f"posthog-{version.split('.')[0]}"
    if not (folder / "posthog").is_dir():
        raise SystemExit(f"{folder} is missing: run `make matrix` first")
    major = int(version.split(".")[0])
    new = major >= 7
    server.reset(ServerState(flags_response=FLAGS_V4 if new else FLAGS_V2))
    proc = subprocess.run(
        [sys.executable, str(HERE / "record_python.py"), server.origin, TOKEN],
        env={**os.environ, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"record_python.py ({version}) failed:\n{proc.stdout}\n{proc.stderr}")
    told = json.loads(proc.stdout.strip().splitlines()[-1])
    if (told["version"], told["flag"]) != (version, "test"):
        raise AssertionError(f"record_python.py ran {told['version']}, flag {told['flag']!r}")
    truth: list[dict[str, Any]] = told["truth"]
    server.wait_for(
        "every truth event on the wire", lambda: all_truth_on_wire(truth, server.snapshot())
    )
    kept = [r for r in server.snapshot() if is_kept(r)]
    person = "identify() -> $identify" if major < 6 else "set() -> $set"
    flags_path = "/flags/?v=4" if new else "/flags/?v=2"
    return Scenario(
        "posthog-python",
        version,
        version,
        f"posthog {version} (.matrix/posthog-{major}, driven by "
        "record_python.py), every event with a uuid the script gave it. A sync client: "
        f"capture('order_paid'), {person}, alias(previous_id='py-anon-1'), each one plain "
        f"JSON POST /batch/; get_feature_flag -> POST {flags_path} (no event). Then a "
        "threaded gzip=True client on its defaults: three captures and flush() -> POST /batch/ "
        "with Content-Encoding: gzip.",
        kept,
        truth,
        {i: ("requests", None) for i in range(len(kept))},
        {"/batch/: json", "/batch/: gzip (Content-Encoding) + json", "/flags/: json"},
        {"requests"},
    )


def node_matrix_version(server: Collector, version: str) -> Scenario:
    gzip = version.startswith("5.")
    package = "posthog-node" if gzip else "posthog-node-4"
    if package_version(package) != version:
        raise SystemExit(f"{package} is {package_version(package)}, not {version} (npm ci)")
    scenario = node_scenario(
        server,
        "gzip",
        f"posthog-node {version} (the npm package {package}) on its default options: 3 "
        "capture() + identify() + alias(), then await shutdown() -> one POST /batch/, "
        + ("gzip (Content-Encoding)" if gzip else "plain JSON (no gzip before 5)")
        + ". Truth is the SDK's own 'flush' event.",
        {"/batch/: gzip (Content-Encoding) + json" if gzip else "/batch/: json"},
        package=package,
    )
    scenario.name = version
    return scenario


def matrix_scenario(sdk: str, version: str) -> Callable[..., Scenario]:
    if sdk == "posthog-js":
        return lambda browser, server: js_version(browser, server, version)
    if sdk == "posthog-python":
        return lambda server: python_matrix_version(server, version)
    return lambda server: node_matrix_version(server, version)


BROWSER_SCENARIOS: dict[str, Callable[[Any, Collector], Scenario]] = {
    "js-gzip": js_gzip,
    "js-base64": js_base64,
    "js-json": js_json,
    "js-identify": js_identify,
    "js-unload-beacon": lambda b, s: js_unload(b, s, base64_beacon=False),
    "js-unload-beacon-base64": lambda b, s: js_unload(b, s, base64_beacon=True),
    "js-xhr": js_xhr,
    "js-recording": js_recording,
    "js-legacy-lz64": js_legacy_lz64,
    "js-legacy-bare": js_legacy_bare,
}
OTHER_SCENARIOS: dict[str, Callable[[Collector], Scenario]] = {
    "python-sync": py_sync,
    "python-gzip-batch": py_gzip_batch,
    "python-v1": py_v1,
    "python-flags": py_flags,
    "python-async": py_async,
    "node-gzip": node_gzip,
    "node-plain": node_plain,
}


@contextmanager
def running_server() -> Iterator[Collector]:
    """A fresh server (and port, hence browser origin) per scenario: a beacon that a closed page
    sends late can then never land in the next scenario's recording."""
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def versions_asked(asked: list[str]) -> dict[str, tuple[str, str]]:
    """``--version`` values -> {file stem: (sdk, version)}: ``all`` (every version of the
    matrix), ``<sdk>@<version>``, or a bare version the matrix names once."""
    table = matrix()
    pairs = {(sdk, v) for sdk, versions in table.items() for v in versions}
    chosen: dict[str, tuple[str, str]] = {}
    for value in asked:
        if value == "all":
            found = sorted(pairs)
        elif "@" in value:
            found = [tuple(value.split("@", 1))]  # type: ignore[list-item]
        else:
            found = [pair for pair in sorted(pairs) if pair[1] == value]
        if len(found) == 0 or not set(found) <= pairs or (len(found) > 1 and value != "all"):
            raise SystemExit(f"--version {value}: not one version of the matrix {table}")
        chosen.update({f"{sdk}-{version}": (sdk, version) for sdk, version in found})
    return chosen


def main(argv: list[str]) -> int:
    asked = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--version"]
    names = [a for i, a in enumerate(argv) if a != "--version" and argv[i - 1 : i] != ["--version"]]
    if "--version" in argv[-1:]:
        print("--version needs a value: all, <sdk>@<version>, or a version of the matrix")
        return 2
    browser_scenarios = dict(BROWSER_SCENARIOS)
    other_scenarios = dict(OTHER_SCENARIOS)
    versions = versions_asked(asked)
    for stem, (sdk, version) in versions.items():
        target = browser_scenarios if sdk == "posthog-js" else other_scenarios
        target[stem] = matrix_scenario(sdk, version)
    wanted = [*names, *versions] if asked else names or [*browser_scenarios, *other_scenarios]
    unknown = [w for w in wanted if w not in browser_scenarios and w not in other_scenarios]
    if unknown:
        print(f"unknown scenarios {unknown}; known: {[*BROWSER_SCENARIOS, *OTHER_SCENARIOS]}")
        return 2
    if any(w in browser_scenarios for w in wanted):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            print(f"chromium {browser.version}", file=sys.stderr)
            for name in wanted:
                if name in browser_scenarios:
                    with running_server() as server:
                        check_and_write(browser_scenarios[name](browser, server))
            browser.close()
    for name in wanted:
        if name in other_scenarios:
            with running_server() as server:
                check_and_write(other_scenarios[name](server))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
