"""Every SDK's event shape into ``CapturedEvent``: ids, keys, person properties, times, sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pytest_hybrid_analytics import PayloadError
from pytest_hybrid_analytics._model.events import event_from_wire, infer_source, parse_timestamp

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_browser_shape_keeps_distinct_id_and_token_in_properties() -> None:
    e = event_from_wire(
        {
            "uuid": "u-1",
            "event": "$pageview",
            "timestamp": "2026-03-01T11:59:59.250Z",
            "properties": {"distinct_id": "anon-1", "token": "phc_js", "$lib": "web"},
        },
    )
    assert (e.event, e.distinct_id, e.api_key, e.lib, e.source, e.uuid) == (
        "$pageview",
        "anon-1",
        "phc_js",
        "web",
        "client",
        "u-1",
    )
    assert e.timestamp == datetime(2026, 3, 1, 11, 59, 59, 250000, tzinfo=UTC)
    assert e.raw_timestamp == "2026-03-01T11:59:59.250Z"


def test_server_shape_has_distinct_id_at_the_top_and_key_from_the_envelope() -> None:
    e = event_from_wire(
        {
            "event": "purchase",
            "distinct_id": "user-1",
            "uuid": "u-2",
            "properties": {"$lib": "posthog-node", "amount": 5},
        },
        api_key="phc_env",
    )
    assert (e.distinct_id, e.api_key, e.source, e.get("amount"), e.get("nope", 0)) == (
        "user-1",
        "phc_env",
        "server",
        5,
        0,
    )


def test_top_level_distinct_id_wins_and_numbers_become_strings() -> None:
    assert (
        event_from_wire(
            {"event": "x", "distinct_id": 42, "properties": {"distinct_id": "p"}}
        ).distinct_id
        == "42"
    )
    assert event_from_wire({"event": "x", "distinct_id": 42.0}).distinct_id == "42"
    assert event_from_wire({"event": "x", "distinct_id": ""}).distinct_id is None


def test_person_properties_are_found_wherever_the_sdk_put_them() -> None:
    top = event_from_wire(
        {"event": "$identify", "$set": {"email": "a@b.c"}, "$set_once": {"first": 1}}
    )
    inside = event_from_wire(
        {"event": "$set", "properties": {"$set": {"plan": "pro"}, "$set_once": {"x": 2}}}
    )
    both = event_from_wire(
        {"event": "$set", "$set": {"a": 1}, "properties": {"$set": {"a": 0, "b": 2}}}
    )
    assert (top.set, top.set_once) == ({"email": "a@b.c"}, {"first": 1})
    assert (inside.set, inside.set_once) == ({"plan": "pro"}, {"x": 2})
    assert both.set == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("raw", "expected", "zoned"),
    [
        ("2026-03-01T13:00:00+01:00", datetime(2026, 3, 1, 12, tzinfo=UTC), True),
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC), True),
        ("2026-03-01T12:00:00.123456", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), False),
        (1772366400, datetime(2026, 3, 1, 12, tzinfo=UTC), True),
        (1772366400000, datetime(2026, 3, 1, 12, tzinfo=UTC), True),
        (1772366400.5, datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC), True),
    ],
)
def test_timestamps_are_normalised_to_utc(raw: object, expected: datetime, zoned: bool) -> None:
    parsed, had_zone = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert had_zone is zoned


@pytest.mark.parametrize("raw", ["yesterday", "", True, float("nan"), 1e300, None, [1]])
def test_bad_timestamps_raise_payload_error(raw: object) -> None:
    with pytest.raises(PayloadError, match=r"timestamp .* (not|out of range)"):
        parse_timestamp(raw)


def test_missing_timestamp_falls_back_to_time_property_then_offset_then_sent_at() -> None:
    assert event_from_wire({"event": "x", "properties": {"$time": 1772366400.25}}).timestamp == (
        datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    )
    sent = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
    assert event_from_wire({"event": "x", "offset": 2500}, sent_at=sent).timestamp == (
        sent - timedelta(milliseconds=2500)
    )
    assert event_from_wire({"event": "x"}, sent_at=sent).timestamp == sent
    assert event_from_wire({"event": "x"}, received_at=RECEIVED).timestamp == RECEIVED
    assert event_from_wire({"event": "x"}, received_at=RECEIVED).raw_timestamp is None


@pytest.mark.parametrize(
    ("lib", "properties", "side"),
    [
        ("posthog-python", {}, "server"),
        ("posthog-node", {}, "server"),
        ("posthog-ruby-server", {}, "server"),
        (None, {"$is_server": True}, "server"),
        ("web", {}, "client"),
        ("posthog-ios", {}, "client"),
        (None, {"$current_url": "https://a.test/"}, "client"),
        (None, {}, "server"),
        ("my-own-sender", {}, "server"),
    ],
)
def test_source_is_inferred_from_lib_and_context(
    lib: str | None, properties: dict[str, object], side: str
) -> None:
    assert infer_source(lib, properties) == side


def test_the_road_decides_the_source_when_it_knows() -> None:
    assert (
        event_from_wire(
            {"event": "x", "properties": {"$lib": "posthog-python"}}, source="client"
        ).source
        == "client"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "an event must be a JSON object, got list"),
        ({"properties": {}}, "an event has no name (keys: ['properties'])"),
        ({"event": ""}, "an event has no name"),
        ({"event": 3}, "an event has no name"),
        ({"event": "x", "properties": []}, "properties of 'x' must be an object"),
        ({"event": "x", "distinct_id": {"a": 1}}, "distinct_id must be a string or a number"),
        ({"event": "x", "$set": "nope"}, "$set must be an object, got str"),
        ({"event": "x", "timestamp": "soon"}, "timestamp 'soon' is not an ISO 8601 string"),
    ],
)
def test_malformed_events_raise_payload_error(raw: object, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        event_from_wire(raw)
    assert str(info.value).startswith(reason)


def test_repr_is_short_and_names_what_matters() -> None:
    e = event_from_wire(
        {
            "event": "x",
            "distinct_id": "u",
            "uuid": "1",
            "timestamp": "2026-03-01T12:00:00Z",
            "properties": {"$lib": "web"},
        }
    )
    assert repr(e) == (
        "CapturedEvent('x', source='client', distinct_id='u', "
        "timestamp=2026-03-01T12:00:00.000+00:00, uuid='1')"
    )
    assert not e.is_identified
