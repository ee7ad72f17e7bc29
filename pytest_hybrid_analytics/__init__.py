"""pytest-hybrid-analytics: PostHog events from the browser and the backend on one timeline.

>>> from pytest_hybrid_analytics import assert_same_person, assert_no_duplicates
>>> def test_checkout(analytics, page):
...     page.goto(shop_url)
...     page.click("#buy")
...     analytics.wait_for("purchase_completed", source="server")
...     assert_same_person(analytics)
...     assert_no_duplicates(analytics)
"""

from pytest_hybrid_analytics.assertions import (
    Duplicate,
    assert_no_duplicates,
    assert_no_pii,
    assert_same_api_key,
    assert_same_person,
    assert_same_user_journey,
    assert_single_distinct_id,
    assert_utc_timestamps,
    find_duplicates,
)
from pytest_hybrid_analytics.events import CapturedEvent
from pytest_hybrid_analytics.flags import FlagBook
from pytest_hybrid_analytics.harness import Analytics
from pytest_hybrid_analytics.identity import Identity
from pytest_hybrid_analytics.ingest import parse_capture_request
from pytest_hybrid_analytics.jsonl import load_jsonl, write_jsonl
from pytest_hybrid_analytics.pii import PiiGuard
from pytest_hybrid_analytics.recorder import EventRecorder, RejectedRequest
from pytest_hybrid_analytics.wire import PayloadError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # TrackingPlan pulls in jsonschema and PyYAML: loaded on first use, not with the plugin.
    if name == "TrackingPlan":
        from pytest_hybrid_analytics.plan import TrackingPlan

        return TrackingPlan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Analytics",
    "CapturedEvent",
    "Duplicate",
    "EventRecorder",
    "FlagBook",
    "Identity",
    "PayloadError",
    "PiiGuard",
    "RejectedRequest",
    "TrackingPlan",
    "assert_no_duplicates",
    "assert_no_pii",
    "assert_same_api_key",
    "assert_same_person",
    "assert_same_user_journey",
    "assert_single_distinct_id",
    "assert_utc_timestamps",
    "find_duplicates",
    "load_jsonl",
    "parse_capture_request",
    "write_jsonl",
]
