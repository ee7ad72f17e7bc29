"""Fixtures for the library tests."""

from __future__ import annotations

import pytest
from support import MakeEvent, make_event


@pytest.fixture
def ev() -> MakeEvent:
    """``ev("name", "distinct-id", source="server", at=1.5, amount=3)``: one event."""
    return make_event
