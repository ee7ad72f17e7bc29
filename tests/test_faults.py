"""``analytics.faults`` itself: what each fault answers, on each road (the fake API, ``requests``,
``httpx``, the loopback collector), what is kept (``faulted``, ``attempts``), and the audit lines
judged from tests that used faults. The published SDKs under faults are in
``test_faults_server.py`` and ``test_faults_browser.py``."""

from __future__ import annotations

import gzip
import json
import threading

import httpx
import pytest
import requests
from support import INNER_INI

from pytest_hybrid_analytics import (
    Analytics,
    Delivery,
    Fault,
    FaultedRequest,
    Faults,
    assert_no_duplicates,
)


def batch(*uuids: str, event: str = "paid") -> str:
    events = [
        {"event": event, "distinct_id": "u", "uuid": uuid, "properties": {"$lib": "posthog-node"}}
        for uuid in uuids
    ]
    return json.dumps({"api_key": "phc_k", "batch": events})


@pytest.fixture
def plain() -> Analytics:
    """An ``Analytics`` outside any harness: only its fake API."""
    return Analytics()


def test_a_503_is_answered_kept_whole_and_not_on_the_timeline(plain: Analytics) -> None:
    fault = plain.faults.fail(503)
    answer = plain.api.handle("POST", "https://us.i.posthog.com/batch/", {}, batch("e1"))
    assert answer.status == 503
    assert answer.data["type"] == "server_error"
    assert plain.events == []
    [request] = plain.faulted
    assert isinstance(request, FaultedRequest)
    assert (request.fault, request.status, request.endpoint, request.uuids) == (
        "fail 503",
        503,
        "capture",
        ("e1",),
    )
    assert (fault.hits, fault.remaining, fault.active) == (1, 0, False)
    # times=1: the retry is PostHog's answer, and the event is on the timeline once.
    assert plain.api.handle("POST", "/batch/", {}, batch("e1")).status == 200
    assert [e.uuid for e in plain.events] == ["e1"]
    assert plain.retried == []
    [delivery] = plain.faults.attempts
    assert isinstance(delivery, Delivery)
    assert (delivery.sdk, delivery.statuses, delivery.same_uuids, delivery.accepted) == (
        "posthog-node",
        [503, 200],
        True,
        True,
    )
    assert [t.fault for t in delivery.tries] == ["fail 503", None]


def test_retry_after_body_and_times(plain: Analytics) -> None:
    plain.faults.fail(429, retry_after=2, times=2, body={"type": "throttled"})
    first = plain.api.handle("POST", "/i/v0/e/?retry_count=1", {}, batch("e1"))
    assert (first.status, first.headers["Retry-After"], first.data) == (
        429,
        "2",
        {"type": "throttled"},
    )
    assert plain.api.handle("POST", "/i/v0/e/", {}, batch("e1")).status == 429
    assert plain.api.handle("POST", "/i/v0/e/", {}, batch("e1")).status == 200
    [delivery] = plain.faults.attempts
    assert delivery.statuses == [429, 429, 200]
    assert [t.marker for t in delivery.tries] == ["retry_count=1", None, None]
    assert [t.retry_after for t in delivery.tries] == [2.0, 2.0, None]
    assert [r.retry_after for r in plain.faulted] == [2.0, 2.0]


def test_a_fault_touches_only_its_endpoint(plain: Analytics) -> None:
    plain.faults.fail(500, endpoint="flags", times=None)
    assert plain.api.handle("POST", "/flags/?v=2", {}, '{"distinct_id": "u"}').status == 500
    assert plain.api.handle("POST", "/decide/?v=3", {}, '{"distinct_id": "u"}').status == 500
    assert plain.api.handle("POST", "/batch/", {}, batch("e1")).status == 200
    assert plain.api.handle("GET", "/array/phc_k/config", {}, b"").status == 200
    assert [r.endpoint for r in plain.faulted] == ["flags", "flags"]


