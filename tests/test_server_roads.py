"""Every server road into the recorder, driven by the published ``posthog`` SDK (sync and
async), hand-rolled ``requests``/``httpx`` senders, an app in a subprocess and posthog-node.
Nothing here reaches a real PostHog host: the roads claim those requests."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import httpx
import posthog
import pytest
import requests
from posthog import Posthog
from support import INNER_INI

from pytest_hybrid_analytics import Analytics, assert_no_duplicates

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOSTS = [
    "https://us.i.posthog.com",
    "https://eu.i.posthog.com",
    "https://app.posthog.com",
    "https://posthog.internal.example",
]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("sync_mode", [True, False], ids=["sync_mode", "consumer_thread"])
def test_the_sync_client_is_claimed_whatever_its_host(
    analytics: Analytics, host: str, sync_mode: bool
) -> None:
    client = Posthog("phc_server", host=host, sync_mode=sync_mode, gzip=not sync_mode)
    client.capture("order_paid", distinct_id="user-1", properties={"amount": 12.5})
    client.shutdown()
    [event] = analytics.wait_for("order_paid", source="server", amount=12.5)
    assert (event.distinct_id, event.api_key, event.lib, event.transport) == (
        "user-1",
        "phc_server",
        "posthog-python",
        "requests",
    )


def shop_app(client: Posthog):  # type: ignore[no-untyped-def]
    """A WSGI app as a Flask or Django view would be: it tracks with the SDK and reads a flag."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        client.capture(
            "payment_completed",
            distinct_id=body["distinct_id"],
            properties={"amount": body["amount"], "currency": "EUR"},
        )
        with pytest.warns(DeprecationWarning, match="deprecated"):
            checkout = client.get_feature_flag("new-checkout", body["distinct_id"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"checkout": checkout}).encode()]

    return app


def test_an_app_in_the_tests_process(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "test")
    client = Posthog("phc_shop", host="https://eu.i.posthog.com")  # threaded, app defaults
    app = shop_app(client)
    payload = json.dumps({"distinct_id": "buyer-1", "amount": 42}).encode()
    environ: dict[str, object] = {}
    setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(payload)),
            "wsgi.input": io.BytesIO(payload),
        }
    )
    answer = b"".join(app(environ, lambda status, headers: None))
    assert json.loads(answer) == {"checkout": "test"}
    client.flush()
    [paid] = analytics.wait_for("payment_completed", source="server", currency="EUR")
    assert (paid.distinct_id, paid.properties["amount"]) == ("buyer-1", 42)
    analytics.wait_for("$feature_flag_called", distinct_id="buyer-1")
    client.shutdown()


def test_capture_v1_and_person_calls(analytics: Analytics) -> None:
    client = Posthog("phc_v1", host="https://us.i.posthog.com", capture_mode="v1", sync_mode=True)
    client.capture("v1_event", distinct_id="u1")
    client.set(distinct_id="u1", properties={"plan": "pro"})
    client.alias(previous_id="anon-1", distinct_id="u1")
    client.shutdown()
    analytics.wait_for("$create_alias")
    assert analytics.find("$set")[0].set == {"plan": "pro"}
    assert analytics.identity.same_person("anon-1", "u1")
    assert {e.endpoint for e in analytics.events} == {"/i/v1/analytics/events"}


