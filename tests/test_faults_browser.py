"""``analytics.faults`` against the published posthog-js 1.449.2 in real Chromium.

The page (``faults_page.html``, served on a made-up origin by ``page.route``) loads posthog-js
with the snippet and calls ``posthog.init`` with default options, plus ``on_request_error``,
posthog-js's public hook: it keeps the status of every answer >= 400, so a test knows the page
has handled a failure. posthog-js decides about a retry in the same call, right after that hook
(``request-dispatch.js`` then ``retry-queue.js``), so anything the test evaluates in the page
afterwards sees the decision made.

What posthog-js 1.449.2 does (``lib/src/retry-queue.js``): an answer that is not 200 and is
below 400 or 500 and above, or no answer at all (``statusCode`` 0), is queued for a retry
(jittered backoff from 3 s, a queue polled every 3 s, ``?retry_count=N`` on the URL, 10 tries,
3 for status 0); any other 4xx is final. A 200 whose body says ``quota_limited`` stops
requests of that kind for 60 s (``rate-limiter.js``).

The retry queue is read through its getter ``length``: the bundle renames the field holding it
(``posthog._retryQueue`` is ``undefined`` in ``dist/array.js``), so it is found by its public
method ``retriableRequest``, as the harness finds the request queue. The same number rides on
every event as ``$sdk_debug_retry_queue_size``.

Run with ``-s`` to see each test's figures (``FIGURES ...`` lines).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from pytest_hybrid_analytics import Analytics, Delivery, assert_no_duplicates

PAGE = Path(__file__).resolve().parent / "faults_page.html"
ORIGIN = "http://faults.test"
#: posthog-js's retry queue length (``null``: no retry queue found).
RETRY_QUEUE = """() => {
  const queue = Object.values(window.posthog).find(
    (value) => value && typeof value === "object" && typeof value.retriableRequest === "function");
  return queue ? queue.length : null;
}"""
#: A retry comes 3 to 6 s after a failure, the next one 6 to 9 s after that (a queue polled
#: every 3 s, a jittered backoff doubling from 3 s): every wait allows for two retries.
RETRY_WAIT = 30.0


def _serve(route: Route) -> None:
    route.fulfill(body=PAGE.read_bytes(), content_type="text/html; charset=utf-8")


@pytest.fixture
def shop(analytics: Analytics, page: Page) -> Page:
    """The page, loaded: its ``$pageview`` recorded, its flags answered and posthog-js's batch
    queue empty, so the next capture request is the test's, on a connection the page has used
    already (nothing else in flight)."""
    page.route(f"{ORIGIN}/**", _serve)
    page.goto(f"{ORIGIN}/")
    analytics.wait_for("$pageview", source="client")
    assert analytics.wait_until(
        lambda: any(d.endpoint == "flags" and d.accepted for d in analytics.faults.attempts),
        timeout=10,
    )
    analytics.flush()
    assert retry_queue(page) == 0
    return page


def capture(page: Page, event: str, *, instantly: bool = False) -> str:
    """``posthog.capture(event)`` in the page (into its 250 ms batch, or sent at once); the
    event's uuid."""
    options = "{send_instantly: true}" if instantly else "undefined"
    uuid = page.evaluate(f"event => posthog.capture(event, {{}}, {options}).uuid", event)
    assert isinstance(uuid, str)
    return uuid


def retry_queue(page: Page) -> int:
    """How many failed requests posthog-js holds for a retry."""
    length = page.evaluate(RETRY_QUEUE)
    assert isinstance(length, int), "posthog-js's retry queue was not found in the page"
    return length


def request_errors(page: Page) -> list[int]:
    """The status of every answer >= 400 posthog-js got (its ``on_request_error`` hook)."""
    errors = page.evaluate("window.requestErrors")
    assert isinstance(errors, list)
    return [int(status) for status in errors]


def delivery_of(analytics: Analytics, uuid: str) -> Delivery:
    [delivery] = [d for d in analytics.faults.attempts if uuid in d.uuids]
    return delivery