def test_an_outage_fails_every_endpoint_inside_the_block_only(plain: Analytics) -> None:
    with plain.faults.outage() as outage:
        assert isinstance(outage, Fault)
        for path in ("/batch/", "/s/", "/flags/?v=2", "/array/phc_k/config"):
            assert plain.api.handle("POST", path, {}, batch("e1")).status == 503
    assert outage.hits == 4
    assert not outage.active
    assert plain.api.handle("POST", "/batch/", {}, batch("e1")).status == 200
    assert [r.endpoint for r in plain.faulted] == ["capture", "recordings", "flags", "config"]
    # CORS preflights and posthog-js's own files are never faulted.
    with plain.faults.outage():
        assert plain.api.handle("OPTIONS", "/e/", {"Origin": "http://a"}, b"").status == 204


def test_quota_limits_answer_as_posthog_does(plain: Analytics) -> None:
    plain.flags.set("new-checkout", "test")
    with plain.faults.quota_limit("events", "feature_flags"):
        capture = plain.api.handle("POST", "/e/", {}, batch("e1"))
        flags = plain.api.handle("POST", "/flags/?v=2", {}, '{"distinct_id": "u"}')
        decide = plain.api.handle("POST", "/decide/?v=3", {}, '{"distinct_id": "u"}')
        recordings = plain.api.handle("POST", "/s/", {}, batch("r1", event="$snapshot"))
    assert (capture.status, capture.data) == (200, {"status": 1, "quota_limited": ["events"]})
    assert (flags.status, flags.data["quotaLimited"], flags.data["flags"]) == (
        200,
        ["feature_flags"],
        {},
    )
    assert (decide.data["featureFlags"], decide.data["quotaLimited"]) == ({}, ["feature_flags"])
    assert recordings.status == 200  # recordings were not limited
    assert [e.uuid for e in plain.events] == ["r1"]
    assert [r.fault for r in plain.faulted] == ["quota limited: events, feature_flags"] * 3
    # Once the limit is lifted, the flag answers again.
    after = plain.api.handle("POST", "/flags/?v=2", {}, '{"distinct_id": "u"}')
    assert after.data["flags"]["new-checkout"]["variant"] == "test"


def test_capture_v1_per_event_results(plain: Analytics) -> None:
    body = json.dumps(
        {
            "created_at": "2026-01-01T00:00:00Z",
            "batch": [
                {"event": "a", "uuid": "u1", "distinct_id": "d", "properties": {}},
                {"event": "b", "uuid": "u2", "distinct_id": "d", "properties": {}},
            ],
        }
    )
    headers = {"PostHog-Sdk-Info": "posthog-python/7.91.1", "PostHog-Attempt": "1"}
    plain.faults.event_results("retry", events=1)
    # A v0 request is not what the fault is for: it passes.
    assert plain.api.handle("POST", "/batch/", {}, batch("v0")).status == 200
    answer = plain.api.handle("POST", "/i/v1/analytics/events", headers, body)
    assert answer.data == {"results": {"u1": {"result": "retry"}, "u2": {"result": "ok"}}}
    assert [e.uuid for e in plain.events] == ["v0", "u2"]
    [held] = plain.faulted
    assert (held.fault, held.status, held.uuids) == ("per-event result 'retry'", 200, ("u1",))
    again = {"PostHog-Sdk-Info": "posthog-python/7.91.1", "PostHog-Attempt": "2"}
    resent = json.dumps({"batch": [json.loads(body)["batch"][0]]})
    assert plain.api.handle("POST", "/i/v1/analytics/events", again, resent).status == 200
    assert [e.uuid for e in plain.events] == ["v0", "u2", "u1"]
    delivery = plain.faults.attempts[-1]
    assert [t.marker for t in delivery.tries] == [None, "PostHog-Attempt: 2"]
    assert delivery.same_uuids


def test_bad_arguments_are_usage_errors() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="status=42: an HTTP status"):
        faults.fail(42)
    with pytest.raises(ValueError, match="endpoint='batch': expected one of 'capture'"):
        faults.fail(503, endpoint="batch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times=0"):
        faults.drop(times=0)
    with pytest.raises(ValueError, match="seconds=-1"):
        faults.delay(-1)
    with pytest.raises(ValueError, match=r"quota_limit\['flags'\]"):
        faults.quota_limit("flags")
    with pytest.raises(ValueError, match="result='maybe'"):
        faults.event_results("maybe")
    assert not faults.used


