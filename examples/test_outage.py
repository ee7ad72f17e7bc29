"""The Hoodie Shop when PostHog is down or slow: does the checkout still work, what is lost,
what arrives once PostHog is back, and does the server SDK hold up the request?

The shop's server SDK runs three ways (the fixture ``server_sdk``):

- ``sync_mode``: ``Posthog(..., sync_mode=True)``, one POST per event on the request's thread
  and, by the SDK's design, no retry (``Shop(sync_mode=True)``).
- ``consumer_thread``: the shop as written, as the guide recommends: the SDK's consumer thread
  sends, and each handler calls ``posthog.flush()`` after its capture.
- ``consumer_no_flush``: the same consumer thread with the handlers' ``flush()`` left out
  (``Shop(flush_per_request=False)``): the thread sends on its own batch interval (5 s).

Findings these tests pin down (posthog-python 7.91.1 on its defaults):

- An outage never breaks the checkout. sync_mode loses the server's event at once (one try, no
  retry); the consumer thread retries it (1, 2, 4 s) and delivers it if PostHog is back in
  time, but a handler's ``flush()`` waits for those retries before the checkout can answer.
- A slow PostHog blocks the request path in sync_mode (the request thread is inside the SDK's
  POST until PostHog answers or the SDK's own 15 s timeout), and with the per-request
  ``flush()`` (it waits out its 10 s budget, then the checkout answers while PostHog still
  holds the consumer's POST). Only the consumer thread without a per-request flush answers at
  once.

Waits are on conditions (``analytics.wait_until``, Playwright's ``expect``), never fixed sleeps;
nothing is asserted on wall-clock time: blocking is proven by what had happened when the
checkout answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from playwright.sync_api import Page, expect
from shop import Shop

from pytest_hybrid_analytics import (
    Analytics,
    Delivery,
    Fault,
    FaultedRequest,
    assert_no_duplicates,
)

CARD = "4242 4242 4242 4242"
SYNC, CONSUMER, NO_FLUSH = "sync_mode", "consumer_thread", "consumer_no_flush"


@pytest.fixture(params=[SYNC, CONSUMER, NO_FLUSH])
def server_sdk(request: pytest.FixtureRequest) -> str:
    """How the shop's server SDK sends (see the module's docstring)."""
    return str(request.param)


@pytest.fixture
def outage_shop(analytics: Analytics, server_sdk: str) -> Iterator[Shop]:
    """A shop of this test's own, its server SDK as ``server_sdk`` says (made after
    ``analytics``, shut down before it: its client's events are this test's)."""
    yield from _running(server_sdk)


def _running(server_sdk: str) -> Iterator[Shop]:
    with Shop(sync_mode=server_sdk == SYNC, flush_per_request=server_sdk != NO_FLUSH) as shop:
        yield shop


def server_deliveries(analytics: Analytics) -> list[Delivery]:
    """The server SDK's deliveries of events (each with its retries)."""
    return [
        d
        for d in analytics.faults.attempts
        if d.sdk == "posthog-python" and d.endpoint == "capture"
    ]


def purchase_requests(analytics: Analytics) -> list[FaultedRequest]:
    """The server's faulted capture requests that carried the purchase (the payment handler
    also reads the checkout flag: its /flags call and $feature_flag_called go their own way,
    or in the same batch)."""
    return [
        r
        for r in analytics.faulted
        if r.transport == "requests"
        and r.endpoint == "capture"
        and any(e.event == "purchase_completed" for e in r.events)
    ]


# -- PostHog down: the checkout goes on ----------------------------------------------------------

#: The statuses of the server's purchase_completed delivery, per server SDK: sync_mode tries
#: once; the shop's flush() waits while the consumer spends its 3 retries inside the outage
#: (the outage ends as soon as the checkout has answered, yet no retry got through: they all
#: came before the answer); without that flush the consumer's first retry comes once PostHog
#: is back.
SERVER_TRIES = {
    SYNC: [503],
    CONSUMER: [503, 503, 503, 503],
    NO_FLUSH: [503, 200],
}


BOTH_SIDES = {("requests", "purchase_completed"), ("browser", "payment_submitted")}


def _faulted_events(analytics: Analytics) -> set[tuple[str, str]]:
    """(road, event) of every event a fault answered instead of PostHog."""
    return {(r.transport, e.event) for r in analytics.faulted for e in r.events}


