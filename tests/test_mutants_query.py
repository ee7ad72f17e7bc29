"""Queries, edge by edge: how each kind of wanted value is described and why an event misses."""

from __future__ import annotations

import functools

import pytest
from support import MakeEvent

from pytest_hybrid_analytics._recording.query import Query, describe_wanted, miss


def is_big(value: object) -> bool:
    return isinstance(value, int) and value > 100


def explodes(value: object) -> bool:
    raise KeyError("no such plan")


def test_each_kind_of_wanted_value_is_described_as_written() -> None:
    assert describe_wanted(int) == "<any int>"
    assert describe_wanted(int | str) == "<any int | str>"
    assert describe_wanted(is_big) == "<is_big>"
    assert describe_wanted(lambda v: True) == "<lambda>"
    assert describe_wanted(functools.partial(is_big)) == "<predicate>"
    assert describe_wanted("pro") == "'pro'"


def test_each_kind_of_miss_says_why() -> None:
    assert miss(int, "3") == "is str"
    assert miss(int | None, 3.5) == "is float"
    assert miss(int, 3) is None
    assert miss(is_big, 5) == "fails the predicate"
    assert miss(is_big, 500) is None
    assert miss(explodes, 5) == "predicate raised KeyError: 'no such plan'"
    assert miss("pro", "free") == "differs"
    assert miss("pro", "pro") is None


def test_a_query_describes_itself_as_the_call_that_made_it() -> None:
    query = Query(event="buy", source="server", distinct_id=str, properties={"plan": "pro"})
    assert query.describe() == "'buy', source='server', distinct_id=<any str>, plan='pro'"
    assert Query(distinct_id="u1").describe() == "distinct_id='u1'"
    assert Query().describe() == "any event"


def test_a_query_refuses_an_unknown_source() -> None:
    with pytest.raises(ValueError, match=r"^source must be 'client', 'server' or None, got 'web'$"):
        Query(source="web")


def test_every_failed_filter_is_one_phrase(ev: MakeEvent) -> None:
    event = ev("buy", "u1", source="server", plan="free", n=5)
    query = Query(
        event=str.isupper,
        source="client",
        distinct_id=is_big,
        properties={"missing": int, "plan": "pro", "n": is_big, "also": "x"},
    )
    assert query.misses(event) == [
        "event='buy' (wanted <isupper>)",
        "source='server' (wanted 'client')",
        "distinct_id='u1' (wanted <is_big>)",
        "missing missing (wanted <any int>)",
        "plan='free' differs (wanted 'pro')",
        "n=5 fails the predicate (wanted <is_big>)",
        "also missing (wanted 'x')",
    ]
    assert Query(event="buy", distinct_id="u1", properties={"plan": "free"}).misses(event) == []


def test_near_misses_keep_ten_by_default_fewest_misses_first(ev: MakeEvent) -> None:
    events = [ev("buy", f"u{i}", at=i, plan="free", n=i) for i in range(12)]
    query = Query(event="buy", distinct_id="u3", properties={"plan": "pro"})
    near = query.near_misses(events)
    assert len(near) == 10
    assert near[0] == (events[3], ["plan='free' differs (wanted 'pro')"])
    assert [len(why) for _, why in near] == [1] + [2] * 9
    assert query.near_misses([ev("other", "u3", plan="pro")]) == []
    assert Query(event=str.islower).near_misses([ev("BUY", "u1")]) == []
