"""Who is the same person: $identify, $create_alias and $merge_dangerously join ids."""

from __future__ import annotations

from support import MakeEvent

from pytest_hybrid_analytics import Identity


def test_identify_joins_the_anonymous_id_into_the_identified_one(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$pageview", "anon-1"),
            ev("$identify", "user-1", **{"$anon_distinct_id": "anon-1"}),
            ev("purchase", "user-1", source="server"),
        ]
    )
    assert who.person_of("anon-1") == "user-1"
    assert who.same_person("anon-1", "user-1")
    assert who.persons() == {"user-1": ["anon-1", "user-1"]}
    assert [(m.from_id, m.into_id, m.event.event) for m in who.merges] == [
        ("anon-1", "user-1", "$identify")
    ]


def test_alias_from_posthog_js_and_from_the_python_sdk(ev: MakeEvent) -> None:
    # posthog-js: alias('alias-1') sends distinct_id=<current>, alias=<new>.
    # posthog-python: alias(previous_id='anon', distinct_id='user') sends distinct_id='anon',
    # properties.alias='user'. Both join the two ids.
    who = Identity(
        [
            ev("$create_alias", "current", alias="alias-1"),
            ev("$create_alias", "anon", source="server", alias="user"),
        ]
    )
    assert who.same_person("current", "alias-1")
    assert who.same_person("anon", "user")
    assert not who.same_person("current", "anon")


def test_merge_dangerously_and_chains(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$identify", "b", **{"$anon_distinct_id": "a"}),
            ev("$merge_dangerously", "c", alias="b"),
        ]
    )
    assert who.person_of("a") == who.person_of("b") == who.person_of("c") == "c"


def test_events_without_merges_stay_apart_and_labels_follow_first_appearance(
    ev: MakeEvent,
) -> None:
    who = Identity(
        [
            ev("x", "z"),
            ev("x", "y"),
            ev("x", None),
            ev("$identify", "w", **{"$anon_distinct_id": "w"}),
        ]
    )
    assert who.persons() == {"z": ["z"], "y": ["y"], "w": ["w"]}
    assert [who.label(i) for i in ("z", "y", "w", None, "never-seen")] == [
        "P1",
        "P2",
        "P3",
        "-",
        "?",
    ]
    assert who.person_of("never-seen") == "never-seen"
    assert who.merges == []


def test_identify_without_anon_id_or_with_bad_values_is_not_a_merge(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$identify", "u"),
            ev("$identify", "u", **{"$anon_distinct_id": True}),
            ev("$create_alias", "u", alias=""),
            ev("$identify", "v", **{"$anon_distinct_id": 7}),
        ]
    )
    assert who.same_person("7", "v")
    assert len(who.merges) == 1
