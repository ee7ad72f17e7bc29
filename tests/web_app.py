"""The test web app for the browser tests: pages under fixtures/web that load the published
posthog-js (snippet, script tag, npm ES module), and a backend that tracks with the published
``posthog`` SDK, implementing the guide's three identity approaches.

Runs in a thread of the test process: its SDK traffic goes to PostHog's cloud host and the
plugin's requests road claims it, so the server's events land in the current test.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from posthog import Posthog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGES = FIXTURES / "web"
NODE_MODULES = FIXTURES / "node_modules"


class _Handler(BaseHTTPRequestHandler):
    server: WebApp

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/node_modules/"):
            file, kind = NODE_MODULES / path.removeprefix("/node_modules/"), "text/javascript"
        else:
            file, kind = PAGES / (path.strip("/") or "snippet.html"), "text/html; charset=utf-8"
        if ".." in path or not file.is_file():
            self._send(404, b"not found", "text/plain")
        else:
            self._send(200, file.read_bytes(), kind)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        posthog = self.server.posthog
        path = urlsplit(self.path).path
        cookie = {}
        if path == "/api/subscribe":  # approach 1: the distinct id the client passed
            posthog.capture(
                "subscription_created",
                distinct_id=body["distinct_id"],
                properties={"plan": body["plan"]},
            )
        elif path == "/api/purchase":  # approach 2: the user id both sides know
            posthog.capture(
                "purchase_completed",
                distinct_id=body["user_id"],
                properties={"amount": body["amount"]},
            )
        elif path == "/api/login":  # approach 3: a cookie the client reads
            posthog.capture("user_logged_in", distinct_id=body["user_id"])
            cookie = {"Set-Cookie": f"ph_distinct_id={body['user_id']}; Path=/"}
        else:
            self._send(404, b"{}", "application/json")
            return
        self._send(200, b'{"ok": true}', "application/json", cookie)


class WebApp(ThreadingHTTPServer):
    """``with WebApp() as app: page.goto(app.url + "/snippet.html")``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posthog = Posthog("phc_web_project", sync_mode=True)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> WebApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.posthog.shutdown()
