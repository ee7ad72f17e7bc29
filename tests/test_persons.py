"""Persons as PostHog's ingestion counts them (docs/posthog-persons.md): each rule, with the
event sequences it tells apart."""

from __future__ import annotations

import pytest
from support import MakeEvent

from pytest_hybrid_analytics import Identity, IngestionWarning, Person

ANON = {"$anon_distinct_id": "anon-1"}


def ids(who: Identity) -> list[tuple[str, ...]]:
    return [person.distinct_ids for person in who.persons()]


def kinds(who: Identity) -> list[str]:
    return [warning.type for warning in who.warnings]


def test_identify_joins_the_anonymous_id_into_the_identified_one(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$pageview", "anon-1"),
            ev("$identify", "user-1", **ANON),
            ev("purchase", "user-1", source="server"),
        ]
    )
    assert who.person_of("anon-1") == who.person_of("user-1") == "user-1"
    [person] = who.persons()
    assert person == Person("P1", ("anon-1", "user-1"), {}, is_identified=True)
    assert who.person("anon-1") == person
    assert [(m.from_id, m.into_id, m.event.event) for m in who.merges] == [
        ("anon-1", "user-1", "$identify")
    ]
    assert who.warnings == []


def test_ordinary_events_make_unidentified_persons_labelled_by_first_appearance(
    ev: MakeEvent,
) -> None:
    who = Identity([ev("x", "z"), ev("x", "y"), ev("x", None), ev("x", "z")])
    assert [(p.label, p.distinct_ids, p.is_identified) for p in who.persons()] == [
        ("P1", ("z",), False),
        ("P2", ("y",), False),
    ]
    assert [who.label(i) for i in ("z", "y", None, "never-seen")] == ["P1", "P2", "-", "-"]
    assert who.person("never-seen") is None
    assert who.person_of("never-seen") == "never-seen"


def test_alias_from_posthog_js_and_from_the_python_sdk(ev: MakeEvent) -> None:
    # posthog-js: alias('alias-1') sends distinct_id=<current>, alias=<new>.
    # posthog-python: alias(previous_id='anon', distinct_id='user') sends distinct_id='anon',
    # properties.alias='user'. Both join the two ids, into the event's distinct_id.
    who = Identity(
        [
            ev("$create_alias", "current", alias="alias-1"),
            ev("$create_alias", "anon", source="server", alias="user"),
        ]
    )
    assert who.same_person("current", "alias-1")
    assert who.same_person("anon", "user")
    assert not who.same_person("current", "anon")
    assert [m.into_id for m in who.merges] == ["current", "anon"]


def test_a_merge_into_an_identified_person_from_another_identified_one_is_refused(
    ev: MakeEvent,
) -> None:
    # Both persons exist and the source one is identified already (posthog-js itself sends no
    # second $identify: tests/test_persons_sdk.py; another SDK or a server alias may).
    events = [
        ev("$pageview", "anon-1"),
        ev("$identify", "user-a", **ANON),
        ev("order", "user-b", source="server"),
        ev("$identify", "user-b", **{"$anon_distinct_id": "user-a", "$set": {"plan": "pro"}}),
    ]
    who = Identity(events)
    assert ids(who) == [("anon-1", "user-a"), ("user-b",)]
    assert [p.is_identified for p in who.persons()] == [True, True]
    assert who.person("user-b") is not None
    assert who.person("user-b").properties == {"plan": "pro"}  # the $set applies to the target
    [warning] = who.warnings
    assert warning.type == "cannot_merge_already_identified"
    assert warning.event is events[3]
    assert "already identified" in warning.message
    assert warning.message.endswith("so they stay two persons.")
    assert [m.refused for m in who.requested] == [None, "cannot_merge_already_identified"]
    assert who.refused[0].from_id == "user-a"


