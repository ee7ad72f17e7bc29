"""``analytics.faults``: PostHog misbehaving on purpose, on every road at once.

A test arms a fault (``fail``, ``delay``, ``drop``, ``outage``, ``quota_limit``,
``event_results``); the fake PostHog API asks :meth:`Faults.take` before it answers a request to
an endpoint, so an in-process ``posthog`` client, an ``httpx`` sender, an app in another
process and posthog-js in a page all meet the same fault. Every request to a PostHog endpoint
is noted as an :class:`~pytest_hybrid_analytics.Attempt`, grouped with its retries into a
:class:`~pytest_hybrid_analytics.Delivery` (``faults.attempts``); a request made to fail is kept
whole in ``faults.faulted``.

No wording of answers lives here (the fake API composes them) and no I/O but the wait a
``delay`` asks for, which the end of the test cuts short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal

from pytest_hybrid_analytics._model.attempts import Attempt, Delivery, EndpointKind, FaultedRequest
from pytest_hybrid_analytics._model.text import plural

__all__ = ["ENDPOINTS", "Fault", "FaultKind", "Faults"]

#: Every endpoint a fault can target (``endpoint=None`` means all of them).
ENDPOINTS: tuple[EndpointKind, ...] = ("capture", "recordings", "flags", "config")
#: What a fault does to a request.
FaultKind = Literal["fail", "delay", "drop", "quota", "results"]
#: The products ``quota_limit`` takes, and the endpoint each limits.
_PRODUCTS: dict[str, EndpointKind] = {
    "events": "capture",
    "recordings": "recordings",
    "feature_flags": "flags",
}
#: The per-event results capture v1 knows.
_RESULTS = ("retry", "drop", "limited", "warning", "ok")


class Fault:
    """One armed fault: how many requests it hit, and a way to stop it. Used as a context
    manager, it is on inside the block only.

    >>> fault = analytics.faults.fail(503, times=2)
    >>> fault.hits, fault.remaining
    (0, 2)
    >>> with analytics.faults.fail(503, times=None, endpoint="flags"):
    ...     client.get("/pricing")
    """

    def __init__(
        self,
        owner: Faults,
        kind: FaultKind,
        endpoints: Iterable[EndpointKind],
        times: int | None,
        *,
        status: int = 200,
        retry_after: float | str | None = None,
        body: bytes | str | dict[str, object] | None = None,
        seconds: float = 0.0,
        products: tuple[str, ...] = (),
        result: str = "retry",
        events: int | None = None,
    ) -> None:
        self._owner = owner
        #: ``"fail"``, ``"delay"``, ``"drop"``, ``"quota"`` or ``"results"``.
        self.kind: FaultKind = kind
        #: The endpoints it applies to.
        self.endpoints = frozenset(endpoints)
        #: The status a ``fail`` answers.
        self.status = status
        #: The ``Retry-After`` a ``fail`` answers with (seconds, or an HTTP date as text).
        self.retry_after = retry_after
        #: The body a ``fail`` answers with (``None``: PostHog's error for the status).
        self.body = body
        #: How long a ``delay`` holds the answer.
        self.seconds = seconds
        #: What a ``quota_limit`` limits (``"events"``, ``"recordings"``, ``"feature_flags"``).
        self.products = products
        #: The per-event result an ``event_results`` fault gives.
        self.result = result
        #: How many of a request's events get it (``None``: all).
        self.events = events
        #: How many requests it hit so far.
        self.hits = 0
        self._left = times
        self._on = True
        #: Set when it stops: a request it holds (``delay``) is answered at once.
        self._stopped = threading.Event()

    @property
    def remaining(self) -> int | None:
        """How many more requests it will hit (``None``: until stopped)."""
        return self._left

    @property
    def active(self) -> bool:
        """Whether it still hits requests."""
        return self._on and (self._left is None or self._left > 0)

    def describe(self) -> str:
        """``"fail 503"``, ``"delay 2 s"``, ``"drop"``, ``"quota limited: events"``..."""
        if self.kind == "fail":
            return f"fail {self.status}"
        if self.kind == "delay":
            return f"delay {self.seconds:g} s"
        if self.kind == "quota":
            return "quota limited: " + ", ".join(self.products)
        if self.kind == "results":
            return f"per-event result {self.result!r}"
        return "drop"

    def stop(self) -> None:
        """Hit no more requests; a request a ``delay`` still holds is answered now."""
        self._owner._stop(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "/".join(e for e in ENDPOINTS if e in self.endpoints)
        left = "until stopped" if self._left is None else f"{self._left} left"
        return f"Fault({self.describe()}, {where}, hits={self.hits}, {left})"


def _endpoints(endpoint: EndpointKind | None) -> tuple[EndpointKind, ...]:
    if endpoint is None:
        return ENDPOINTS
    if endpoint not in ENDPOINTS:
        raise ValueError(
            f"endpoint={endpoint!r}: expected one of {', '.join(map(repr, ENDPOINTS))} or None"
        )
    return (endpoint,)


def _times(times: int | None) -> int | None:
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError(f"times={times!r}: a count of requests (1 or more), or None for all")
    return times


class Faults:
    """The faults of one test, and what the SDKs tried while they were on.

    >>> analytics.faults.fail(503)                      # the next capture request gets a 503
    >>> with analytics.faults.outage():                 # PostHog down inside the block
    ...     response = client.post("/checkout")
    >>> [d.statuses for d in analytics.faults.attempts]
    [[503, 200]]
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._armed: list[Fault] = []
        self._deliveries: list[Delivery] = []
        self._by_uuid: dict[str, Delivery] = {}
        self._by_request: dict[tuple[object, ...], Delivery] = {}
        self._faulted: list[FaultedRequest] = []
        self._on_change = on_change
        #: Called when a ``drop`` is armed (the harness closes the collector's idle
        #: keep-alive connections then: a browser silently re-sends a request whose reused
        #: connection closes with no answer, so the SDK would never see the drop).
        self.on_drop: Callable[[], None] | None = None

    # -- arming ----------------------------------------------------------------------------

    def _arm(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
            self._armed.append(fault)
        return fault

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        endpoint: EndpointKind | None = "capture",
        retry_after: float | str | None = None,
        body: bytes | str | dict[str, object] | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests to ``endpoint`` with ``status`` (``None``: every
        one until stopped), with ``Retry-After: retry_after`` and ``body`` when given.

        >>> analytics.faults.fail(429, retry_after=2)
        >>> analytics.faults.fail(400, body={"type": "validation_error"})
        """
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status={status!r}: an HTTP status (100..599)")
        return self._arm(
            Fault(
                self,
                "fail",
                _endpoints(endpoint),
                _times(times),
                status=status,
                retry_after=retry_after,
                body=body,
            )
        )

    def delay(
        self, seconds: float, *, times: int | None = 1, endpoint: EndpointKind | None = "capture"
    ) -> Fault:
        """Hold the answer to the next ``times`` requests to ``endpoint`` for ``seconds`` (a
        slow PostHog). PostHog still takes what they carry; a client whose own timeout is
        shorter gives up first (``requests``' ``ReadTimeout``, ``httpx.ReadTimeout``) and its
        retry is a re-delivery, not a duplicate. The end of the test cuts the wait short.

        >>> analytics.faults.delay(3)
        """
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds={seconds!r}: a duration in seconds (0 or more)")
        return self._arm(
            Fault(self, "delay", _endpoints(endpoint), _times(times), seconds=float(seconds))
        )

    def drop(self, *, times: int | None = 1, endpoint: EndpointKind | None = "capture") -> Fault:
        """Close the connection of the next ``times`` requests to ``endpoint`` with no answer
        (``requests.ConnectionError``, ``httpx.RemoteProtocolError``, a browser's failed
        ``fetch``).

        >>> analytics.faults.drop(times=2)
        """
        fault = self._arm(Fault(self, "drop", _endpoints(endpoint), _times(times)))
        if self.on_drop is not None:
            self.on_drop()
        return fault

    def outage(self, status: int = 503, *, endpoint: EndpointKind | None = None) -> Fault:
        """PostHog down: every request to ``endpoint`` (``None``: capture, recordings, flags
        and config alike) answers ``status`` until the block ends (or ``stop()``).

        >>> with analytics.faults.outage():
        ...     assert client.post("/checkout").status_code == 200
        """
        return self.fail(status, times=None, endpoint=endpoint)

    def quota_limit(self, *products: str, times: int | None = None) -> Fault:
        """Answer as PostHog does over a billing limit, for ``products`` (``"events"`` by
        default, ``"recordings"``, ``"feature_flags"``): capture and recordings answer 200 with
        ``{"quota_limited": [...]}`` and drop the events (posthog-js then stops sending that
        kind for 60 s); ``/flags`` answers no flags with ``"quotaLimited": ["feature_flags"]``
        (the Python SDK logs it and answers every flag as not set).

        >>> with analytics.faults.quota_limit("events", "feature_flags"):
        ...     page.click("#buy")
        """
        chosen = products or ("events",)
        unknown = [p for p in chosen if p not in _PRODUCTS]
        if unknown:
            raise ValueError(f"quota_limit{unknown}: expected products among {list(_PRODUCTS)}")
        endpoints = {_PRODUCTS[p] for p in chosen}
        return self._arm(
            Fault(self, "quota", endpoints, _times(times), products=tuple(dict.fromkeys(chosen)))
        )

    def event_results(
        self, result: str = "retry", *, events: int | None = None, times: int | None = 1
    ) -> Fault:
        """Answer the next ``times`` capture v1 requests (``/i/v1/analytics/events``) with a
        per-event ``result`` for their first ``events`` events (``None``: all): ``"retry"``
        (the SDK sends them again), ``"drop"``, ``"limited"``. Those events are not taken.

        >>> analytics.faults.event_results("retry", events=1)
        """
        if result not in _RESULTS:
            raise ValueError(f"result={result!r}: expected one of {list(_RESULTS)}")
        if events is not None and (not isinstance(events, int) or events < 1):
            raise ValueError(f"events={events!r}: a count of events (1 or more), or None for all")
        return self._arm(
            Fault(self, "results", ("capture",), _times(times), result=result, events=events)
        )

    def clear(self) -> None:
        """Stop every fault, answering the requests a ``delay`` holds (what the SDKs tried
        stays in :attr:`attempts`)."""
        with self._lock:
            stopping, self._rules = self._rules, []
        for fault in stopping:
            self._stop(fault)

    def release(self) -> None:
        """The test is over: stop every fault and answer every held request now."""
        self.clear()
        for fault in self.armed:
            fault._stopped.set()

    def _stop(self, fault: Fault) -> None:
        with self._lock:
            fault._on = False
            if fault in self._rules:
                self._rules.remove(fault)
        fault._stopped.set()
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    # -- what the fake API asks ------------------------------------------------------------

    def take(
        self, endpoint: EndpointKind, *, v1: bool = False
    ) -> tuple[Fault | None, Fault | None]:
        """The faults for one request to ``endpoint``: a ``delay`` to hold it first, and what
        answers it instead of PostHog (``fail``, ``drop``, ``quota``, ``results``: the first
        armed wins). Each counts one hit. ``v1``: a capture v1 request (the only kind
        ``event_results`` applies to)."""
        if not self._rules:  # the common case: nothing armed, no lock
            return None, None
        held: Fault | None = None
        answer: Fault | None = None
        with self._lock:
            for fault in self._rules:
                if not fault.active or endpoint not in fault.endpoints:
                    continue
                if fault.kind == "delay":
                    if held is None:
                        held = fault
                elif answer is None and (fault.kind != "results" or v1):
                    answer = fault
            for hit in (held, answer):
                if hit is not None and hit._left is not None:
                    hit._left -= 1
            if held is not None:
                held.hits += 1  # now: a test may wait for a request being held
            self._rules = [f for f in self._rules if f.active]
        if held is not None:
            self._changed()
        return held, answer

    def hold(self, fault: Fault, seconds: float) -> float:
        """Hold a request for ``seconds`` (``fault``'s ``delay``, or the client's shorter
        timeout), or until the fault stops or the test ends; the seconds it was held."""
        if seconds <= 0:
            return 0.0
        started = time.monotonic()
        if not fault._stopped.wait(seconds):
            return seconds
        return round(time.monotonic() - started, 6)

    def note(
        self,
        attempt: Attempt,
        faulted: FaultedRequest | None = None,
        *,
        same: object = None,
        hit: Fault | None = None,
    ) -> None:
        """Keep one request an SDK made (and, when a fault answered it, the whole request).
        ``same`` tells requests without events apart (a digest of the body): an identical
        request after one not accepted is its retry. ``hit``: the fault that answered it,
        whose ``hits`` count it now that it is kept (a test waiting on ``hits`` then finds
        it in ``faulted`` and ``attempts``)."""
        with self._lock:
            if hit is not None:
                hit.hits += 1
            delivery = self._delivery_for(attempt, same)
            # In order of arrival: a held try is noted when it is let go, after its retry.
            at = len(delivery.tries)
            while at and delivery.tries[at - 1].at > attempt.at:
                at -= 1
            delivery.tries.insert(at, attempt)
            if attempt.uuids:
                # Retries carry the first try's batch: its first uuid finds the delivery; a try
                # not accepted indexes them all (capture v1 re-sends only some).
                kept = attempt.uuids if not attempt.accepted else attempt.uuids[:1]
                for uuid in kept:
                    self._by_uuid.setdefault(uuid, delivery)
            if faulted is not None:
                self._faulted.append(faulted)
        if self._armed:  # a test that armed a fault may wait on what the SDKs tried
            self._changed()

    def note_faulted(self, faulted: FaultedRequest) -> None:
        """Keep a request some of whose events a fault held back (capture v1's per-event
        results); its attempt is noted on its own."""
        with self._lock:
            self._faulted.append(faulted)

    def _delivery_for(self, attempt: Attempt, same: object) -> Delivery:
        if attempt.uuids:
            found = self._by_uuid.get(attempt.uuids[0])
            if found is not None:
                return found
            delivery = Delivery(attempt.sdk, attempt.endpoint)
        else:
            key = (attempt.endpoint, attempt.sdk, attempt.method, attempt.url.split("?")[0], same)
            found = self._by_request.get(key)
            if found is not None and not found.accepted:
                return found
            delivery = Delivery(attempt.sdk, attempt.endpoint)
            self._by_request[key] = delivery
        self._deliveries.append(delivery)
        return delivery

    # -- reading ---------------------------------------------------------------------------

    @property
    def attempts(self) -> list[Delivery]:
        """Every delivery the SDKs made to PostHog's endpoints in this test, in order: each
        with its tries (``tries``, ``count``, ``statuses``), the ``gaps`` between them (the
        SDK's backoff, ``Retry-After`` honoured or not) and whether they kept the same uuids.

        >>> [(d.sdk, d.count, d.gaps) for d in analytics.faults.attempts]
        [('posthog-python', 2, [1.004])]
        """
        with self._lock:
            return [Delivery(d.sdk, d.endpoint, list(d.tries)) for d in self._deliveries]

    @property
    def faulted(self) -> list[FaultedRequest]:
        """The requests a fault answered (a copy), each with the answer it got."""
        with self._lock:
            return list(self._faulted)

    @property
    def armed(self) -> list[Fault]:
        """Every fault armed in this test, stopped ones included (for the audit)."""
        with self._lock:
            return list(self._armed)

    @property
    def dropping(self) -> bool:
        """Whether a ``drop`` is armed (connections are then not kept alive, so each drop
        reaches the SDK instead of a browser's silent re-send)."""
        if not self._rules:  # the common case: nothing armed, no lock
            return False
        with self._lock:
            return any(f.kind == "drop" and f.active for f in self._rules)

    @property
    def used(self) -> bool:
        """Whether this test armed any fault."""
        return bool(self._armed)

    def summary(self) -> str:
        """One line per delivery that was tried more than once or never accepted."""
        lines = []
        for d in self.attempts:
            if d.count > 1 or not d.accepted:
                got = ", ".join("no answer" if s is None else str(s) for s in d.statuses)
                end = "accepted" if d.accepted else "never accepted"
                lines.append(
                    f"{d.sdk} {d.endpoint}: {plural(d.count, 'attempt')} ({got}), {end}"
                    + (f", gaps {', '.join(f'{g:g} s' for g in d.gaps)}" if d.gaps else "")
                )
        return "\n".join(lines)
