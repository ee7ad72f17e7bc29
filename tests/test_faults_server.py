"""``analytics.faults`` against the published server SDKs, each meeting PostHog misbehaving.

The SDKs, all driven for real (no fake SDK anywhere):

- ``sync_mode``: posthog-python's ``Posthog(..., sync_mode=True)``: one blocking POST per event
  on the caller's thread, and for capture v0 no SDK retry (docs/posthog-python-sdk.md §1.2);
- ``consumer``: the same client on its default consumer thread: it retries 5xx, 408, 429 and
  network errors, ``max_retries`` times (default 3, kept), sleeping
  ``max(2**attempt, Retry-After)`` s: 1, 2, 4 s;
- ``async``: ``AsyncPosthog`` (httpx), the same rule in its asyncio consumer;
- ``node``: posthog-node in a real node process (``fixtures/node_faults.mjs``) pointed at
  ``analytics.host``: it retries 5xx, 408, 429 and network errors ``fetchRetryCount`` times
  (default 3, kept) after a fixed ``fetchRetryDelay``. The 503 test keeps its default
  (3000 ms); the others set 200 ms, for speed only.

The Python clients use a PostHog cloud host, claimed in the test's process by the ``requests``
and ``httpx`` roads (which know the client's own timeout); posthog-node reaches the loopback
collector.

Each test prints one ``FIGURES`` line per delivery (``pytest -s`` shows them): its tries, their
statuses, the gaps between them (the SDK's backoff: a figure, never asserted), the re-send
markers, the ``Retry-After`` answered and whether the retries kept the first try's uuids.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import posthog
import pytest
from posthog import Posthog

from pytest_hybrid_analytics import Analytics, CapturedEvent, Delivery, assert_no_duplicates

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: The host of the in-process Python clients: claimed by the requests and httpx roads.
CLOUD = "https://us.i.posthog.com"
KEY = "phc_faults"

SYNC, CONSUMER, ASYNC, NODE = "sync_mode", "consumer", "async", "node"
ALL = [SYNC, CONSUMER, ASYNC, NODE]
RETRYING = [CONSUMER, ASYNC, NODE]
PYTHON = [SYNC, CONSUMER, ASYNC]
#: The event each SDK captures (fixtures/node_faults.mjs captures ``node_order_paid``).
EVENT = {SYNC: "order_paid", CONSUMER: "order_paid", ASYNC: "order_paid", NODE: "node_order_paid"}
#: Who the harness says sent it.
LIB = {SYNC: "posthog-python", CONSUMER: "posthog-python", ASYNC: "posthog-python"}
LIB[NODE] = "posthog-node"
#: What posthog-python logs when it gives up on a capture request, per client.
GAVE_UP = {
    SYNC: "Error in capture",
    CONSUMER: "error uploading",
    ASYNC: "async capture upload failed",
}
#: posthog-node's retry delay wherever its default (3000 ms) is not the point: speed only.
FAST_NODE: dict[str, Any] = {"fetchRetryDelay": 200}

T = TypeVar("T")


# -- driving the SDKs --------------------------------------------------------------------------


@dataclass
class Sent:
    """What one SDK run told the app: the uuids ``capture()`` returned (posthog-python; ``None``
    when the SDK swallowed a failure), or what the node process printed and logged."""

    sdk: str
    uuids: list[str | None] = field(default_factory=list)
    told: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` in a thread of its own: once a browser test has run in the session,
    Playwright's sync API keeps its loop running in the main thread, where ``asyncio.run`` (and
    pytest-asyncio) would refuse (see test_server_roads.py). Waits for the result, never
    sleeps."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make()).result(timeout=120)


def run_node(analytics: Analytics, scenario: str, options: dict[str, Any]) -> Sent:
    """posthog-node in a node process: ``scenario`` (``capture``, ``flags``) with client
    ``options``; returns once the process has shut its client down and exited."""
    script = str(FIXTURES / "node_faults.mjs")
    run = subprocess.run(
        ["node", script, str(analytics.host), scenario, json.dumps(options)],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    told = json.loads(run.stdout.strip().splitlines()[-1])
    return Sent(NODE, told=told, stderr=run.stderr)


def send(
    analytics: Analytics,
    sdk: str,
    *,
    events: int = 1,
    node: dict[str, Any] | None = None,
    **client: Any,
) -> Sent:
    """Have ``sdk`` capture ``events`` events (posthog-node: one) with client options
    ``client`` (posthog-python) or ``node`` (posthog-node, default :data:`FAST_NODE`), then shut
    the client down, which for the queued clients drains the queue, retries included."""
    if sdk == NODE:
        return run_node(analytics, "capture", FAST_NODE if node is None else node)
    if sdk == ASYNC:

        async def main() -> list[str | None]:
            async_client = posthog.AsyncPosthog(KEY, host=CLOUD, **client)
            try:
                uuids = [
                    async_client.capture(EVENT[sdk], distinct_id="buyer-1", properties={"n": n})
                    for n in range(events)
                ]
                await async_client.flush(timeout_seconds=60)
            finally:
                await async_client.shutdown()
            return uuids

        return Sent(sdk, run_async(main))
    sync_client = Posthog(KEY, host=CLOUD, sync_mode=sdk == SYNC, **client)
    try:
        uuids = [
            sync_client.capture(EVENT[sdk], distinct_id="buyer-1", properties={"n": n})
            for n in range(events)
        ]
    finally:
        sync_client.shutdown()
    return Sent(sdk, uuids)


def ask_flag(analytics: Analytics, sdk: str) -> tuple[Any, Sent]:
    """Have ``sdk`` read the flag ``beta`` for ``buyer-1`` in one ``/flags`` request, the way an
    app does (an app call that must not raise); returns the value and the run."""
    if sdk == NODE:
        sent = run_node(analytics, "flags", FAST_NODE)
        assert sent.told["threw"] is None, sent.stderr
        return sent.told["value"], sent
    if sdk == ASYNC:

        async def main() -> Any:
            async_client = posthog.AsyncPosthog(KEY, host=CLOUD)
            try:
                return (await async_client.evaluate_flags("buyer-1")).get_flag("beta")
            finally:
                await async_client.shutdown()

        return run_async(main), Sent(sdk)
    sync_client = Posthog(KEY, host=CLOUD, sync_mode=sdk == SYNC)
    try:
        with pytest.warns(DeprecationWarning, match="get_feature_flag"):
            value = sync_client.get_feature_flag("beta", "buyer-1")
    finally:
        sync_client.shutdown()
    return value, Sent(sdk)


# -- reading what happened ---------------------------------------------------------------------


def deliveries(analytics: Analytics, endpoint: str = "capture") -> list[Delivery]:
    return [d for d in analytics.faults.attempts if d.endpoint == endpoint]


def the_delivery(analytics: Analytics, endpoint: str = "capture") -> Delivery:
    found = deliveries(analytics, endpoint)
    assert len(found) == 1, analytics.faults.attempts
    return found[0]


def figures(sdk: str, case: str, delivery: Delivery) -> None:
    """One row of the figures table (printed, never asserted on)."""
    print(
        f"FIGURES | {sdk} | {case} | {delivery.endpoint} | attempts={delivery.count} | "
        f"statuses={delivery.statuses} | gaps={delivery.gaps} | "
        f"markers={[t.marker for t in delivery.tries]} | "
        f"retry_after={[t.retry_after for t in delivery.tries]} | "
        f"held={[round(t.held, 3) for t in delivery.tries]} | "
        f"events={[len(t.uuids) for t in delivery.tries]} | same_uuids={delivery.same_uuids}"
    )


def logged(analytics: Analytics, text: str) -> bool:
    """Whether posthog-python logged ``text`` (WARNING or above) in this test."""
    return any(text in record.message for record in analytics.sdk_log)


def wait_logged(analytics: Analytics, text: str) -> None:
    assert analytics.wait_until(lambda: logged(analytics, text), timeout=30), analytics.sdk_log


def delivered_once(analytics: Analytics, sdk: str, sent: Sent, delivery: Delivery) -> CapturedEvent:
    """The event is on the timeline once, under the uuid the SDK gave it, and the SDK told the
    app nothing went wrong."""
    [event] = analytics.wait_for(EVENT[sdk], timeout=30)
    assert delivery.uuids == (event.uuid,)
    if sdk == NODE:
        assert sent.told["errors"] == [], sent.stderr
    else:
        assert sent.uuids == [event.uuid]
    assert_no_duplicates(analytics)
    return event


def lost(analytics: Analytics, sdk: str, sent: Sent, delivery: Delivery, says: str) -> None:
    """The event never reached the timeline, the request that carried it is in
    ``analytics.faulted``, and the SDK said so (posthog-python in ``analytics.sdk_log``,
    posthog-node through its ``error`` event)."""
    assert not delivery.accepted
    assert analytics.find(EVENT[sdk]) == []
    assert analytics.retried == []
    [faulted] = analytics.faulted
    assert (faulted.uuids, faulted.status) == (delivery.uuids, delivery.statuses[-1])
    assert len(delivery.uuids) == 1
    if sdk == NODE:
        assert any(says in error for error in sent.told["errors"]), sent.stderr
    else:
        wait_logged(analytics, GAVE_UP[sdk])
        assert logged(analytics, says), analytics.sdk_log
        # sync_mode's capture() swallows the failure and returns None; a queued client had
        # already returned the uuid.
        assert sent.uuids == ([None] if sdk == SYNC else [delivery.uuids[0]])


# -- capture: a failing answer -----------------------------------------------------------------


@pytest.mark.parametrize("sdk", ALL)
def test_a_503_then_a_200_is_one_event_and_one_retry(analytics: Analytics, sdk: str) -> None:
    # posthog-node on its default fetchRetryDelay (3000 ms): the one test that keeps it.
    fault = analytics.faults.fail(503)
    sent = send(analytics, sdk, node={})
    assert (fault.hits, fault.remaining, fault.active) == (1, 0, False)
    delivery = the_delivery(analytics)
    figures(sdk, "503 then 200", delivery)
    assert delivery.sdk == LIB[sdk]
    if sdk == SYNC:
        # No SDK retry in sync_mode (capture v0): the event is lost; the SDK only logged it.
        assert delivery.statuses == [503]
        lost(analytics, sdk, sent, delivery, "(503)")
        return
    assert (delivery.statuses, delivery.retries, delivery.same_uuids) == ([503, 200], 1, True)
    assert [t.marker for t in delivery.tries] == [None, None]  # v0 marks no retry
    delivered_once(analytics, sdk, sent, delivery)
    assert analytics.retried == []  # the 503 took nothing: the retry is the first delivery
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status, faulted.uuids) == ("fail 503", 503, delivery.uuids)


@pytest.mark.parametrize("sdk", ALL)
def test_a_400_is_not_retried(analytics: Analytics, sdk: str) -> None:
    fault = analytics.faults.fail(400, times=2)  # a second try would get a 400 too
    sent = send(analytics, sdk)
    delivery = the_delivery(analytics)
    figures(sdk, "400", delivery)
    assert (delivery.statuses, fault.hits, fault.remaining) == ([400], 1, 1)
    lost(analytics, sdk, sent, delivery, "400")


@pytest.mark.parametrize("sdk", ALL)
def test_a_429_with_retry_after_is_retried(analytics: Analytics, sdk: str) -> None:
    # Retry-After: 2 against posthog-python's first backoff of 1 s and posthog-node's 200 ms
    # retry delay: the gap (a figure) says whether the SDK waited for it.
    analytics.faults.fail(429, retry_after=2)
    sent = send(analytics, sdk)
    delivery = the_delivery(analytics)
    figures(sdk, "429 Retry-After: 2", delivery)
    assert delivery.tries[0].retry_after == 2.0
    if sdk == SYNC:
        assert delivery.statuses == [429]  # sync_mode does not retry a 429 either
        lost(analytics, sdk, sent, delivery, "(429)")
        return
    assert (delivery.statuses, delivery.same_uuids) == ([429, 200], True)
    delivered_once(analytics, sdk, sent, delivery)


@pytest.mark.parametrize("sdk", ALL)
def test_a_dropped_connection_is_retried(analytics: Analytics, sdk: str) -> None:
    fault = analytics.faults.drop()
    sent = send(analytics, sdk)
    delivery = the_delivery(analytics)
    figures(sdk, "dropped connection", delivery)
    assert fault.hits == 1
    if sdk == SYNC:
        assert delivery.statuses == [None]  # no answer, and no retry
        lost(analytics, sdk, sent, delivery, "Remote end closed connection without response")
        return
    assert (delivery.statuses, delivery.same_uuids) == ([None, 200], True)
    delivered_once(analytics, sdk, sent, delivery)
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status) == ("drop", None)


# -- capture: a slow PostHog -------------------------------------------------------------------


@pytest.mark.parametrize("sdk", PYTHON)
def test_a_delay_longer_than_the_clients_timeout_is_a_redelivery(
    analytics: Analytics, sdk: str
) -> None:
    # timeout=0.5 s (posthog-python's default is 15 s) against a 5 s hold: the road answers the
    # client's ReadTimeout after 0.5 s, while PostHog has taken the event.
    fault = analytics.faults.delay(5)
    sent = send(analytics, sdk, timeout=0.5)
    delivery = the_delivery(analytics)
    figures(sdk, "delay 5 s, timeout 0.5 s", delivery)
    assert fault.hits == 1
    assert delivery.tries[0].held > 0
    [event] = analytics.wait_for(EVENT[sdk], timeout=30)  # PostHog took the first try
    assert delivery.uuids == (event.uuid,)
    if sdk == SYNC:
        # No retry: the app was told it failed (capture() returned None, an error logged)
        # though PostHog has the event.
        assert delivery.statuses == [None]
        assert sent.uuids == [None]
        wait_logged(analytics, "Read timed out")
        assert analytics.retried == []
        return
    assert (delivery.statuses, delivery.same_uuids) == ([None, 200], True)
    assert sent.uuids == [event.uuid]
    [again] = analytics.retried  # the retry is a re-delivery, not a second event
    assert (again.event, again.uuid) == (event.event, event.uuid)
    assert analytics.find(EVENT[sdk]) == [event]
    assert_no_duplicates(analytics)


def test_a_delay_longer_than_posthog_nodes_timeout_is_a_redelivery(analytics: Analytics) -> None:
    # requestTimeout 1000 ms (posthog-node's default is 10 s) against a hold of 60 s. The
    # collector cannot know the client's timeout: it holds the first request until the fault
    # stops, while node gives up and sends again.
    fault = analytics.faults.delay(60)
    sent = send(analytics, NODE, node={**FAST_NODE, "requestTimeout": 1000})
    # Node is done: its retry was taken while the first try was still held (nothing re-sent yet).
    [event] = analytics.wait_for(EVENT[NODE], timeout=30)
    assert (analytics.retried, fault.hits, sent.told["errors"]) == ([], 1, [])
    fault.stop()  # PostHog now takes the first request too: a re-delivery of the same uuid
    assert analytics.wait_until(lambda: len(analytics.retried) == 1, timeout=30)
    [again] = analytics.retried
    assert again.uuid == event.uuid
    assert analytics.find(EVENT[NODE]) == [event]
    assert_no_duplicates(analytics)
    delivery = the_delivery(analytics)
    figures(NODE, "delay 60 s (stopped), requestTimeout 1 s", delivery)
    assert (delivery.count, delivery.uuids, delivery.same_uuids) == (2, (event.uuid,), True)
    # In order of arrival: the held try first, with no answer (node had hung up on it).
    assert delivery.statuses == [None, 200]
    assert delivery.tries[0].held > 0
    assert all(gap >= 0 for gap in delivery.gaps)


# -- capture v1: per-event results -------------------------------------------------------------


@pytest.mark.parametrize("sdk", PYTHON)
def test_capture_v1_resends_only_the_event_marked_retry(analytics: Analytics, sdk: str) -> None:
    fault = analytics.faults.event_results("retry", events=1)
    sent = send(analytics, sdk, events=2, capture_mode="v1")
    first, second = sent.uuids
    assert fault.hits == 1
    events = analytics.wait_for(EVENT[sdk], count=2, timeout=30)
    assert sorted(e.uuid or "" for e in events) == sorted([first or "", second or ""])
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status, faulted.uuids) == (
        "per-event result 'retry'",
        200,
        (first,),
    )
    retried = next(d for d in deliveries(analytics) if first in d.uuids)
    figures(sdk, "v1 retry 1 of 2", retried)
    assert retried.statuses == [200, 200]
    assert [t.marker for t in retried.tries] == [None, "PostHog-Attempt: 2"]
    assert retried.tries[1].uuids == (first,)  # only the event marked retry is sent again
    assert retried.same_uuids
    if sdk == SYNC:
        # One request per event in sync_mode (and capture v1 does retry there): the other
        # event went alone, once.
        assert retried.tries[0].uuids == (first,)
        [other] = [d for d in deliveries(analytics) if first not in d.uuids]
        assert (other.uuids, other.statuses) == ((second,), [200])
    else:
        assert retried.tries[0].uuids == (first, second)  # one batch of both
        assert len(deliveries(analytics)) == 1
    assert analytics.retried == []  # the event marked retry was not taken the first time
    assert_no_duplicates(analytics)


# -- flags -------------------------------------------------------------------------------------

#: What each SDK puts in ``$feature_flag_error`` when ``/flags`` fails with a 503.
OUTAGE_ERROR = {
    SYNC: "api_error_503",
    CONSUMER: "api_error_503",
    ASYNC: "flag_missing",  # AsyncPosthog reports the outage as a missing flag
    NODE: "unknown_error",
}


def flag_called(analytics: Analytics, sdk: str) -> CapturedEvent:
    [called] = analytics.wait_for("$feature_flag_called", timeout=30)
    assert called.lib == LIB[sdk]
    return called


@pytest.mark.parametrize("sdk", ALL)
def test_flags_quota_limited(analytics: Analytics, sdk: str) -> None:
    analytics.flags.set("beta")  # on, so that only the quota can turn it off
    with analytics.faults.quota_limit("feature_flags") as fault:
        value, sent = ask_flag(analytics, sdk)
    assert value is None  # the SDK's fallback: no flags (and no stale cache to fall back on)
    assert fault.hits == 1
    delivery = the_delivery(analytics, "flags")
    figures(sdk, "quota_limit(feature_flags)", delivery)
    assert delivery.statuses == [200]
    assert delivery.tries[0].fault == "quota limited: feature_flags"
    called = flag_called(analytics, sdk)
    assert called.properties.get("$feature_flag_response") is None  # posthog-node omits it
    assert "quota_limited" in called.properties["$feature_flag_error"].split(",")
    if sdk == NODE:
        assert "Feature flags quota limit exceeded" in sent.stderr  # posthog-node's console.warn
    else:
        wait_logged(analytics, "quota limited")
    back, _ = ask_flag(analytics, sdk)
    assert back is True  # the quota was the only reason


@pytest.mark.parametrize("sdk", ALL)
def test_a_flags_outage_gives_the_sdks_fallback_and_the_app_goes_on(
    analytics: Analytics, sdk: str
) -> None:
    analytics.flags.set("beta")
    with analytics.faults.outage(endpoint="flags") as outage:
        value, sent = ask_flag(analytics, sdk)  # does not raise
    assert value is None
    assert outage.hits == 1
    delivery = the_delivery(analytics, "flags")
    figures(sdk, "outage(endpoint=flags)", delivery)
    assert delivery.statuses == [503]  # the SDKs retry /flags on 502 and 504 only
    called = flag_called(analytics, sdk)
    assert called.properties.get("$feature_flag_response") is None  # posthog-node omits it
    assert called.properties["$feature_flag_error"] == OUTAGE_ERROR[sdk]
    if sdk == NODE:
        assert any("status=503" in error for error in sent.told["errors"]), sent.stderr
    else:
        wait_logged(analytics, "503")
    assert all(d.accepted for d in deliveries(analytics))  # capture was never down
    back, _ = ask_flag(analytics, sdk)
    assert back is True  # PostHog is back, and so is the flag
