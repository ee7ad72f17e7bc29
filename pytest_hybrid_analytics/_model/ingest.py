"""One raw ingestion request, from any PostHog SDK, into ``CapturedEvent`` objects.

Knows the ingestion paths (also behind a reverse-proxy prefix such as ``/ingest/e/``) and every
envelope: ``{api_key, batch, sent_at}``, capture v1's ``{created_at, batch}``, a bare array
(``/s/`` snapshots, posthog-js before 1.407.3), and a single event (``/capture/``, ``/i/v0/e/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pytest_hybrid_analytics._model.events import (
    CapturedEvent,
    Source,
    events_from_wire,
    parse_timestamp,
)
from pytest_hybrid_analytics._model.wire import (
    PayloadError,
    decode_body_encoding,
    header,
    split_url,
)

__all__ = ["CAPTURE_PATHS", "capture_path", "parse_capture_request", "sdk_from_headers"]

#: Ingestion paths, longest first so that ``/i/v0/e/`` is not read as ``/e/``.
CAPTURE_PATHS = (
    "/i/v1/analytics/events",
    "/i/v0/ai/batch",
    "/i/v0/e",
    "/i/v0/s",
    "/capture",
    "/batch",
    "/track",
    "/engage",
    "/e",
    "/s",
)


def capture_path(path: str) -> str | None:
    """The ingestion endpoint ``path`` ends with (``"/e"``, ``"/batch"``...), or ``None``."""
    trimmed = path.rstrip("/") or "/"
    for known in CAPTURE_PATHS:
        if trimmed == known or trimmed.endswith(known):
            return known
    return None


def sdk_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The PostHog SDK that names itself in ``PostHog-Sdk-Info`` or ``User-Agent``
    (``"posthog-python"``, ``"posthog-node"``), else ``None``."""
    for name in ("PostHog-Sdk-Info", "User-Agent"):
        value = header(headers, name)
        if value.startswith("posthog-"):
            return value.split("/", 1)[0]
    return None


def _bearer(headers: Mapping[str, str] | None) -> str | None:
    value = header(headers, "Authorization")
    if value.lower().startswith("bearer "):
        return value[7:].strip() or None
    return None


def _envelope(payload: Any) -> tuple[list[Any], Mapping[str, Any]]:
    if isinstance(payload, list):
        return payload, {}
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"expected a JSON object or array of events, got {type(payload).__name__}"
        )
    batch = payload.get("batch")
    if batch is not None:
        if not isinstance(batch, list):
            raise PayloadError(f"'batch' must be an array of events, got {type(batch).__name__}")
        return batch, payload
    data = payload.get("data")
    if isinstance(data, list):
        return data, payload
    if "event" in payload:
        return [payload], payload
    keys = sorted(map(str, payload))[:8]
    raise PayloadError(
        f"no events in the body: expected 'batch', an array or an 'event', got keys {keys}"
    )


def parse_capture_request(
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | str | None,
    *,
    source: Source | None = None,
    transport: str = "",
    received_at: datetime | None = None,
) -> list[CapturedEvent]:
    """Decode one raw ingestion request from any PostHog SDK into its events.

    ``url`` may be a full URL or a path. ``source`` is given by roads that know the side (a
    browser page is the client); otherwise it comes from ``$lib`` / ``$is_server``. Raises
    :class:`PayloadError` (a ``ValueError``) naming the problem for anything that is not a
    PostHog ingestion request with at least one event.

    >>> events = parse_capture_request("https://us.i.posthog.com/batch/",
    ...     {"Content-Type": "application/json"},
    ...     b'{"api_key": "phc_x", "batch": [{"event": "signed_up", "distinct_id": "u1"}]}')
    >>> events[0].event, events[0].distinct_id, events[0].source
    ('signed_up', 'u1', 'server')
    """
    path, query = split_url(url)
    endpoint = capture_path(path)
    if endpoint is None:
        raise PayloadError(
            f"{path} is not a PostHog ingestion path (expected one of /e/, /batch/, …)"
        )
    payload, encoding = decode_body_encoding(body, headers, query)
    raw_events, envelope = _envelope(payload)
    if not raw_events:
        raise PayloadError("the batch has no events")

    api_key = envelope.get("api_key") or envelope.get("token") or _bearer(headers)
    sent_at: datetime | None = None
    for key in ("sent_at", "created_at"):
        value = envelope.get(key)
        if isinstance(value, str) and value:
            sent_at, _ = parse_timestamp(value)
            break
    return events_from_wire(
        raw_events,
        api_key=api_key if isinstance(api_key, str) else None,
        sent_at=sent_at,
        received_at=received_at or datetime.now(UTC),
        source=source,
        lib=sdk_from_headers(headers),
        endpoint=endpoint + ("" if endpoint.startswith("/i/v1") else "/"),
        transport=transport,
        encoding=encoding,
    )