def test_the_module_level_client(analytics: Analytics, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(posthog, "default_client", None)
    monkeypatch.setattr(posthog, "project_api_key", "phc_module")
    monkeypatch.setattr(posthog, "sync_mode", True)
    posthog.capture("module_event", distinct_id="u2")
    analytics.wait_for("module_event", distinct_id="u2")
    posthog.shutdown()
    posthog.capture("after_shutdown", distinct_id="u2")  # dropped by the SDK: named plainly
    [note] = analytics.client_notes
    assert note.site == (
        "tests/test_server_roads.py:110 (the module-level posthog API's client, made by its "
        "first call)"
    )


def test_eight_threads_through_one_client_lose_and_duplicate_nothing(
    analytics: Analytics,
) -> None:
    client = Posthog("phc_load", flush_at=100, max_queue_size=20_000)

    def send(worker: int) -> None:
        for n in range(1000):
            client.capture("load_event", distinct_id=f"w{worker}", properties={"n": n})

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.shutdown()
    events = analytics.wait_for("load_event", count=8000, timeout=30)
    assert len(events) == 8000
    assert len({e.uuid for e in events}) == 8000
    assert {(e.distinct_id, e.properties["n"]) for e in events} == {
        (f"w{w}", n) for w in range(8) for n in range(1000)
    }
    assert_no_duplicates(events)


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"real " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def other_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_apps_other_traffic_passes_untouched(analytics: Analytics, other_server: str) -> None:
    assert requests.get(f"{other_server}/batch/", timeout=5).text == "real /batch/"
    assert httpx.get(f"{other_server}/e/").text == "real /e/"
    assert analytics.events == []


def test_hand_rolled_senders(analytics: Analytics) -> None:
    event = {
        "api_key": "phc_hand",
        "event": "hand_rolled",
        "distinct_id": "u3",
        "properties": {"via": "requests"},
    }
    assert requests.post("https://us.i.posthog.com/capture/", json=event, timeout=5).json() == {
        "status": 1
    }
    httpx.post("https://eu.i.posthog.com/i/v0/e/", json={**event, "properties": {"via": "httpx"}})
    assert sorted(e.properties["via"] for e in analytics.wait_for("hand_rolled", count=2)) == [
        "httpx",
        "requests",
    ]


def test_async_posthog_and_async_httpx_in_pytest_asyncio_tests(inner: pytest.Pytester) -> None:
    # In a subprocess: once Playwright's sync API has run in a session (the browser tests), its
    # event loop stays current and pytest-asyncio cannot start its own: not ours to fix.
    inner.makepyfile("""
        import httpx
        import posthog
        import pytest

        @pytest.mark.asyncio
        async def test_async(analytics):
            client = posthog.AsyncPosthog("phc_async", host="https://us.i.posthog.com",
                                          max_retries=0)
            await client.capture_immediate("async_event", distinct_id="u4")
            client.capture("async_queued", distinct_id="u4")
            await client.shutdown()
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    "https://us.i.posthog.com/i/v0/e/",
                    json={"api_key": "k", "event": "async_hand", "distinct_id": "u4"})
            assert answer.status_code == 200
            events = analytics.wait_for(lambda n: n.startswith("async_"), count=3)
            assert {e.event for e in events} == {"async_event", "async_queued", "async_hand"}
            assert {e.transport for e in analytics.events} == {"httpx"}
    """)
    inner.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_tests_own_respx_routes_still_work(analytics: Analytics, respx_mock: object) -> None:
    import respx

    route = respx.get("https://api.example.test/users").respond(200, json={"users": 1})
    assert httpx.get("https://api.example.test/users").json() == {"users": 1}
    assert route.called
    httpx.post(
        "https://us.i.posthog.com/i/v0/e/",
        json={"api_key": "k", "event": "beside_respx", "distinct_id": "u5"},
    )
    analytics.wait_for("beside_respx")


def test_the_collector_over_real_http(analytics: Analytics) -> None:
    assert analytics.host is not None
    assert analytics.host.startswith("http://127.0.0.1:")
    client = Posthog("phc_collector", host=analytics.host, sync_mode=True)
    client.capture("over_http", distinct_id="u6")
    client.shutdown()
    [event] = analytics.wait_for("over_http")
    assert (event.transport, event.source) == ("collector", "server")


@pytest.mark.analytics(allow_rejected=True)
def test_the_collector_refuses_bad_input_and_goes_on(analytics: Analytics) -> None:
    url = f"{analytics.host}/batch/"
    bad = requests.post(
        url, data=b"\x1f\x8b\x08broken", timeout=5, headers={"Content-Encoding": "gzip"}
    )
    assert bad.status_code == 400
    assert "the body is not valid gzip" in bad.json()["detail"]
    empty = requests.post(url, json={"api_key": "k", "batch": []}, timeout=5)
    assert (empty.status_code, empty.json()["detail"]) == (400, "the batch has no events")
    unknown = requests.post(f"{analytics.host}/nope", data=b"{}", timeout=5)
    assert unknown.status_code == 404
    good = requests.post(
        url,
        data=gzip.compress(
            json.dumps(
                {"api_key": "k", "batch": [{"event": "after_bad", "distinct_id": "u"}]}
            ).encode()
        ),
        headers={"Content-Encoding": "gzip"},
        timeout=5,
    )
    assert good.status_code == 200
    analytics.wait_for("after_bad")
    assert [r.status for r in analytics.rejected] == [400, 400, 404]


def test_flags_one_truth_for_the_python_sdk(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "test", payload={"color": "blue"})
    analytics.flags.set("beta")
    client = Posthog("phc_flags", host="https://us.i.posthog.com", sync_mode=True)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.get_feature_flag("new-checkout", "u7") == "test"
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.get_feature_flag_payload("new-checkout", "u7") == {"color": "blue"}
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.feature_enabled("beta", "u7") is True
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.feature_enabled("never-set", "u7") is False
    client.shutdown()
    called = analytics.wait_for(
        "$feature_flag_called", source="server", **{"$feature_flag": "new-checkout"}
    )
    assert called[0].properties["$feature_flag_response"] == "test"


def test_flags_by_local_evaluation(analytics: Analytics) -> None:
    analytics.flags.set("variant-flag", "blue", payload={"x": 1})
    analytics.flags.set("off-flag", False)
    client = Posthog("phc_local", host=analytics.host, secret_key="phx_secret", sync_mode=True)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.get_feature_flag("variant-flag", "u8", only_evaluate_locally=True) == "blue"
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert client.feature_enabled("off-flag", "u8", only_evaluate_locally=True) is False
    client.shutdown()


def test_queued_events_are_flushed_into_the_test_and_unclosed_clients_named(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile("""
        from posthog import Posthog

        CLIENT = []

        def test_forgets_to_flush(analytics):
            client = Posthog("phc_k", flush_interval=3600, flush_at=1000)
            CLIENT.append(client)
            client.capture("never_flushed", distinct_id="u")

        def test_a_long_lived_client_on_the_sdk_defaults(analytics):
            client = Posthog("phc_k")  # sends on its own within 5 s: nothing to say
            CLIENT.append(client)
            client.capture("sent_by_the_sdk_itself", distinct_id="u")

        def test_next(analytics):
            assert analytics.find("never_flushed") == []
            assert analytics.find("sent_by_the_sdk_itself") == []
            for client in CLIENT:
                client.shutdown()
    """)
    result = inner.runpytest("-rA")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*= hybrid-analytics =*",
            "*::test_forgets_to_flush: posthog client created at test_queued_events*.py:6: "
            "1 queued event flushed at teardown: its flush_interval is 3600 s, so they would "
            "reach PostHog that late, or never if the process ends first (the app never called "
            "flush())",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*test_a_long_lived_client*posthog client*")
    result.stdout.no_fnmatch_line("*never shut down*")


def test_an_app_in_a_subprocess(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "test")
    app = subprocess.Popen(
        [sys.executable, str(FIXTURES / "server_app.py")],
        env={"POSTHOG_HOST": str(analytics.host), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        port = app.stdout.readline().split()[-1]  # blocks until the app listens
        base = f"http://127.0.0.1:{port}"
        assert requests.post(
            f"{base}/api/subscribe", json={"distinct_id": "sub-1", "plan": "pro"}, timeout=10
        ).ok
        flag = requests.get(
            f"{base}/api/flag", params={"distinct_id": "sub-1", "key": "new-checkout"}, timeout=10
        )
        assert flag.json() == {"value": "test"}
    finally:
        app.terminate()
        app.communicate(timeout=10)
    [event] = analytics.wait_for("subscription_created", source="server", plan="pro")
    assert (event.distinct_id, event.transport, event.api_key) == (
        "sub-1",
        "collector",
        "phc_server_app",
    )
    analytics.wait_for("$feature_flag_called", distinct_id="sub-1")


def test_posthog_node_in_a_real_node_process(analytics: Analytics) -> None:
    analytics.flags.set("new-checkout", "variant-b", payload={"discount": 10})
    analytics.flags.set("beta")
    run = subprocess.run(
        ["node", str(FIXTURES / "node_app.mjs"), str(analytics.host)],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    told = json.loads(run.stdout.strip().splitlines()[-1])
    assert told == {
        "variant": "variant-b",
        "enabled": True,
        "payload": {"discount": 10},
        "missing": False,
    }
    [renewal] = analytics.wait_for("subscription_renewed", source="server")
    assert (renewal.lib, renewal.distinct_id, renewal.properties["amount"]) == (
        "posthog-node",
        "node-user-1",
        29.99,
    )
    assert analytics.find("$identify")[0].set == {"email": "node@example.com"}
    assert analytics.find("$feature_flag_called")


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    return pytester


def test_nothing_leaves_the_machine_even_without_the_fixture(inner: pytest.Pytester) -> None:
    inner.makepyfile("""
        import requests
        from posthog import Posthog

        def test_app_without_analytics():
            client = Posthog("phc_real_project", sync_mode=True)
            client.capture("would_pollute", distinct_id="u")
            client.shutdown()
            answer = requests.post("https://eu.i.posthog.com/capture/", timeout=5,
                                   json={"api_key": "k", "event": "e", "distinct_id": "u"})
            assert answer.status_code == 200
    """)
    result = inner.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "hybrid-analytics: network guard: on, collector: on first use, extra PostHog hosts: "
            "none, posthog-js files: */pytest-hybrid-analytics/posthog-js/1.449.2, PII guard: "
            "client, tracking plan: none",
            "*= hybrid-analytics =*",
            "2 PostHog events were sent while no test used the analytics fixture; kept off the "
            "network.",
        ]
    )


def test_extra_hosts_claim_hand_rolled_senders_to_a_self_hosted_instance(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile("""
        import requests

        def test_self_hosted(analytics):
            requests.post("https://analytics.corp.test/capture/", timeout=5,
                          json={"api_key": "k", "event": "self_hosted", "distinct_id": "u"})
            assert analytics.wait_for("self_hosted")[0].transport == "requests"
    """)
    inner.runpytest("--analytics-hosts=analytics.corp.test").assert_outcomes(passed=1)
    inner.makeini("""
        [pytest]
        addopts = -p no:playwright -p no:cacheprovider
        asyncio_default_fixture_loop_scope = function
        analytics_hosts = analytics.corp.test
    """)
    inner.runpytest().assert_outcomes(passed=1)


def test_a_finished_tests_host_never_feeds_the_next_test(inner: pytest.Pytester) -> None:
    inner.makepyfile("""
        import requests

        HOSTS = []
        BODY = {"api_key": "k", "batch": [{"event": "late", "distinct_id": "u"}]}

        def test_one(analytics):
            HOSTS.append(analytics.host)

        def test_two(analytics, analytics_host):
            assert requests.post(HOSTS[0] + "/batch/", json=BODY, timeout=5).status_code == 200
            assert analytics.find("late") == []
            assert analytics.host != HOSTS[0]
            requests.post(analytics_host + "/batch/", json=BODY, timeout=5)
            assert len(analytics.wait_for("late")) == 1
    """)
    result = inner.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "1 PostHog event (late x1) arrived at a test's analytics.host after that test had "
            "ended; counted in no test."
        ]
    )


def test_a_wait_that_times_out_says_the_app_never_flushed(analytics: Analytics) -> None:
    client = Posthog("phc_unflushed", flush_interval=3600, flush_at=1000)
    client.capture("report_generated", distinct_id="u9")
    with pytest.raises(AssertionError) as failure:
        analytics.wait_for("report_generated", timeout=0.2)
    assert (
        "1 event was still queued in the posthog client created at tests/test_server_roads.py:"
        in str(failure.value)
    )
    assert str(failure.value).endswith(
        "the app never flushed it, and its flush_interval is 3600 s, so they would reach "
        "PostHog that late, or never if the process ends first (guide: 'Server-side events "
        "delayed': call flush() after the request, shutdown() on exit).\nAfter that flush, 1 "
        "event matching the query arrived."
    )
    assert len(analytics.find("report_generated")) == 1
    [note] = analytics.client_notes
    assert note.finding
    assert note.problem.startswith("1 queued event flushed by a wait that timed out: its ")
    client.shutdown()


def test_a_wait_shorter_than_the_sdks_batch_is_the_tests_timeout_not_the_apps_fault(
    analytics: Analytics,
) -> None:
    client = Posthog("phc_default")  # posthog-python 7's own 5 s batch
    client.capture("signed_up", distinct_id="u1")
    with pytest.raises(AssertionError) as failure:
        analytics.wait_for("signed_up", timeout=0.1)
    assert "still queued in the posthog client created at tests/test_server_roads.py:" in str(
        failure.value
    )
    assert (
        "its consumer sends on its own, but later than this wait's timeout (raise timeout=, or "
        "flush() after the request)." in str(failure.value)
    )
    assert analytics.client_notes == []
    client.shutdown()


def test_a_wait_has_clients_deliver_only_what_they_would_send_in_its_time(
    analytics: Analytics,
) -> None:
    """A wait not satisfied at once makes the clients that would send within its timeout
    deliver now; a client that would hold its batch longer is left alone, so the verdict is
    the one the app earns (and analytics.flush() was never called)."""
    prompt = Posthog("phc_prompt", flush_interval=3)
    slow = Posthog("phc_slow", flush_interval=3600, flush_at=1000)
    slow.capture("exported", distinct_id="u1")
    prompt.capture("signed_up", distinct_id="u1")
    [event] = analytics.wait_for("signed_up", timeout=4)
    assert event.api_key == "phc_prompt"
    assert analytics.find("exported") == []  # not nudged: it would not have come in 4 s
    assert analytics.client_notes == []  # a flush the harness makes is not the app's fault
    for client in (prompt, slow):
        client.shutdown()


def test_an_event_captured_while_a_test_waits_reaches_it_at_once(analytics: Analytics) -> None:
    """A page's fetch returns at once and the server captures while the test already waits:
    that capture is delivered as it is queued (the client would have sent it within the wait
    anyway), not a batch later."""
    client = Posthog("phc_async_page", flush_interval=30)
    seen_right_after_capture: list[int] = []

    def request_handler() -> None:
        # The app's request arrives once the test is waiting (the first event got there).
        analytics.wait_until(lambda: bool(analytics.find("page_opened")), timeout=10)
        client.capture("order_created", distinct_id="u1")
        seen_right_after_capture.append(len(analytics.find("order_created")))

    client.capture("page_opened", distinct_id="u1")
    handler = threading.Thread(target=request_handler)
    handler.start()
    analytics.wait_for("order_created", timeout=60)
    handler.join()
    assert seen_right_after_capture == [1]  # recorded before capture() even returned
    assert analytics.client_notes == []
    client.shutdown()