def tries_carrying(analytics: Analytics, uuid: str) -> int:
    """How many requests to PostHog carried this event, whatever delivery they were put in."""
    return sum(uuid in t.uuids for d in analytics.faults.attempts for t in d.tries)


def figures(case: str, delivery: Delivery) -> None:
    markers = [t.marker for t in delivery.tries]
    print(
        f"FIGURES {case}: attempts={delivery.count} statuses={delivery.statuses} "
        f"gaps={delivery.gaps} markers={markers} same_uuids={delivery.same_uuids}"
    )


def test_a_503_is_retried_once_under_the_same_uuid(analytics: Analytics, shop: Page) -> None:
    fault = analytics.faults.fail(503)
    uuid = capture(shop, "report_exported")
    shop.wait_for_function("window.requestErrors.length > 0")
    assert request_errors(shop) == [503]
    assert retry_queue(shop) == 1  # queued for a retry
    # An event captured meanwhile goes out in the next batch, and says a retry is pending: the
    # same probe reads 0 after a 400 (test_a_400_is_final_...).
    capture(shop, "captured_while_retry_pending")
    [pending] = analytics.wait_for("captured_while_retry_pending", timeout=RETRY_WAIT)
    assert pending.properties["$sdk_debug_retry_queue_size"] == 1

    [event] = analytics.wait_for("report_exported", timeout=RETRY_WAIT)
    assert event.uuid == uuid
    shop.wait_for_function(f"({RETRY_QUEUE})() === 0")

    delivery = delivery_of(analytics, uuid)
    figures("fail(503) once", delivery)
    assert delivery.sdk == "posthog-js"
    assert delivery.statuses == [503, 200]
    assert [t.marker for t in delivery.tries] == [None, "retry_count=1"]
    assert [t.fault for t in delivery.tries] == ["fail 503", None]
    assert [t.transport for t in delivery.tries] == ["browser", "browser"]
    assert delivery.uuids == (uuid,)
    assert delivery.same_uuids
    assert delivery.accepted
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status, faulted.endpoint) == ("fail 503", 503, "capture")
    assert [(e.event, e.uuid) for e in faulted.events] == [("report_exported", uuid)]
    assert (fault.hits, fault.active) == (1, False)
    # The first try was never taken, so the retry is the one recording, not a re-delivery.
    assert analytics.retried == []
    assert_no_duplicates(analytics)
    assert [e.uuid for e in analytics.find("report_exported")] == [uuid]


def test_a_400_is_final_and_never_sent_again(analytics: Analytics, shop: Page) -> None:
    fault = analytics.faults.fail(400)
    uuid = capture(shop, "report_rejected")
    shop.wait_for_function("window.requestErrors.length > 0")
    assert request_errors(shop) == [400]
    # posthog-js has made its decision (in the same call as the hook): nothing queued. The
    # retry queue is its only way to send a failed batch again (at pagehide too, by beacon).
    assert retry_queue(shop) == 0
    # An event captured after the failure arrives, and it too says nothing was pending.
    capture(shop, "captured_after_the_400")
    [after] = analytics.wait_for("captured_after_the_400", timeout=RETRY_WAIT)
    assert after.properties["$sdk_debug_retry_queue_size"] == 0
    assert retry_queue(shop) == 0

    delivery = delivery_of(analytics, uuid)
    figures("fail(400)", delivery)
    assert delivery.statuses == [400]
    assert [t.marker for t in delivery.tries] == [None]
    assert not delivery.accepted
    assert tries_carrying(analytics, uuid) == 1
    assert analytics.find("report_rejected") == []
    assert uuid not in {e.uuid for e in analytics.retried}
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status) == ("fail 400", 400)
    assert [(e.event, e.uuid) for e in faulted.events] == [("report_rejected", uuid)]
    assert fault.hits == 1


