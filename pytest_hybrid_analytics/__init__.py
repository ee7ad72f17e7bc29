"""pytest-hybrid-analytics: PostHog events from the browser and the backend on one timeline.

>>> from pytest_hybrid_analytics import assert_same_person, assert_no_duplicates
>>> def test_checkout(analytics, page):
...     page.goto(shop_url)
...     page.click("#buy")
...     analytics.wait_for("purchase_completed", source="server")
...     assert_same_person(analytics)
...     assert_no_duplicates(analytics)

This module is the whole public face: every type a test receives is exported here, and every
other module of the package is private.
"""

from typing import TYPE_CHECKING

from pytest_hybrid_analytics._checks.assertions import (
    Duplicate,
    Step,
    assert_no_duplicates,
    assert_no_pii,
    assert_same_api_key,
    assert_same_person,
    assert_same_user_journey,
    assert_single_distinct_id,
    assert_utc_timestamps,
    find_duplicates,
)
from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.flag_checks import (
    assert_flag_exposures,
    assert_flags_consistent,
)
from pytest_hybrid_analytics._checks.person_checks import (
    assert_no_ingestion_warnings,
    assert_person_properties,
)
from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._checks.session_checks import (
    assert_identified_before,
    assert_session_linked,
)
from pytest_hybrid_analytics._model.attempts import Attempt, Delivery, FaultedRequest
from pytest_hybrid_analytics._model.events import CapturedEvent, RejectedRequest
from pytest_hybrid_analytics._model.flag_calls import FlagCall
from pytest_hybrid_analytics._model.ingest import parse_capture_request
from pytest_hybrid_analytics._model.persons import (
    Identity,
    IngestionWarning,
    Merge,
    Person,
    PropertyChange,
)
from pytest_hybrid_analytics._model.sdk_log import SdkLogRecord
from pytest_hybrid_analytics._model.sessions import Session
from pytest_hybrid_analytics._model.wire import PayloadError
from pytest_hybrid_analytics._recording.analytics import Analytics
from pytest_hybrid_analytics._recording.client_notes import ClientNote
from pytest_hybrid_analytics._recording.factory import AnalyticsFactory, FakeUser, WireRequest
from pytest_hybrid_analytics._recording.fake_api import Answer, FakePostHog
from pytest_hybrid_analytics._recording.faults import Fault, Faults
from pytest_hybrid_analytics._recording.flags import FlagBook
from pytest_hybrid_analytics._recording.recorder import EventRecorder
from pytest_hybrid_analytics._reports.jsonl import load_jsonl, write_jsonl

if TYPE_CHECKING:
    from pytest_hybrid_analytics._checks.plan import PlanError, TrackingPlan

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # TrackingPlan pulls in jsonschema and PyYAML: loaded on first use, not with the plugin.
    if name in ("TrackingPlan", "PlanError"):
        from pytest_hybrid_analytics._checks import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Analytics",
    "AnalyticsFactory",
    "Answer",
    "Attempt",
    "CapturedEvent",
    "ClientNote",
    "Delivery",
    "Duplicate",
    "EventRecorder",
    "FakePostHog",
    "FakeUser",
    "Fault",
    "FaultedRequest",
    "Faults",
    "Finding",
    "FlagBook",
    "FlagCall",
    "Identity",
    "IngestionWarning",
    "Merge",
    "PayloadError",
    "Person",
    "PiiGuard",
    "PlanError",
    "PropertyChange",
    "RejectedRequest",
    "SdkLogRecord",
    "Session",
    "Step",
    "TrackingPlan",
    "WireRequest",
    "assert_flag_exposures",
    "assert_flags_consistent",
    "assert_identified_before",
    "assert_no_duplicates",
    "assert_no_ingestion_warnings",
    "assert_no_pii",
    "assert_person_properties",
    "assert_same_api_key",
    "assert_same_person",
    "assert_same_user_journey",
    "assert_session_linked",
    "assert_single_distinct_id",
    "assert_utc_timestamps",
    "find_duplicates",
    "load_jsonl",
    "parse_capture_request",
    "write_jsonl",
]
