"""The demo suite's fixtures: the Hoodie Shop, served for real in the test's process.

The shop is configured as production would be (PostHog cloud host, real-looking keys): the
plugin claims its server SDK's traffic, and its pages' posthog-js traffic, so nothing leaves the
machine and every event lands in the test's ``analytics``. ``SHOP_VARIANT`` picks one of the
broken variants (``fixtures/shop/shop.py``, ``VARIANTS``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures" / "shop"))

from shop import Shop


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    """The running shop (``shop.url``), in the variant ``SHOP_VARIANT`` names."""
    with Shop(variant=os.environ.get("SHOP_VARIANT", "ok")) as running:
        yield running