# -- the roads --------------------------------------------------------------------------------


def test_the_requests_road_drops_and_times_out(analytics: Analytics) -> None:
    url = "https://us.i.posthog.com/batch/"
    analytics.faults.drop()
    with pytest.raises(requests.ConnectionError, match="without response"):
        requests.post(url, data=batch("e1"), timeout=5)
    assert [(r.fault, r.status, r.transport) for r in analytics.faulted] == [
        ("drop", None, "requests")
    ]
    # A hold longer than the client's timeout: PostHog took it, the client timed out, and the
    # client's retry is a re-delivery.
    analytics.faults.delay(30)
    with pytest.raises(requests.ReadTimeout):
        requests.post(url, data=batch("e2"), timeout=(5, 0.2))
    assert requests.post(url, data=batch("e2"), timeout=5).status_code == 200
    assert [e.uuid for e in analytics.events] == ["e2"]
    assert [e.uuid for e in analytics.retried] == ["e2"]
    assert analytics.faults.attempts[-1].statuses == [None, 200]
    assert_no_duplicates(analytics)


def test_a_held_answer_goes_when_its_fault_stops(analytics: Analytics) -> None:
    slow = analytics.faults.delay(60)
    answered: list[int] = []
    sender = threading.Thread(
        target=lambda: answered.append(
            requests.post(
                "https://us.i.posthog.com/batch/", data=batch("e1"), timeout=120
            ).status_code
        )
    )
    sender.start()
    assert analytics.wait_until(lambda: slow.hits == 1, timeout=10)
    assert answered == []  # held: the sender is still inside its POST
    slow.stop()
    sender.join(timeout=10)
    assert answered == [200]
    assert [e.uuid for e in analytics.events] == ["e1"]
    [attempt] = analytics.faults.attempts[0].tries
    assert attempt.held < 60  # let go by stop(), not by the end of its hold


def test_the_httpx_road_drops_and_times_out(analytics: Analytics) -> None:
    url = "https://eu.i.posthog.com/i/v0/e/"
    analytics.faults.drop()
    with httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(url, content=batch("e1"))
        analytics.faults.delay(30)
        with pytest.raises(httpx.ReadTimeout):
            client.post(url, content=batch("e1"), timeout=httpx.Timeout(5, read=0.2))
        analytics.faults.fail(502)
        assert client.post(url, content=batch("e1")).status_code == 502
        assert client.post(url, content=batch("e1")).status_code == 200
    assert [e.uuid for e in analytics.events] == ["e1"]
    assert analytics.faults.attempts[0].statuses == [None, None, 502, 200]