def test_checkout_completes_while_posthog_is_down(
    analytics: Analytics, page: Page, outage_shop: Shop, server_sdk: str
) -> None:
    with analytics.faults.outage():  # every PostHog endpoint answers 503 inside the block
        page.goto(f"{outage_shop.url}/checkout")
        page.fill("#card-number", CARD)
        with page.expect_response("**/api/payments", timeout=30_000) as paid:
            page.click("#submit-payment")
        # The app: the payment went through and the order page rendered.
        assert paid.value.status == 200
        order = paid.value.json()
        assert order["status"] == "paid"
        expect(page.locator("#confirmation")).to_be_visible()
        expect(page.locator("#order-id")).to_have_text(order["order_id"])
        # PostHog stays down until both sides have met it: the server's purchase (sync_mode and
        # the shop's flush() tried before the checkout answered; the consumer without flush
        # sends on its batch interval) and the page's payment_submitted (its 250 ms batch).
        assert analytics.wait_until(lambda: _faulted_events(analytics) >= BOTH_SIDES, timeout=15)
        # PostHog is back as the block ends.

    # What the outage answered: the server's purchase (each try), and posthog-js's requests.
    server_faulted = purchase_requests(analytics)
    for request in server_faulted:
        assert (request.fault, request.status) == ("fail 503", 503)
        assert [
            e.properties["order_id"] for e in request.events if e.event == "purchase_completed"
        ] == [order["order_id"]]
    # The payment handler read the checkout flag during the outage: /flags answered 503 too,
    # and the shop went on with the flag off.
    assert any(r.endpoint == "flags" and r.transport == "requests" for r in analytics.faulted)
    page_faulted = [r for r in analytics.faulted if r.transport == "browser"]
    assert {"capture", "config"} <= {r.endpoint for r in page_faulted}
    assert {"$pageview", "payment_submitted"} <= {e.event for r in page_faulted for e in r.events}

    # posthog-js kept its failed batches and sends them again once PostHog is back: the same
    # events, the same uuids, each retry marked ?retry_count=N.
    analytics.wait_for("$pageview", source="client", timeout=45)
    [submitted] = analytics.wait_for("payment_submitted", source="client", timeout=45)
    [delivery] = [d for d in analytics.faults.attempts if submitted.uuid in d.uuids]
    assert delivery.statuses[0] == 503
    assert delivery.statuses[-1] == 200
    assert delivery.same_uuids
    assert [t.marker for t in delivery.tries[1:]] == [
        f"retry_count={n}" for n in range(1, delivery.count)
    ]

    # The server's purchase: lost (sync_mode: one try; the shop's flush() spent the consumer's
    # retries while PostHog was down), or retried once PostHog was back (same uuid).
    if server_sdk == NO_FLUSH:
        analytics.wait_for("purchase_completed", source="server", order_id=order["order_id"])
    analytics.flush()
    [purchase_uuid] = {
        e.uuid for r in server_faulted for e in r.events if e.event == "purchase_completed"
    }
    [purchase_delivery] = [d for d in server_deliveries(analytics) if purchase_uuid in d.uuids]
    assert purchase_delivery.statuses == SERVER_TRIES[server_sdk]
    assert len(server_faulted) == SERVER_TRIES[server_sdk].count(503)
    first_try = purchase_delivery.tries[0].uuids
    assert [t.uuids for t in purchase_delivery.tries] == [first_try] * purchase_delivery.count
    assert purchase_delivery.accepted == (server_sdk == NO_FLUSH)
    lost = server_sdk != NO_FLUSH
    assert (analytics.find("purchase_completed") == []) == lost
    assert_no_duplicates(analytics)  # a retry is never a second event
    for line in analytics.faults.summary().splitlines():
        print(f"{server_sdk}: {line}")


# -- PostHog slow: who waits for it -----------------------------------------------------------


@dataclass
class Checkout:
    """The checkout's server request (``POST /api/payments``), made in a thread of its own,
    and what had happened by the moment its response came back."""

    shop: Shop
    analytics: Analytics
    slow: Fault
    status: int = 0
    order_id: str = ""
    #: The statuses of the server SDK's tries noted by then (a try PostHog still holds is
    #: noted only once it is answered, or the SDK gave up on it: ``None``).
    tries_then: list[list[int | None]] = field(default_factory=list)
    #: How many requests the delay had held by then.
    hits_then: int = -1
    #: What the posthog SDK had logged by then.
    logged_then: list[str] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Checkout:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            answer = requests.post(
                f"{self.shop.url}/api/payments",
                json={"amount": 59.0, "currency": "EUR", "distinct_id": "shopper-1"},
                timeout=120,
            )
            # Read at once, before anything else can happen: the order of things is the proof.
            self.tries_then = [d.statuses for d in server_deliveries(self.analytics)]
            self.hits_then = self.slow.hits
            self.logged_then = [r.message for r in self.analytics.sdk_log]
            self.status = answer.status_code
            self.order_id = answer.json()["order_id"]
        finally:
            self._done.set()
            self.analytics.wake()  # a wait_until on done() looks again

    def done(self) -> bool:
        return self._done.is_set()

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()


