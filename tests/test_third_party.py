"""Third-party assets on a closed network (``analytics_block_third_party``), in real Chromium.

The app's page loads a stylesheet and a script from a CDN that never answers (a "tarpit": a
socket that accepts and stays silent, as a closed network's unreachable host stalls a page),
and a script from a host that does not resolve. Chromium's ``--host-resolver-rules`` sends the
CDN's name to the tarpit and the app's own name (``shop.test``, not the loopback) to the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import INNER_INI

from pytest_hybrid_analytics._roads.third_party import ThirdPartyBlock

DIST = Path(__file__).resolve().parent.parent / "fixtures" / "node_modules" / "posthog-js" / "dist"
SNIPPET = Path(__file__).resolve().parent.parent / "fixtures" / "web" / "snippet.html"


@pytest.mark.parametrize(
    ("url", "page", "third_party"),
    [
        ("https://cdn.example.com/x.js", "http://127.0.0.1:8000/", True),
        ("https://fonts.gstatic.com/a.woff2", "http://shop.test/", True),
        ("http://127.0.0.1:9999/x.js", "http://shop.test/", False),
        ("http://localhost:5173/src/main.js", "http://127.0.0.1:8000/", False),
        ("http://app.localhost/x.js", "http://127.0.0.1:8000/", False),
        ("http://[::1]:8000/x.js", "http://127.0.0.1:8000/", False),
        ("http://shop.test:8080/api", "http://shop.test/", False),
        ("https://us-assets.i.posthog.com/static/array.js", "http://shop.test/", False),
        ("https://analytics.example.com/static/array.js", "http://shop.test/", False),
        ("https://localhost@evil.example/x.js", "http://127.0.0.1/", True),
        ("data:text/javascript,1", "http://shop.test/", False),
    ],
)
def test_which_requests_are_third_party(url: str, page: str, third_party: bool) -> None:
    block = ThirdPartyBlock("abort", extra=["analytics.example.com"])
    assert block.third_party(url, page=page) is third_party
    # The route's own pattern (Chromium matches it) agrees, once the page's host is learned.
    learned = block.pattern(["shop.test"]) if "shop.test" in page else block.pattern()
    if url.startswith("http"):
        assert bool(learned.match(url)) is third_party, learned.pattern


def test_what_was_blocked_reads_per_host() -> None:
    block = ThirdPartyBlock("empty")
    assert block.summary() is None
    for url in ("https://a.example/1.css", "https://b.example/x.js", "https://a.example/2.css"):
        block.record(url)
    block.merge({"c.example": 2})  # another pytest-xdist worker's
    assert block.summary() == (
        "analytics_block_third_party = empty: 5 requests to 3 third-party hosts answered empty: "
        "a.example x2, c.example x2, b.example x1"
    )
    assert block.blocked("https://b.example/x.js")
    assert not block.blocked("https://b.example/y.js")


CONFTEST = """
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SNIPPET = Path({snippet!r}).read_text().split("<script>", 1)[1].split("</script>", 1)[0]
PAGE = '''<!doctype html><html><head><meta charset="utf-8">
<script>window.loads = [];</script>
<link rel="stylesheet" href="http://cdn.stall.test/app.css">
<script src="http://cdn.stall.test/lib.js"
        onload="loads.push('stall load')" onerror="loads.push('stall error')"></script>
<script src="https://cdn.example.invalid/x.js"
        onload="loads.push('invalid load')" onerror="loads.push('invalid error')"></script>
<script>''' + SNIPPET + '''</script>
</head><body>
<button id="ping">Ping</button>
<script>
// The app polls its own API a moment after the click, as the test already waits.
document.getElementById("ping").onclick = () => setTimeout(() => fetch("/api/ping")
  .then((r) => r.text()).then((text) => posthog.capture("pinged", {{answer: text}})), 300);
</script>
</body></html>'''


class Tarpit:
    # Accepts every connection and never answers, as an unreachable CDN stalls a page.
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self.connected = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.connected.set()

    def close(self):
        self.sock.close()
        for connection in self.connections:
            connection.close()


class App(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"pong" if self.path == "/api/ping" else PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path == "/api/ping" else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="session")
def tarpit():
    pit = Tarpit()
    yield pit
    pit.close()


@pytest.fixture(scope="session")
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, app, tarpit):
    rules = (f"MAP shop.test 127.0.0.1:{{app.server_address[1]}},"
             f"MAP cdn.stall.test 127.0.0.1:{{tarpit.port}}")
    args = [*browser_type_launch_args.get("args", []), f"--host-resolver-rules={{rules}}"]
    return {{**browser_type_launch_args, "args": args}}