def test_a_429_is_dropped_and_its_retry_after_ignored(analytics: Analytics, shop: Page) -> None:
    """posthog-js 1.449.2 retries only answers below 400 or from 500 up: a 429 is as final as a
    400. Its ``Retry-After`` only ever lengthens a retry that happens anyway (5xx, no answer),
    so here it changes nothing, and a 429 does not trip the quota limiter either: the next
    batches go out as usual. For users: a 429 in front of PostHog (a proxy, a WAF, a rate
    limit of your own ingestion route) loses the events of that batch, with no retry and no
    back-off. (PostHog itself signals a billing limit with a 200 and ``quota_limited``.)"""
    fault = analytics.faults.fail(429, retry_after=2)
    uuid = capture(shop, "report_throttled")
    shop.wait_for_function("window.requestErrors.length > 0")
    assert request_errors(shop) == [429]
    assert retry_queue(shop) == 0
    assert shop.evaluate("posthog.rateLimiter.isServerRateLimited()") is False
    capture(shop, "captured_after_the_429")
    [after] = analytics.wait_for("captured_after_the_429", timeout=RETRY_WAIT)
    assert after.properties["$sdk_debug_retry_queue_size"] == 0
    assert retry_queue(shop) == 0

    delivery = delivery_of(analytics, uuid)
    figures("fail(429, retry_after=2)", delivery)
    assert delivery.statuses == [429]
    assert [t.retry_after for t in delivery.tries] == [2.0]
    assert not delivery.accepted
    assert tries_carrying(analytics, uuid) == 1
    assert analytics.find("report_throttled") == []
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status, faulted.retry_after) == ("fail 429", 429, 2.0)
    assert faulted.uuids == (uuid,)
    assert fault.hits == 1


def test_a_dropped_connection_is_retried_by_posthog_js(analytics: Analytics, shop: Page) -> None:
    """A connection that closes with no answer: posthog-js's fetch fails (``statusCode`` 0,
    which ``on_request_error`` does not report: it is for answers >= 400), it queues the batch,
    and its retry carries ``retry_count``. (Chromium silently re-sends a request whose *reused*
    keep-alive connection closes with no answer; while a drop is armed the collector keeps no
    connection alive, so the drop reaches posthog-js as it would on a fresh connection.)"""
    fault = analytics.faults.drop()
    uuid = capture(shop, "report_dropped")
    shop.wait_for_function(f"({RETRY_QUEUE})() === 1")  # posthog-js saw the failure
    [event] = analytics.wait_for("report_dropped", timeout=RETRY_WAIT)
    assert event.uuid == uuid
    shop.wait_for_function(f"({RETRY_QUEUE})() === 0")

    delivery = delivery_of(analytics, uuid)
    figures("drop()", delivery)
    assert delivery.statuses == [None, 200]
    assert [t.fault for t in delivery.tries] == ["drop", None]
    assert [t.marker for t in delivery.tries] == [None, "retry_count=1"]
    assert delivery.same_uuids
    assert request_errors(shop) == []
    [faulted] = analytics.faulted
    assert (faulted.fault, faulted.status, faulted.uuids) == ("drop", None, (uuid,))
    assert (fault.hits, fault.active) == (1, False)
    assert analytics.retried == []
    assert_no_duplicates(analytics)
    assert [e.uuid for e in analytics.find("report_dropped")] == [uuid]