def test_merge_dangerously_joins_two_identified_persons(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$identify", "user-a", **ANON),
            ev("$identify", "user-b", **{"$anon_distinct_id": "anon-2"}),
            ev("$merge_dangerously", "user-b", alias="user-a"),
        ]
    )
    assert ids(who) == [("anon-1", "user-a", "anon-2", "user-b")]
    assert who.person_of("anon-1") == "user-b"
    assert who.warnings == []


def test_the_target_person_survives_and_its_properties_win(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("x", "anon-1", **{"$set": {"plan": "free", "ref": "ad"}}),
            ev("y", "user-1", **{"$set": {"plan": "pro"}}),
            ev("$identify", "user-1", **ANON),
        ]
    )
    [person] = who.persons()
    assert person.properties == {"plan": "pro", "ref": "ad"}
    assert person.name == "user-1"


def test_when_exactly_one_id_has_a_person_the_other_joins_it_without_an_identified_check(
    ev: MakeEvent,
) -> None:
    # user-a is identified, user-b was never seen: PostHog attaches user-b to user-a's person.
    who = Identity(
        [
            ev("$identify", "user-a", **ANON),
            ev("$identify", "user-b", **{"$anon_distinct_id": "user-a"}),
        ]
    )
    assert ids(who) == [("anon-1", "user-a", "user-b")]
    assert who.warnings == []


@pytest.mark.parametrize(
    "illegal",
    ["None", "undefined", "anonymous", "ANONYMOUS", "'Guest'", '"null"', "0", "", "   ", "a\x00b"],
)
def test_a_merge_with_an_illegal_id_is_refused(ev: MakeEvent, illegal: str) -> None:
    who = Identity(
        [ev("$pageview", "anon-1"), ev("$identify", "user-1", **{"$anon_distinct_id": illegal})]
    )
    assert kinds(who) == ["cannot_merge_with_illegal_distinct_id"]
    assert not who.same_person("anon-1", "user-1")
    assert who.merges == []
    assert who.refused[0].from_id == illegal


def test_an_illegal_target_is_named_first(ev: MakeEvent) -> None:
    who = Identity([ev("$create_alias", "None", source="server", alias="undefined")])
    [warning] = who.warnings
    assert "but 'None' is not a legal distinct id" in warning.message


@pytest.mark.parametrize("legal", ["NULL", "NONE", "nan", " user", "guest-42", "x" * 400])
def test_look_alikes_of_illegal_ids_are_legal(ev: MakeEvent, legal: str) -> None:
    who = Identity([ev("$identify", "user-1", **{"$anon_distinct_id": legal})])
    assert who.warnings == []
    assert who.same_person(legal, "user-1")


def test_an_id_over_400_characters_is_refused_in_a_merge_and_its_event_dropped(
    ev: MakeEvent,
) -> None:
    long = "x" * 401
    who = Identity([ev("$identify", "user-1", **{"$anon_distinct_id": long}), ev("x", long)])
    assert kinds(who) == [
        "cannot_merge_with_illegal_distinct_id",
        "skipping_event_invalid_distinct_id",
    ]
    assert who.person(long) is None


def test_no_op_merges(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("$identify", "u"),  # no $anon_distinct_id: a plain event
            ev("$identify", "u", **{"$anon_distinct_id": "u"}),  # the same id
            ev("$create_alias", "u", alias=""),  # a falsy alias
            ev("$create_alias", "u", alias=0),
        ]
    )
    assert who.requested == []
    assert who.warnings == []
    assert [(p.distinct_ids, p.is_identified) for p in who.persons()] == [(("u",), False)]


def test_a_null_anon_id_is_the_string_null_which_is_illegal(ev: MakeEvent) -> None:
    who = Identity([ev("$identify", "u", **{"$anon_distinct_id": None})])
    assert kinds(who) == ["cannot_merge_with_illegal_distinct_id"]
    assert "'null'" in who.warnings[0].message


def test_a_numeric_anon_id_joins_as_its_string(ev: MakeEvent) -> None:
    who = Identity([ev("$identify", "v", **{"$anon_distinct_id": 7})])
    assert who.same_person("7", "v")


