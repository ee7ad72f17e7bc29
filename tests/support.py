"""Helpers shared by the library tests (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_hybrid_analytics import Analytics, CapturedEvent
from pytest_hybrid_analytics._model.events import Source, event_from_wire

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MakeEvent = Callable[..., CapturedEvent]


def make_event(
    event: str,
    distinct_id: str | None = "u1",
    *,
    source: Source = "client",
    at: float = 0.0,
    uuid: str | None = None,
    **properties: Any,
) -> CapturedEvent:
    """A captured event at ``T0 + at`` seconds, shaped as its side's SDK sends it."""
    lib = "web" if source == "client" else "posthog-python"
    raw: dict[str, Any] = {
        "event": event,
        "timestamp": (T0 + timedelta(seconds=at)).isoformat(),
        "properties": {"$lib": lib, **properties},
    }
    if uuid is not None:
        raw["uuid"] = uuid
    if distinct_id is not None:
        if source == "client":
            raw["properties"]["distinct_id"] = distinct_id
        else:
            raw["distinct_id"] = distinct_id
    return event_from_wire(raw, source=source, received_at=T0)


PAYLOADS = Path(__file__).resolve().parent / "payloads"

#: The ini of inner pytester sessions: pytest-playwright keeps a global soft-assertion scope
#: that cannot nest in-process (browser runs go to a subprocess), and the plugin module is
#: already imported by the outer session.
INNER_INI = """
    [pytest]
    addopts = -p no:playwright -p no:cacheprovider
    asyncio_default_fixture_loop_scope = function
    filterwarnings = ignore::pytest.PytestAssertRewriteWarning
"""


def replay(recording: str | Path | dict[str, Any]) -> Analytics:
    """Every request of a recording in ``payloads/`` (a name, a path or the loaded JSON)
    through the fake PostHog API of a new ``Analytics``."""
    if isinstance(recording, str):
        recording = PAYLOADS / f"{recording}.json"
    if isinstance(recording, Path):
        recording = json.loads(recording.read_text())
    analytics = Analytics()
    for request in recording["requests"]:
        analytics.api.handle(
            request["method"],
            request["path"],
            request["headers"],
            base64.b64decode(request["body_base64"]),
            transport=request["transport"],
        )
    return analytics