@pytest.mark.parametrize("server_sdk", [SYNC])
def test_sync_mode_blocks_the_checkout_while_posthog_holds_the_answer(
    analytics: Analytics, outage_shop: Shop
) -> None:
    # FINDING: in sync_mode the SDK's POST runs on the request's own thread, so a slow PostHog
    # holds the checkout: it cannot answer until PostHog does or the SDK gives up (its own
    # timeout, 15 s by default, per event).
    slow = analytics.faults.delay(60)  # PostHog holds one answer until slow.stop()
    checkout = Checkout(outage_shop, analytics, slow).start()
    assert analytics.wait_until(lambda: slow.hits >= 1, timeout=10)
    # The request thread is now inside the SDK's POST (the handler's first capture: the
    # checkout flag's $feature_flag_called, which sync_mode sends at once); no answer yet.
    assert not checkout.done()
    assert analytics.wait_until(checkout.done, timeout=60)
    assert checkout.status == 200
    # By the time the checkout answered, the held POST had already ended: the SDK gave up
    # waiting (no answer, a read timeout it logged and swallowed), and only then sent the
    # purchase (PostHog answered it at once). The answer came after, never while PostHog held
    # the first.
    assert checkout.tries_then == [[None], [200]]
    assert any("Read timed out" in line for line in checkout.logged_then)

    slow.stop()
    checkout.join()
    # PostHog took the held event while the SDK was still waiting; sync_mode never sends it
    # again.
    analytics.wait_for("$feature_flag_called", source="server")
    analytics.wait_for("purchase_completed", source="server", order_id=checkout.order_id)
    assert [d.statuses for d in server_deliveries(analytics)] == [[None], [200]]
    assert analytics.retried == []


@pytest.mark.parametrize("server_sdk", [CONSUMER])
def test_consumer_thread_with_flush_per_request_blocks_the_checkout_for_the_flush_budget(
    analytics: Analytics, outage_shop: Shop
) -> None:
    # FINDING: the consumer thread sends in the background, but the shop's handler calls
    # flush() after its capture (as the guide recommends), and flush() waits for the consumer:
    # a slow PostHog holds the checkout for flush()'s whole budget (10 s by default). The
    # checkout then answers while PostHog still holds the consumer's POST.
    slow = analytics.faults.delay(60)
    checkout = Checkout(outage_shop, analytics, slow).start()
    assert analytics.wait_until(lambda: slow.hits >= 1, timeout=10)
    assert not checkout.done()  # the handler is in flush(), waiting for the consumer
    assert analytics.wait_until(checkout.done, timeout=60)
    assert checkout.status == 200
    # When the checkout answered, PostHog still held the consumer's POST (no try noted yet,
    # not even a given-up one), and flush() had first run out of its budget.
    assert checkout.tries_then == []
    assert any("ran out of budget" in line for line in checkout.logged_then)

    slow.stop()  # PostHog answers the held POST now
    checkout.join()
    analytics.wait_for("purchase_completed", source="server", order_id=checkout.order_id)
    [delivery] = server_deliveries(analytics)
    assert delivery.statuses == [200]
    assert analytics.retried == []


@pytest.mark.parametrize("server_sdk", [NO_FLUSH])
def test_consumer_thread_without_flush_never_blocks_the_checkout(
    analytics: Analytics, outage_shop: Shop
) -> None:
    # The consumer thread alone: the checkout answers at once; PostHog is asked later, on the
    # consumer's batch interval, and its slowness holds only the consumer.
    slow = analytics.faults.delay(60)
    checkout = Checkout(outage_shop, analytics, slow).start()
    assert analytics.wait_until(lambda: slow.hits >= 1, timeout=30)
    # PostHog holds the consumer's POST now, and the checkout has long answered: before
    # PostHog was even asked.
    assert checkout.done()
    assert checkout.status == 200
    assert checkout.hits_then == 0
    assert checkout.tries_then == []
    assert server_deliveries(analytics) == []  # still held: nothing answered yet

    slow.stop()
    checkout.join()
    analytics.wait_for("purchase_completed", source="server", order_id=checkout.order_id)
    [delivery] = server_deliveries(analytics)
    assert delivery.statuses == [200]
