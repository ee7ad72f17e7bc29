"""Fixtures for the library tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import MakeEvent, make_event
from web_app import WebApp


@pytest.fixture
def ev() -> MakeEvent:
    """``ev("name", "distinct-id", source="server", at=1.5, amount=3)``: one event."""
    return make_event


@pytest.fixture(scope="session")
def web_app() -> Iterator[WebApp]:
    """The test web app (pages loading the published posthog-js, a backend with ``posthog``)."""
    with WebApp() as app:
        yield app