def test_a_quota_limited_answer_stops_posthog_js_sending_events(
    analytics: Analytics, shop: Page
) -> None:
    """After a 200 whose body says ``quota_limited: ["events"]``, posthog-js sends nothing of
    batch key ``events`` for 60 s: no later event, and no ``/flags`` request either (they have
    no batch key of their own, so ``isServerRateLimited()`` holds them too). Proved without
    waiting 60 s: the quota fault stays on and answers every capture request, so any request
    that carried the second event would be one of its hits. A tracer sent after it on another
    batch key (``captureException``: ``exceptionEvent``, still allowed) is that fault's second
    hit, and nothing came between."""
    fault = analytics.faults.quota_limit("events")
    flags_before = sum(d.count for d in analytics.faults.attempts if d.endpoint == "flags")
    first = capture(shop, "first_over_quota")
    shop.wait_for_function("posthog.rateLimiter.isServerRateLimited()")
    # At once (send_instantly): were it allowed, its fetch would start before this returns.
    second = capture(shop, "second_over_quota", instantly=True)
    shop.evaluate("posthog.reloadFeatureFlags()")
    assert shop.evaluate("posthog.rateLimiter.isServerRateLimited('exceptionEvent')") is False
    tracer = shop.evaluate("posthog.captureException(new Error('tracer')).uuid")
    # Wait on what is kept, not on fault.hits: a hit is counted before the request is noted.
    assert analytics.wait_until(lambda: len(analytics.faulted) >= 2, timeout=RETRY_WAIT)

    limited, traced = analytics.faulted
    assert [e.event for e in limited.events] == ["first_over_quota"]
    assert limited.uuids == (first,)
    assert (limited.fault, limited.status) == ("quota limited: events", 200)
    assert [e.event for e in traced.events] == ["$exception"]
    assert traced.uuids == (tracer,)
    assert fault.hits == 2
    assert tries_carrying(analytics, second) == 0
    flags_after = sum(d.count for d in analytics.faults.attempts if d.endpoint == "flags")
    assert flags_after == flags_before
    assert shop.evaluate("posthog.rateLimiter.isServerRateLimited()") is True
    delivery = delivery_of(analytics, first)
    figures("quota_limit('events')", delivery)
    assert delivery.statuses == [200]
    assert not delivery.accepted
    assert analytics.find(lambda name: name.endswith("_over_quota")) == []
    assert analytics.retried == []


def test_the_page_keeps_working_through_an_outage_and_posthog_js_delivers_after_it(
    analytics: Analytics, shop: Page
) -> None:
    """PostHog down (every endpoint answers 503): a click handler that runs after posthog-js
    got its first 503 still updates the page, and once PostHog is back posthog-js's retries
    deliver each event once, under its first uuid."""
    status = shop.locator("#status")
    with analytics.faults.outage() as outage:
        shop.click("#save")
        expect(status).to_have_text("saved (1)")
        shop.wait_for_function("window.requestErrors.length > 0")
        shop.click("#share")  # posthog-js is failing now
        expect(status).to_have_text("shared (2)")
        assert analytics.wait_until(
            lambda: (
                {"item_saved", "item_shared"}
                <= {e.event for request in analytics.faulted for e in request.events}
            ),
            timeout=RETRY_WAIT,
        )
        shop.wait_for_function(f"({RETRY_QUEUE})() > 0")
        assert set(request_errors(shop)) == {503}
        during = outage.hits
    [saved] = analytics.wait_for("item_saved", timeout=RETRY_WAIT)
    [shared] = analytics.wait_for("item_shared", timeout=RETRY_WAIT)
    shop.wait_for_function(f"({RETRY_QUEUE})() === 0")

    assert analytics.page_errors == []
    assert outage.hits == during  # the outage ended with its block: the retries got PostHog
    for event in (saved, shared):
        assert event.uuid is not None
        delivery = delivery_of(analytics, event.uuid)
        figures(f"outage() {event.event}", delivery)
        *failed, last = delivery.statuses
        assert set(failed) == {503}  # at least one 503, and nothing else before the 200
        assert last == 200
        markers = [t.marker for t in delivery.tries]
        assert markers == [None] + [f"retry_count={n}" for n in range(1, len(markers))]
        assert delivery.same_uuids
        assert tries_carrying(analytics, event.uuid) == delivery.count
        assert [e.uuid for e in analytics.find(event.event)] == [event.uuid]
    assert analytics.retried == []
    assert_no_duplicates(analytics)
    print(f"FIGURES outage(): requests failed={during}, page saw {request_errors(shop)}")
