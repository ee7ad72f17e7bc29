"""Events, edge by edge: which side sent an event, when it happened (in any local zone), and how
identifiers and timestamps of every shape are read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_hybrid_analytics._model.events import (
    CapturedEvent,
    event_from_wire,
    infer_source,
    parse_timestamp,
)
from pytest_hybrid_analytics._model.wire import PayloadError

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SENT = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def wire(**raw: Any) -> CapturedEvent:
    return event_from_wire({"event": "e", **raw}, sent_at=SENT, received_at=RECEIVED)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is New York (UTC-5 in March) while the test runs."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- which side --------------------------------------------------------------------------------


def test_is_server_true_wins_over_browser_looking_properties() -> None:
    browser = {"$current_url": "https://shop.example/", "$browser": "Chrome"}
    assert infer_source(None, {"$is_server": True, **browser}) == "server"
    assert infer_source("web", {"$is_server": True}) == "server"
    assert infer_source(None, {"$is_server": "true", **browser}) == "client"
    assert infer_source(None, {"$is_server": False, **browser}) == "client"


@pytest.mark.parametrize("lib", ["posthog-custom-node", "posthog-edge-python", "posthog-x-server"])
def test_an_unknown_posthog_server_sdk_is_a_server_even_with_browser_context(lib: str) -> None:
    assert infer_source(lib, {"$current_url": "https://shop.example/"}) == "server"


@pytest.mark.parametrize("lib", ["my-node", "POSTHOG-X-NODE", "posthog-node-js", "custom"])
def test_other_libs_are_judged_by_their_browser_context(lib: str) -> None:
    assert infer_source(lib, {"$current_url": "https://shop.example/"}) == "client"
    assert infer_source(lib, {}) == "server"


@pytest.mark.parametrize("key", ["$current_url", "$browser", "$device_type"])
def test_any_one_browser_property_makes_an_event_a_clients(key: str) -> None:
    assert infer_source(None, {key: "x"}) == "client"


# -- when --------------------------------------------------------------------------------------


def test_a_zone_less_timestamp_is_utc_whatever_the_local_zone(new_york: None) -> None:
    assert parse_timestamp("2026-03-01T12:00:00") == (RECEIVED, False)
    moment, zoned = parse_timestamp("2026-03-01T14:00:00+02:00")
    assert (moment, zoned, moment.utcoffset()) == (RECEIVED, True, timedelta(0))
    assert wire(timestamp="2026-03-01T12:00:00").timestamp == RECEIVED
    assert wire(timestamp="2026-03-01T07:00:00-05:00").timestamp.isoformat() == (
        "2026-03-01T12:00:00+00:00"
    )


def test_epoch_numbers_are_seconds_up_to_1e11_and_milliseconds_beyond() -> None:
    assert parse_timestamp(100_000_000_000)[0] == datetime(5138, 11, 16, 9, 46, 40, tzinfo=UTC)
    assert parse_timestamp(100_000_000_000.5)[0] == datetime(1973, 3, 3, 9, 46, 40, 500, tzinfo=UTC)
    assert parse_timestamp(1_772_366_400_000) == (RECEIVED, True)
    assert parse_timestamp(1_772_366_400) == (RECEIVED, True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "timestamp True is not a date"),
        (float("nan"), "timestamp nan is not a date"),
        (1e300, "timestamp 1e+300 is out of range"),
        ("", "timestamp '' is not an ISO 8601 string"),
        ("  ", "timestamp '  ' is not an ISO 8601 string"),
        ("yesterday", "timestamp 'yesterday' is not an ISO 8601 string"),
        ([1], "timestamp [1] is not an ISO 8601 string"),
    ],
)
def test_what_is_not_a_time_is_refused_saying_why(value: Any, expected: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_timestamp(value)
    assert str(info.value) == expected


def test_an_epoch_timestamp_is_read_and_kept_as_text() -> None:
    event = wire(timestamp=1_772_366_400_000)
    assert (event.timestamp, event.raw_timestamp) == (RECEIVED, "1772366400000")


def test_a_string_timestamp_is_kept_as_sent() -> None:
    event = wire(timestamp=" 2026-03-01T13:00:00+01:00")
    assert (event.timestamp, event.raw_timestamp) == (RECEIVED, " 2026-03-01T13:00:00+01:00")


def test_an_empty_timestamp_is_no_timestamp() -> None:
    event = wire(timestamp="")
    assert (event.timestamp, event.raw_timestamp) == (SENT, None)


def test_dollar_time_dates_an_event_without_a_timestamp() -> None:
    event = wire(properties={"$time": 1_772_366_400})
    assert (event.timestamp, event.raw_timestamp) == (RECEIVED, None)
    assert wire(properties={"$time": True}).timestamp == SENT


def test_an_offset_counts_back_from_the_send_time_up_to_about_31_years() -> None:
    assert wire(offset=1500).timestamp == SENT - timedelta(milliseconds=1500)
    just_below = 1e12 - 1
    assert wire(offset=just_below).timestamp == SENT - timedelta(milliseconds=just_below)
    assert wire(offset=1e12).timestamp == SENT
    assert wire(offset=float("inf")).timestamp == SENT
    assert wire(offset="5").timestamp == SENT
    no_send_time = event_from_wire({"event": "e", "offset": 1000}, received_at=RECEIVED)
    assert no_send_time.timestamp == RECEIVED - timedelta(seconds=1)


# -- identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, "42"), (42.0, "42"), (4.5, "4.5"), ("", None), ("u1", "u1")],
)
def test_numeric_distinct_ids_read_as_their_text(value: Any, expected: str | None) -> None:
    assert wire(distinct_id=value).distinct_id == expected


def test_a_distinct_id_of_another_type_is_refused_naming_the_type() -> None:
    with pytest.raises(PayloadError) as info:
        wire(distinct_id=[1])
    assert str(info.value) == "distinct_id must be a string or a number, got list"
