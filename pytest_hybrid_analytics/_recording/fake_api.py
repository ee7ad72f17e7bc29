"""The one fake PostHog API: a request in, an answer out, events to the recorder.

Every road (a browser route, the ``requests`` patch, respx, the loopback collector) is a thin
front-end that turns its transport's request into :meth:`FakePostHog.handle` and the returned
:class:`Answer` back into its transport's response. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pytest_hybrid_analytics._model.events import RejectedRequest, Source
from pytest_hybrid_analytics._model.ingest import capture_path, parse_capture_request
from pytest_hybrid_analytics._model.wire import PayloadError, decode_body, header, split_url
from pytest_hybrid_analytics._recording.flags import FlagBook
from pytest_hybrid_analytics._recording.recorder import EventRecorder

__all__ = ["Answer", "Endpoint", "FakePostHog", "remote_config"]

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
    ) -> Answer:
        """Answer one request."""

    def reject(self, request: RejectedRequest) -> None:
        """Keep a request that could not be handed over whole."""


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
        self, recorder: EventRecorder | None = None, flags: FlagBook | None = None
    ) -> None:
        #: Where events go; ``None`` between tests (late events are then kept in ``orphans``).
        self.recorder = recorder
        #: The flags every road answers.
        self.flags = flags if flags is not None else FlagBook()
        #: Events and rejected requests that arrived while no recorder was attached.
        self.orphans = EventRecorder()
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
    ) -> Answer:
        """Answer one request as PostHog would, recording what it carries."""
        method = method.upper()
        path, query = split_url(url)
        cors = _cors(headers)
        if method == "OPTIONS":
            return Answer(204, cors)
        if capture_path(path) is not None:
            return self._capture(method, url, headers, body, source, transport, cors)
        if _DEFINITIONS.search(path):
            return Answer.json(200, self.flags.definitions(), cors)
        if _FLAGS.search(path):
            return self._flags(method, url, headers, body, transport, cors, query)
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
        if "/static/" in path:
            return Answer(404, cors, b"not served by the fake PostHog API")
        reason = f"{method} {path} is not a PostHog API path the harness knows"
        self._reject(method, url, headers, body, reason, transport, 404)
        return Answer.json(
            404, {"type": "invalid_request", "code": "not_found", "detail": reason}, cors
        )

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
    ) -> Answer:
        if method != "POST":
            reason = f"{method} {split_url(url)[0]}: ingestion takes POST"
            self._reject(method, url, headers, body, reason, transport, 405)
            return Answer.json(405, {"type": "invalid_request", "detail": reason}, cors)
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
            return Answer.json(
                400,
                {"type": "validation_error", "code": "invalid_payload", "detail": str(exc)},
                cors,
            )
        query = split_url(url)[1]
        attempt = header(headers, "PostHog-Attempt")
        # A re-delivery: an SDK retry (posthog-js ?retry_count=, capture v1 PostHog-Attempt), or
        # the sendBeacon posthog-js sends at unload (no-cors), which re-sends a batch whose
        # fetch the navigation interrupted after the fetch had already arrived.
        retry = (
            bool(query.get("retry_count"))
            or (attempt.isdigit() and int(attempt) > 1)
            or header(headers, "Sec-Fetch-Mode").lower() == "no-cors"
        )
        self._sink().record(events, retry=retry)
        if "/i/v1/" in url:
            results = {e.uuid: {"result": "ok"} for e in events if e.uuid}
            return Answer.json(200, {"results": results}, cors)
        return Answer.json(200, {"status": 1}, cors)

    def _flags(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        transport: str,
        cors: dict[str, str],
        query: dict[str, list[str]],
    ) -> Answer:
        asked: list[str] | None = None
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
        if "decide" in split_url(url)[0]:
            return Answer.json(200, self.flags.legacy_response(asked), cors)
        try:
            version = int((query.get("v") or ["2"])[0])
        except ValueError:
            version = 2
        return Answer.json(200, self.flags.flags_response(version, asked), cors)


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