def test_personless_events_make_no_person_and_lose_their_person_properties(
    ev: MakeEvent,
) -> None:
    who = Identity(
        [
            ev(
                "x",
                "uuid-1",
                source="server",
                **{"$process_person_profile": False, "$set": {"a": 1}},
            ),
            ev("y", "user-1", **{"$set": {"a": 2}}),
            ev("z", "user-1", **{"$process_person_profile": False, "$set": {"a": 3}}),
        ]
    )
    assert who.person("uuid-1") is None
    assert who.label("uuid-1") == "-"
    assert who.person("user-1") is not None
    assert who.person("user-1").properties == {"a": 2}
    assert who.warnings == []


@pytest.mark.parametrize("event", ["$identify", "$create_alias", "$merge_dangerously"])
def test_a_personless_merge_event_is_dropped_with_a_warning(ev: MakeEvent, event: str) -> None:
    merge = {"$anon_distinct_id": "anon-1"} if event == "$identify" else {"alias": "anon-1"}
    who = Identity(
        [
            ev("$pageview", "anon-1"),
            ev(event, "user-1", **merge, **{"$process_person_profile": False}),
        ]
    )
    assert kinds(who) == ["invalid_event_when_process_person_profile_is_false"]
    assert not who.same_person("anon-1", "user-1")


def test_a_non_boolean_process_person_profile_warns_and_counts_as_true(ev: MakeEvent) -> None:
    who = Identity([ev("x", "u", **{"$process_person_profile": "false", "$set": {"a": 1}})])
    assert kinds(who) == ["invalid_process_person_profile"]
    assert who.person("u") is not None
    assert who.person("u").properties == {"a": 1}


def test_set_once_then_set_then_unset_in_one_event_and_across_events(ev: MakeEvent) -> None:
    who = Identity(
        [
            ev("a", "u", **{"$set_once": {"first": "ad", "plan": "trial"}}),
            ev("b", "u", **{"$set": {"plan": "free"}, "$set_once": {"first": "organic"}}),
            ev("c", "u", **{"$set": {"plan": "pro", "tmp": 1}, "$unset": ["tmp", "nope"]}),
            ev("d", "u", **{"$set_once": {"plan": "ignored"}, "$unset": {"first": None}}),
        ]
    )
    person = who.person("u")
    assert person is not None
    assert person.properties == {"plan": "pro"}
    assert [str(c).split(" at ")[0] for c in person.changes] == [
        "first='ad' by $set_once in 'a' (client)",
        "plan='trial' by $set_once in 'a' (client)",
        "plan='free' by $set in 'b' (client)",
        "plan='pro' by $set in 'c' (client)",
        "tmp=1 by $set in 'c' (client)",
        "tmp by $unset in 'c' (client)",
        "nope by $unset in 'c' (client)",
        "first by $unset in 'd' (client)",
    ]


def test_top_level_set_wins_over_the_one_in_properties(ev: MakeEvent) -> None:
    from pytest_hybrid_analytics._model.events import event_from_wire

    event = event_from_wire(
        {
            "event": "signed_up",
            "distinct_id": "u",
            "$set": {"plan": "top"},
            "properties": {"$set": {"plan": "inner", "name": "Ada"}},
        }
    )
    person = Identity([event]).person("u")
    assert person is not None
    assert person.properties == {"plan": "top", "name": "Ada"}


def test_a_warning_reads_as_its_type_and_message(ev: MakeEvent) -> None:
    who = Identity([ev("$identify", "user-1", **{"$anon_distinct_id": "undefined"})])
    [warning] = who.warnings
    assert isinstance(warning, IngestionWarning)
    assert str(warning) == (
        "[cannot_merge_with_illegal_distinct_id] '$identify' (client) asked to merge "
        "'undefined' into 'user-1', but 'undefined' is not a legal distinct id (a placeholder "
        "such as 'None', 'undefined' or 'anonymous', or empty): PostHog refuses the merge, and "
        "the ids stay apart."
    )
