"""The one fake PostHog API: a request in, an answer out, events to the recorder.

Every road (a browser route, the ``requests`` patch, respx, the loopback collector) is a thin
front-end that turns its transport's request into :meth:`FakePostHog.handle` and the returned
:class:`Answer` back into its transport's response. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal, Protocol

from pytest_hybrid_analytics._model.attempts import Attempt, EndpointKind, FaultedRequest
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest, Source
from pytest_hybrid_analytics._model.flag_calls import FlagCall
from pytest_hybrid_analytics._model.ingest import (
    capture_path,
    parse_capture_request,
    sdk_from_headers,
)
from pytest_hybrid_analytics._model.wire import PayloadError, decode_body, header, split_url
from pytest_hybrid_analytics._recording.faults import Fault, Faults
from pytest_hybrid_analytics._recording.flags import FlagBook
from pytest_hybrid_analytics._recording.recorder import EventRecorder

__all__ = ["Answer", "Endpoint", "FakePostHog", "endpoint_kind", "remote_config"]

_CONFIG = re.compile(r"/array/(?P<token>[^/]+)/config(?P<js>\.js)?$")
_FLAGS = re.compile(r"/(flags|decide)/?$")
_DEFINITIONS = re.compile(r"(/flags/definitions|/api/feature_flag/local_evaluation)/?$")
_EMPTY_LISTS: dict[str, dict[str, list[Any]]] = {
    "/api/surveys": {"surveys": []},
    "/api/web_experiments": {"experiments": []},
    "/api/early_access_features": {"earlyAccessFeatures": []},
    "/api/product_tours": {"product_tours": []},
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the fake PostHog API answers: status, headers, body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: ``""``: an answer. ``"closed"``: the connection closes with no answer
    #: (``faults.drop``); ``"timeout"``: none came within the client's own timeout
    #: (``faults.delay``). Each road turns these into its transport's error.
    failure: Literal["", "closed", "timeout"] = ""

    @classmethod
    def none(cls, failure: Literal["closed", "timeout"]) -> Answer:
        """No answer at all: the connection ``"closed"``, or the client's ``"timeout"``."""
        return cls(0, {}, b"", failure)

    @classmethod
    def json(cls, status: int, value: Any, headers: Mapping[str, str] | None = None) -> Answer:
        """A JSON answer."""
        return cls(
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(value).encode(),
        )

    @property
    def data(self) -> Any:
        """The body decoded as JSON (``None`` when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Endpoint(Protocol):
    """What a transport front-end hands requests to: the fake API, or a gate in front of it."""

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer one request (``gone``: whether the client has hung up, asked after a
        ``delay`` held the answer)."""

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request that could not be handed over whole."""


def endpoint_kind(path: str) -> EndpointKind | None:
    """Which PostHog endpoint a path is, for faults: ``"capture"``, ``"recordings"``,
    ``"flags"``, ``"config"``, or ``None`` (posthog-js's own files, anything else).

    >>> endpoint_kind("/i/v0/e/"), endpoint_kind("/s/"), endpoint_kind("/flags/")
    ('capture', 'recordings', 'flags')
    """
    known = capture_path(path)
    if known is not None:
        return "recordings" if known in ("/s", "/i/v0/s") else "capture"
    if _DEFINITIONS.search(path) or _FLAGS.search(path):
        return "flags"
    if _CONFIG.search(path) or any(path.rstrip("/").endswith(p) for p in _EMPTY_LISTS):
        return "config"
    return None


def remote_config(token: str) -> dict[str, Any]:
    """The remote config posthog-js gets: gzip, autocapture on, flags on, nothing lazy-loaded."""
    return {
        "token": token,
        "supportedCompression": ["gzip-js", "base64"],
        "autocapture_opt_out": False,
        "hasFeatureFlags": True,
        "analytics": {"endpoint": "/i/v0/e/"},
        "elementsChainAsString": True,
        "defaultIdentifiedOnly": True,
        "autocaptureExceptions": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "heatmaps": False,
        "sessionRecording": False,
        "siteApps": [],
    }


class FakePostHog:
    """The fake PostHog API for one recorder and one flag book.

    >>> api = FakePostHog(EventRecorder(), FlagBook())
    >>> api.handle("POST", "https://us.i.posthog.com/batch/", {}, body).status
    200
    """

    def __init__(
        self,
        recorder: EventRecorder | None = None,
        flags: FlagBook | None = None,
        faults: Faults | None = None,
    ) -> None:
        #: Where events go; ``None`` between tests (late events are then kept in ``orphans``).
        self.recorder = recorder
        #: The flags every road answers.
        self.flags = flags if flags is not None else FlagBook()
        #: The faults it answers with instead of PostHog's answer, and what the SDKs tried.
        self.faults = faults if faults is not None else Faults()
        #: Events and rejected requests that arrived while no recorder was attached.
        self.orphans = EventRecorder()
        self._flag_calls: list[FlagCall] = []
        self._calls_lock = threading.Lock()
        #: Changes to the remote config posthog-js is served (``/array/<token>/config``), e.g.
        #: ``{"supportedCompression": ["base64"]}`` or ``{"sessionRecording": {...}}``.
        self.remote_config: dict[str, Any] = {}

    def _sink(self) -> EventRecorder:
        return self.recorder if self.recorder is not None else self.orphans

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        *,
        source: Source | None = None,
        transport: str = "",
        timeout: float | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer one request as PostHog would, recording what it carries, or as an armed
        fault says (:attr:`faults`). ``timeout``: how long the client waits for an answer, when
        the road knows it (a ``delay`` longer than that is a timeout to the client); ``gone``:
        whether the client hung up while a ``delay`` held the answer (the collector asks its
        socket), when the road cannot know the client's timeout."""
        method = method.upper()
        path, query = split_url(url)
        cors = _cors(headers)
        if method == "OPTIONS":
            return Answer(204, cors)
        kind = endpoint_kind(path)
        if kind is None:
            return self._other(method, url, path, headers, body, transport, cors)
        arrived = datetime.now(UTC)
        held, instead = self.faults.take(kind, v1="/i/v1/" in path)
        waited = 0.0
        if held is not None:
            seconds = held.seconds if timeout is None else min(held.seconds, timeout)
            waited = self.faults.hold(held, seconds)
        # The client's own timeout ran out before the fault let the answer go, or it hung up.
        gave_up = held is not None and (
            (timeout is not None and timeout < held.seconds and waited >= timeout)
            or (gone is not None and gone())
        )
        if instead is not None and instead.kind != "results":
            return self._fault(
                instead, kind, arrived, method, url, headers, body, source, transport, cors
            )
        events: list[CapturedEvent] = []
        if kind in ("capture", "recordings"):
            answer, events = self._capture(
                method, url, headers, body, source, transport, cors, instead
            )
        elif kind == "flags":
            answer = self._flags(method, url, headers, body, source, transport, cors, query)
        else:
            answer = self._config(path, cors)
        self.faults.note(
            _attempt(
                arrived,
                kind,
                method,
                url,
                headers,
                source,
                transport,
                events,
                None if gave_up else answer.status,
                instead,
                held=waited,
            ),
            same=None if events else _digest(body),
            hit=instead,
        )
        return Answer.none("timeout") if gave_up else answer

    def _other(
        self,
        method: str,
        url: str,
        path: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        transport: str,
        cors: dict[str, str],
    ) -> Answer:
        if "/static/" in path:
            return Answer(404, cors, b"not served by the fake PostHog API")
        reason = f"{method} {path} is not a PostHog API path the harness knows"
        self._reject(method, url, headers, body, reason, transport, 404)
        return Answer.json(
            404, {"type": "invalid_request", "code": "not_found", "detail": reason}, cors
        )

    def _config(self, path: str, cors: dict[str, str]) -> Answer:
        config = _CONFIG.search(path)
        if config:
            settings = {**remote_config(config["token"]), **self.remote_config}
            if config["js"]:
                script = (
                    "window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
                    f"window._POSTHOG_REMOTE_CONFIG[{json.dumps(config['token'])}]="
                    f"{json.dumps({'config': settings, 'siteApps': []})};"
                )
                return Answer(
                    200, {"Content-Type": "application/javascript", **cors}, script.encode()
                )
            return Answer.json(200, settings, cors)
        for prefix, empty in _EMPTY_LISTS.items():
            if path.rstrip("/").endswith(prefix):
                return Answer.json(200, empty, cors)
        return Answer.json(200, {}, cors)

    def _fault(
        self,
        fault: Fault,
        kind: EndpointKind,
        arrived: datetime,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        source: Source | None,
        transport: str,
        cors: dict[str, str],
    ) -> Answer:
        """Answer as ``fault`` says; keep the request whole in ``faults.faulted``."""
        events: list[CapturedEvent] = []
        if kind in ("capture", "recordings"):
            try:
                events = parse_capture_request(
                    url, headers, body, source=source, transport=transport
                )
            except PayloadError:
                events = []
        retry_after = None
        if fault.kind == "drop":
            answer = Answer.none("closed")
        elif fault.kind == "quota":
            answer = self._quota_answer(fault, kind, url, cors)
        else:
            extra = dict(cors)
            if fault.retry_after is not None:
                value = fault.retry_after
                extra["Retry-After"] = str(value) if isinstance(value, str) else f"{float(value):g}"
                retry_after = _seconds(extra["Retry-After"])
                # A page's posthog-js reads it only when exposed to it (cross-origin fetch).
                extra["Access-Control-Expose-Headers"] = "Retry-After"
            answer = _failure(fault, extra)
        raw = body.encode() if isinstance(body, str) else bytes(body or b"")
        status = answer.status if not answer.failure else None
        self.faults.note(
            _attempt(
                arrived,
                kind,
                method,
                url,
                headers,
                source,
                transport,
                events,
                status,
                fault,
                retry_after=retry_after,
            ),
            FaultedRequest(
                method,
                url,
                dict(headers or {}),
                raw,
                fault.describe(),
                status,
                kind,
                transport,
                tuple(events),
                retry_after,
                arrived,
                answer.body,
            ),
            same=None if events else _digest(body),
            hit=fault,
        )
        return answer

    def _quota_answer(
        self, fault: Fault, kind: EndpointKind, url: str, cors: dict[str, str]
    ) -> Answer:
        """PostHog's answer over a billing limit (capture's and the flags service's)."""
        if kind != "flags":
            limited = [p for p in fault.products if p in ("events", "recordings")]
            return Answer.json(200, {"status": 1, "quota_limited": limited}, cors)
        path = split_url(url)[0]
        if _DEFINITIONS.search(path):
            value: dict[str, Any] = {"flags": [], "group_type_mapping": {}, "cohorts": {}}
            return Answer.json(200, {**value, "quota_limited": ["feature_flags"]}, cors)
        # No flag at all: the SDKs answer every flag as not set (and say why in their log).
        none: dict[str, Any] = (
            {"featureFlags": {}, "featureFlagPayloads": {}}
            if "decide" in path
            else {"flags": {}, "requestId": "00000000-0000-4000-8000-000000000000"}
        )
        answer = {**none, "errorsWhileComputingFlags": False, "quotaLimited": ["feature_flags"]}
        return Answer.json(200, answer, cors)

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request a front-end could not even hand over (too large, cut off)."""
        self._sink().reject(request)

    def _reject(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        reason: str,
        transport: str,
        status: int,
    ) -> None:
        raw = body.encode() if isinstance(body, str) else bytes(body or b"")
        self.reject(
            RejectedRequest(method, url, dict(headers or {}), raw, reason, transport, status)
        )

    def _capture(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        source: Source | None,
        transport: str,
        cors: dict[str, str],
        results: Fault | None = None,
    ) -> tuple[Answer, list[CapturedEvent]]:
        if method != "POST":
            reason = f"{method} {split_url(url)[0]}: ingestion takes POST"
            self._reject(method, url, headers, body, reason, transport, 405)
            return Answer.json(405, {"type": "invalid_request", "detail": reason}, cors), []
        try:
            events = parse_capture_request(
                url,
                headers,
                body,
                source=source,
                transport=transport,
                received_at=datetime.now(UTC),
            )
        except PayloadError as exc:
            self._reject(method, url, headers, body, str(exc), transport, 400)
            answer = Answer.json(
                400,
                {"type": "validation_error", "code": "invalid_payload", "detail": str(exc)},
                cors,
            )
            return answer, []
        taken = events
        per_event: dict[str, dict[str, str]] = {}
        if results is not None:
            # capture v1's per-event results: the first ``results.events`` are not taken.
            count = len(events) if results.events is None else results.events
            held_back, taken = events[:count], events[count:]
            per_event = {e.uuid: {"result": results.result} for e in held_back if e.uuid}
            raw = body.encode() if isinstance(body, str) else bytes(body or b"")
            self.faults.note_faulted(
                FaultedRequest(
                    method,
                    url,
                    dict(headers or {}),
                    raw,
                    results.describe(),
                    200,
                    "capture",
                    transport,
                    tuple(held_back),
                )
            )
        # An event whose uuid is already recorded is a re-delivery (an SDK retry, an unload
        # beacon re-sending a batch, the late original a beacon overtook): PostHog keeps one.
        self._sink().record(taken)
        if "/i/v1/" in url:
            answered = {e.uuid: {"result": "ok"} for e in taken if e.uuid}
            return Answer.json(200, {"results": {**answered, **per_event}}, cors), events
        return Answer.json(200, {"status": 1}, cors), events

    def _flags(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        source: Source | None,
        transport: str,
        cors: dict[str, str],
        query: dict[str, list[str]],
    ) -> Answer:
        path = split_url(url)[0]
        side: Source = "client" if source == "client" else "server"
        if source is None and sdk_from_headers(headers) is None:
            side = "server"
        sdk = _sdk([], headers, source, transport)
        if _DEFINITIONS.search(path):
            definitions = self.flags.definitions()
            self._keep(
                FlagCall(
                    side, None, None, self.flags.as_dict(), "definitions", sdk, transport=transport
                )
            )
            return Answer.json(200, definitions, cors)
        asked: list[str] | None = None
        request: Any = {}
        if method == "POST":
            try:
                request = decode_body(body, headers, query)
            except PayloadError as exc:
                reason = f"flags request: {exc}"
                self._reject(method, url, headers, body, reason, transport, 400)
                return Answer.json(400, {"type": "validation_error", "detail": reason}, cors)
            if isinstance(request, Mapping):
                keys = request.get("flag_keys_to_evaluate") or request.get("flag_keys")
                asked = [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else None
        if not isinstance(request, Mapping):
            request = {}
        who = request.get("distinct_id")
        distinct_id = str(who) if isinstance(who, str | int) and str(who) else None
        legacy = "decide" in path
        answered = self.flags.answers(asked, distinct_id)
        self._keep(
            FlagCall(
                side,
                distinct_id,
                tuple(asked) if asked is not None else None,
                answered,
                "decide" if legacy else "flags",
                sdk,
                _mapping(request.get("person_properties")),
                _mapping(request.get("groups")),
                _mapping(request.get("group_properties")),
                transport,
            )
        )
        if legacy:
            value = self.flags.legacy_response(asked, distinct_id)
        else:
            try:
                version = int((query.get("v") or ["2"])[0])
            except ValueError:
                version = 2
            value = self.flags.flags_response(version, asked, distinct_id)
        if legacy or "true" in query.get("config", []):
            # PostHog's /decide and /flags?config=true answers carry the remote config at their
            # top level; posthog-js before 1.364 takes its compression and endpoints from there.
            value = {**self._flags_config(request), **value}
        return Answer.json(200, value, cors)

    def _flags_config(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The remote config a ``/decide`` or ``/flags?config=true`` answer carries: what
        ``/array/<token>/config`` serves (with :attr:`remote_config`), less the token, and
        the autocapture switch old posthog-js reads (``config``, 1.57 here)."""
        token = request.get("token") or request.get("api_key")
        autocapture = {"config": {"enable_collect_everything": True}}
        config = {**autocapture, **remote_config(str(token or "")), **self.remote_config}
        del config["token"]
        return config

    def _keep(self, call: FlagCall) -> None:
        with self._calls_lock:
            self._flag_calls.append(call)

    @property
    def flag_calls(self) -> list[FlagCall]:
        """Every flag evaluation the SDKs asked for, in order (a copy)."""
        with self._calls_lock:
            return list(self._flag_calls)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _attempt(
    arrived: datetime,
    kind: EndpointKind,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    source: Source | None,
    transport: str,
    events: list[CapturedEvent],
    status: int | None,
    fault: Fault | None,
    *,
    retry_after: float | None = None,
    held: float = 0.0,
) -> Attempt:
    """One request as ``faults.attempts`` keeps it."""
    return Attempt(
        arrived,
        kind,
        method,
        url,
        _sdk(events, headers, source, transport),
        transport,
        tuple(e.uuid for e in events if e.uuid),
        status,
        fault.describe() if fault is not None else None,
        _marker(split_url(url)[1], headers),
        retry_after,
        held,
    )


def _sdk(
    events: list[CapturedEvent],
    headers: Mapping[str, str] | None,
    source: Source | None,
    transport: str,
) -> str:
    """Who sent a request: the events' ``$lib`` (posthog-js's ``web`` said as ``posthog-js``),
    the SDK the headers name, a browser, else the ``User-Agent``'s product, else the road."""
    lib = next((e.lib for e in events if e.lib), None)
    if lib:
        return "posthog-js" if lib == "web" else lib
    named = sdk_from_headers(headers)
    if named:
        return named
    if source == "client":
        return "posthog-js"
    agent = header(headers, "User-Agent")
    return agent.split("/", 1)[0] if agent else transport or "unknown"


def _marker(query: dict[str, list[str]], headers: Mapping[str, str] | None) -> str | None:
    """How an SDK marked a request as sent again."""
    count = (query.get("retry_count") or [""])[0]
    if count:
        return f"retry_count={count}"
    attempt = header(headers, "PostHog-Attempt")
    if attempt.isdigit() and int(attempt) > 1:
        return f"PostHog-Attempt: {attempt}"
    if header(headers, "Sec-Fetch-Mode").lower() == "no-cors":
        return "sendBeacon"
    return None


def _digest(body: bytes | str | None) -> int:
    """What tells two requests without events apart (two users' ``/flags``): their bodies."""
    return hash(body.encode() if isinstance(body, str) else bytes(body or b""))


def _seconds(retry_after: str) -> float | None:
    try:
        return float(retry_after)
    except ValueError:
        return None


def _failure(fault: Fault, headers: dict[str, str]) -> Answer:
    """The answer of a ``fail``: the body given, or PostHog's error shape for the status."""
    status = fault.status
    if fault.body is not None:
        if isinstance(fault.body, dict):
            return Answer.json(status, fault.body, headers)
        raw = fault.body.encode() if isinstance(fault.body, str) else bytes(fault.body)
        return Answer(status, {"Content-Type": "application/json", **headers}, raw)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    kind = (
        "rate_limited" if status == 429 else "server_error" if status >= 500 else "invalid_request"
    )
    detail = f"{phrase} (a fault the test injected: analytics.faults)"
    return Answer.json(status, {"type": kind, "code": kind, "detail": detail}, headers)


def _cors(headers: Mapping[str, str] | None) -> dict[str, str]:
    origin = header(headers, "Origin")
    if not origin:
        return {"Access-Control-Allow-Origin": "*"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Headers": header(headers, "Access-Control-Request-Headers") or "*",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Vary": "Origin",
    }