"""

BLOCKED = """
import pytest

@pytest.mark.parametrize("n", [1, 2])
def test_the_page_loads_without_waiting_for_the_cdn(analytics, page, tarpit, n):
    page.goto("http://shop.test/")  # returns at "load": nothing third-party holds it
    analytics.wait_for("$pageview", source="client")
    # An app request made while the test waits outside Playwright: the app's own host is
    # never held by the route (a route handler cannot run until the test calls Playwright).
    page.click("#ping")
    analytics.wait_for("pinged", answer="pong")
    assert page.evaluate("loads") == {loads!r}
    assert tarpit.connections == []
    {page_errors}
"""
PAGE_ERRORS = """assert analytics.wait_until(lambda: len(analytics.page_errors) == 2, timeout=10)
    assert analytics.page_errors == [
        "the script http://cdn.stall.test/lib.js failed to load on http://shop.test/ "
        "(blocked: analytics_block_third_party = abort)",
        "the script https://cdn.example.invalid/x.js failed to load on http://shop.test/ "
        "(blocked: analytics_block_third_party = abort)",
    ]"""
LET_THROUGH = """
def test_the_cdn_is_asked(analytics, page, tarpit):
    page.goto("http://shop.test/", wait_until="commit")
    assert tarpit.connected.wait(timeout=30)  # the page's stylesheet and script went out
    assert analytics.find("$pageview") == []
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("HYBRID_ANALYTICS_BLOCK_THIRD_PARTY", raising=False)
    pytester.makeconftest(CONFTEST.format(snippet=str(SNIPPET)))
    return pytester


def _ini(pytester: pytest.Pytester, setting: str) -> None:
    pytester.makeini(f"""
        [pytest]
        addopts = -p no:cacheprovider
        analytics_posthog_js = {DIST.parent}
        asyncio_default_fixture_loop_scope = function
        {setting}
    """)


def test_aborted_third_party_requests_leave_the_page_fast_and_are_listed(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flag wins over the environment, which wins over the ini file; under pytest-xdist,
    # what each worker blocked reaches the end of the run.
    _ini(suite, "analytics_block_third_party = off")
    monkeypatch.setenv("HYBRID_ANALYTICS_BLOCK_THIRD_PARTY", "empty")
    suite.makepyfile(
        BLOCKED.format(loads=["stall error", "invalid error"], page_errors=PAGE_ERRORS)
    )
    result = suite.runpytest_subprocess("--analytics-block-third-party=abort", "-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*=== hybrid-analytics ===*",
            "analytics_block_third_party = abort: 6 requests to 2 third-party hosts aborted: "
            "cdn.stall.test x4, cdn.example.invalid x2",
        ]
    )


def test_answered_empty_third_party_requests_load_as_empty_files(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ini(suite, "analytics_block_third_party = off")
    monkeypatch.setenv("HYBRID_ANALYTICS_BLOCK_THIRD_PARTY", "empty")
    suite.makepyfile(BLOCKED.format(loads=["stall load", "invalid load"], page_errors=""))
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: pages get posthog-js * (analytics_posthog_js); third-party "
            "requests: answered empty (all but the page's own host, the loopback and PostHog's)",
            "*=== hybrid-analytics ===*",
            "analytics_block_third_party = empty: 6 requests to 2 third-party hosts answered "
            "empty: cdn.stall.test x4, cdn.example.invalid x2",
        ]
    )


def test_off_by_default_the_page_waits_on_the_cdn(suite: pytest.Pytester) -> None:
    # The control: without the setting the same page's requests reach the silent CDN.
    _ini(suite, "")
    suite.makepyfile(LET_THROUGH)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["hybrid-analytics: pages get posthog-js *; third-party requests: let through"]
    )
    assert "analytics_block_third_party" not in result.stdout.str()


def test_a_bad_value_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INNER_INI + "    analytics_block_third_party = on\n")
    pytester.makepyfile("def test_x(): pass")
    monkeypatch.delenv("HYBRID_ANALYTICS_BLOCK_THIRD_PARTY", raising=False)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: analytics_block_third_party (or HYBRID_ANALYTICS_BLOCK_THIRD_PARTY) must be "
            "one of off, abort, empty, got 'on'"
        ]
    )
    result = pytester.runpytest_subprocess("--analytics-block-third-party=on")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--analytics-block-third-party: invalid choice: 'on' (choose from *off*abort*empty*)"]
    )