def test_the_collector_drops_the_connection_and_answers_faults(analytics: Analytics) -> None:
    assert analytics.host is not None
    url = f"{analytics.host}/batch/"
    body = gzip.compress(batch("e1").encode())
    headers = {"Content-Encoding": "gzip", "User-Agent": "posthog-node/5.70.0"}
    analytics.faults.drop()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data=body, headers=headers, timeout=5)
    analytics.faults.fail(503, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    refused = requests.post(url, data=body, headers=headers, timeout=5)
    assert (refused.status_code, refused.headers["Retry-After"]) == (
        503,
        "Wed, 21 Oct 2026 07:28:00 GMT",
    )
    assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200
    assert [e.uuid for e in analytics.events] == ["e1"]
    [delivery] = analytics.faults.attempts
    assert (delivery.sdk, delivery.statuses) == ("posthog-node", [None, 503, 200])
    assert [r.transport for r in analytics.faulted] == ["collector", "collector"]


def test_a_wait_that_times_out_names_the_faulted_requests(analytics: Analytics) -> None:
    analytics.faults.fail(503, times=None)
    requests.post("https://us.i.posthog.com/batch/", data=batch("e1"), timeout=5)
    with pytest.raises(AssertionError) as info:
        analytics.wait_for("paid", timeout=0.05)
    assert (
        "analytics.faults answered 1 request instead of PostHog (fail 503); their events count "
        "only once an SDK retry is accepted, and 1 event matching the query was among them"
    ) in str(info.value)


# -- the audit, through the plugin ----------------------------------------------------------------

SUITE = """
import requests

URL = "https://us.i.posthog.com/batch/"
BODY = '{"api_key": "phc_k", "batch": [{"event": "order_placed", "distinct_id": "u"}]}'


def place_order():
    try:
        requests.post(URL, data=BODY, timeout=5)
    except requests.RequestException:
        pass  # analytics must never break an order
    return "ok"


def test_orders_survive_an_outage(analytics):
    with analytics.faults.outage():
        assert place_order() == "ok"


def test_orders_survive_a_dropped_connection(analytics):
    analytics.faults.drop()
    assert place_order() == "ok"
"""


def test_the_audit_judges_resilience_from_the_tests_that_used_faults(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_orders=SUITE)
    result = pytester.runpytest("--analytics-audit", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "  PASS          Server error handling implemented",
            "                1 test kept working with PostHog answering errors (fail 503 "
            "(1 request)): test_orders.py::test_orders_survive_an_outage",
            "  PASS          Network failure handling implemented",
            "                1 test kept working with PostHog's connection dropped or slow "
            "(drop (1 request)): test_orders.py::test_orders_survive_a_dropped_connection",
        ],
        consecutive=True,
    )


def test_the_collector_notes_a_client_that_gave_up_on_a_held_answer(analytics: Analytics) -> None:
    assert analytics.host is not None
    url = f"{analytics.host}/batch/"
    headers = {"User-Agent": "posthog-node/5.70.0"}
    slow = analytics.faults.delay(30)
    with pytest.raises(requests.ReadTimeout):
        requests.post(url, data=batch("e1"), headers=headers, timeout=(5, 0.3))
    # The client's retry, while PostHog still holds the first answer.
    assert requests.post(url, data=batch("e1"), headers=headers, timeout=5).status_code == 200
    slow.stop()
    assert analytics.wait_until(lambda: len(analytics.faults.attempts[0].tries) == 2, timeout=10)
    [delivery] = analytics.faults.attempts
    # In order of arrival: the held try first, with no answer (the client had hung up).
    assert delivery.statuses == [None, 200]
    assert delivery.tries[0].held > 0
    assert all(gap >= 0 for gap in delivery.gaps)
    # PostHog took the held request too: the retry's event is on the timeline once.
    assert [e.uuid for e in analytics.events] == ["e1"]
    assert [e.uuid for e in analytics.retried] == ["e1"]


def test_the_collector_answers_a_slow_posthog_when_the_delay_ends(analytics: Analytics) -> None:
    # A delay shorter than the client's timeout is a slow PostHog that answers: the held
    # answer goes once the delay is over, while the client still waits (the collector asks
    # whether the client hung up without waiting on its socket).
    assert analytics.host is not None
    analytics.faults.delay(0.3)
    answer = requests.post(
        f"{analytics.host}/batch/",
        data=batch("e1"),
        headers={"User-Agent": "posthog-node/5.70.0"},
        timeout=(5, 20),
    )
    assert answer.status_code == 200
    assert [e.uuid for e in analytics.events] == ["e1"]
    [delivery] = analytics.faults.attempts
    assert delivery.statuses == [200]


def test_flag_requests_for_two_users_are_two_deliveries(plain: Analytics) -> None:
    with plain.faults.outage(endpoint="flags"):
        for user in ("u1", "u2"):
            plain.api.handle("POST", "/flags/?v=2", {}, json.dumps({"distinct_id": user}))
    plain.api.handle("POST", "/flags/?v=2", {}, json.dumps({"distinct_id": "u1"}))
    assert [d.statuses for d in plain.faults.attempts] == [[503, 200], [503]]
