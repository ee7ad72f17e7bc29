"""What the published SDKs send when users log in, switch accounts, alias ids and set person
properties, and the persons PostHog's ingestion makes of it (rules: posthog-persons.md).

posthog-js (``fixtures/package-lock.json``) runs in Chromium on ``persons-app.html``, which calls
``posthog.init`` with default options: ``person_profiles: 'identified_only'``, so a visitor's
events are personless (``$process_person_profile: false``) until ``identify()`` or
``setPersonProperties()``. The server side is the ``posthog`` package of the venv, with a
``sync_mode`` client so that events arrive in the order they were sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from posthog import Posthog
from web_app import WebApp

from pytest_hybrid_analytics import (
    Analytics,
    IngestionWarning,
    Person,
    assert_no_ingestion_warnings,
    assert_person_properties,
    assert_same_person,
)

PPP = "$process_person_profile"
ANON = "$anon_distinct_id"


@pytest.fixture
def server() -> Iterator[Posthog]:
    """A backend's ``posthog`` client; the requests road claims its traffic."""
    client = Posthog("phc_web_project", host="https://us.i.posthog.com", sync_mode=True)
    yield client
    client.shutdown()


def open_app(analytics: Analytics, page: Page, web_app: WebApp) -> str:
    """Load the app; returns the anonymous distinct id of its first (personless) ``$pageview``."""
    page.goto(f"{web_app.url}/persons-app.html")
    [pageview] = analytics.wait_for("$pageview", source="client")
    assert pageview.properties[PPP] is False
    assert pageview.distinct_id is not None
    return pageview.distinct_id


def timeline(analytics: Analytics) -> list[tuple[str, str | None]]:
    """What the SDK captured, in the order it captured it (two batches of posthog-js may reach
    the collector in either order on a loaded machine; each event's own time decides)."""
    return [(e.event, e.distinct_id) for e in sorted(analytics.events, key=lambda e: e.timestamp)]


def ids(person: Person | None) -> set[str]:
    """A person's distinct ids, as a set (merges decide their order)."""
    assert person is not None
    return set(person.distinct_ids)


def person_of(analytics: Analytics, distinct_id: str) -> Person:
    person = analytics.person(distinct_id)
    assert person is not None, f"{distinct_id!r} has no person"
    return person


# -- posthog-js: one browser, two users --------------------------------------------------------


def test_js_second_login_without_reset_sends_no_identify(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    anon = open_app(analytics, page, web_app)
    page.evaluate("() => { posthog.identify('user-a'); posthog.capture('a_logged_in') }")
    analytics.wait_for("a_logged_in", distinct_id="user-a")
    page.evaluate("() => { posthog.identify('user-b'); posthog.capture('b_logged_in') }")
    [b_event] = analytics.wait_for("b_logged_in", distinct_id="user-b")
    analytics.flush()

    # posthog-js sends $identify only while the stored user state is anonymous: the switch to
    # user-b changes the distinct id in the browser without any event saying so.
    assert timeline(analytics) == [
        ("$pageview", anon),
        ("$identify", "user-a"),
        ("a_logged_in", "user-a"),
        ("b_logged_in", "user-b"),
    ]
    [identify] = analytics.find("$identify")
    assert identify.properties[ANON] == anon
    assert identify.properties[PPP] is True
    assert b_event.properties[PPP] is True
    assert b_event.properties["$is_identified"] is True
    assert b_event.properties["$user_id"] == "user-b"
    assert b_event.properties["$device_id"] == anon

    # PostHog: anon + user-a merged (identified); user-b is a new person from an ordinary
    # event, never identified. Nothing was refused, so no warning says it happened.
    persons = analytics.persons
    assert [p.label for p in persons] == ["P1", "P2"]
    assert ids(persons[0]) == {anon, "user-a"}
    assert persons[0].is_identified is True
    user_b = person_of(analytics, "user-b")
    assert (user_b.label, user_b.distinct_ids, user_b.is_identified) == ("P2", ("user-b",), False)
    assert_no_ingestion_warnings(analytics)
    with pytest.raises(AssertionError):
        assert_same_person(analytics)


def test_js_second_login_after_reset_identifies_a_fresh_anonymous_id(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    anon = open_app(analytics, page, web_app)
    page.evaluate("() => { posthog.identify('user-a'); posthog.capture('a_logged_in') }")
    analytics.wait_for("a_logged_in", distinct_id="user-a")
    page.evaluate(
        "() => { posthog.reset(); posthog.identify('user-b'); posthog.capture('b_logged_in') }"
    )
    [second] = analytics.wait_for("$identify", distinct_id="user-b")
    analytics.wait_for("b_logged_in", distinct_id="user-b")
    analytics.flush()

    fresh = second.properties[ANON]
    assert fresh not in (anon, "user-a")
    assert timeline(analytics) == [
        ("$pageview", anon),
        ("$identify", "user-a"),
        ("a_logged_in", "user-a"),
        ("$identify", "user-b"),
        ("b_logged_in", "user-b"),
    ]
    first = analytics.find("$identify", distinct_id="user-a")[0]
    assert first.properties[ANON] == anon
    assert {e.properties[PPP] for e in analytics.find("$identify")} == {True}
    assert second.properties["$device_id"] == anon  # reset() keeps the device id

    # PostHog: two persons, each identified by its own merge; nothing refused.
    persons = analytics.persons
    assert [p.label for p in persons] == ["P1", "P2"]
    assert [ids(p) for p in persons] == [{anon, "user-a"}, {fresh, "user-b"}]
    assert [p.is_identified for p in persons] == [True, True]
    assert analytics.person(fresh) == analytics.person("user-b")
    assert_no_ingestion_warnings(analytics)


# -- posthog-js: alias ---------------------------------------------------------------------------


def test_js_alias_of_the_identified_id_sends_nothing(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    anon = open_app(analytics, page, web_app)
    result = page.evaluate(
        "() => { posthog.identify('user-a'); const r = posthog.alias('user-a');"
        " posthog.capture('a_logged_in'); return r }"
    )
    analytics.wait_for("a_logged_in", distinct_id="user-a")
    analytics.flush()

    # alias() == the current distinct id: posthog-js skips the call (returns -1) and calls
    # identify('user-a') again, which sends nothing either.
    assert result == -1
    assert timeline(analytics) == [
        ("$pageview", anon),
        ("$identify", "user-a"),
        ("a_logged_in", "user-a"),
    ]
    assert analytics.find("$identify")[0].properties[ANON] == anon

    [person] = analytics.persons
    assert ids(person) == {anon, "user-a"}
    assert person.is_identified is True
    assert_no_ingestion_warnings(analytics)
    assert assert_same_person(analytics) == "user-a"


def test_js_alias_after_identify_links_a_second_id(
    analytics: Analytics, page: Page, web_app: WebApp, server: Posthog
) -> None:
    anon = open_app(analytics, page, web_app)
    page.evaluate(
        "() => { posthog.identify('user-a'); posthog.alias('crm-4711');"
        " posthog.capture('a_logged_in') }"
    )
    [alias] = analytics.wait_for("$create_alias", source="client")
    analytics.wait_for("a_logged_in")
    server.capture("invoice_paid", distinct_id="crm-4711")  # billing knows the CRM id only
    analytics.wait_for("invoice_paid", source="server")
    analytics.flush()

    assert timeline(analytics) == [
        ("$pageview", anon),
        ("$identify", "user-a"),
        ("$create_alias", "user-a"),
        ("a_logged_in", "user-a"),  # alias() does not change the browser's distinct id
        ("invoice_paid", "crm-4711"),
    ]
    assert alias.properties["alias"] == "crm-4711"
    assert alias.properties[PPP] is True
    assert ANON not in alias.properties

    # PostHog: target user-a (identified, with anon), source crm-4711 (no person yet): attached.
    [person] = analytics.persons
    assert ids(person) == {anon, "user-a", "crm-4711"}
    assert person.is_identified is True
    assert analytics.person("crm-4711") == analytics.person(anon)
    assert_no_ingestion_warnings(analytics)
    assert_same_person(analytics)


# -- posthog-js: person properties and personless events ----------------------------------------


def test_js_person_properties_before_and_after_person_processing(
    analytics: Analytics, page: Page, web_app: WebApp
) -> None:
    anon = open_app(analytics, page, web_app)
    page.evaluate(
        "() => posthog.capture('pricing_viewed',"
        " {$set: {referral: 'newsletter'}, $set_once: {first_plan: 'free'}})"
    )
    [viewed] = analytics.wait_for("pricing_viewed")
    page.evaluate(
        "() => { posthog.setPersonProperties({plan: 'pro'}, {first_plan: 'trial'});"
        " posthog.capture('plan_chosen', {$set_once: {first_plan: 'enterprise'}}) }"
    )
    [set_props] = analytics.wait_for("$set", distinct_id=anon)
    [chosen] = analytics.wait_for("plan_chosen")
    page.evaluate("() => { posthog.identify('user-a'); posthog.unsetPersonProperties('plan') }")
    [identify] = analytics.wait_for("$identify", distinct_id="user-a")
    [unset] = analytics.wait_for("$set", distinct_id="user-a")
    analytics.flush()

    # Before identify (identified_only): personless, with $set/$set_once in properties.
    assert (viewed.distinct_id, viewed.properties[PPP]) == (anon, False)
    assert viewed.set == {"referral": "newsletter"}
    assert viewed.set_once == {"first_plan": "free"}
    # setPersonProperties turns person processing on: a $set event, the caller's values in
    # properties, the SDK's $initial_* properties in a top-level $set_once.
    assert set_props.properties[PPP] is True
    assert set_props.properties["$set"] == {"plan": "pro"}
    assert set_props.properties["$set_once"] == {"first_plan": "trial"}
    assert set_props.set == {"plan": "pro"}
    assert set_props.set_once["first_plan"] == "trial"
    assert set_props.set_once["$initial_pathname"] == "/persons-app.html"
    assert (chosen.distinct_id, chosen.properties[PPP]) == (anon, True)
    assert chosen.set_once == {"first_plan": "enterprise"}
    # From then on the anonymous id has a person: identify merges into it.
    assert identify.properties[ANON] == anon
    assert identify.properties[PPP] is True
    assert unset.properties["$unset"] == ["plan"]
    assert unset.set == {}

    # PostHog: the personless event's $set/$set_once are dropped (first_plan is 'trial', the
    # first value a person saw; no referral); user-a joins anon's person; plan is unset.
    [person] = analytics.persons
    assert ids(person) == {anon, "user-a"}
    assert person.is_identified is True
    assert "referral" not in person.properties
    assert "plan" not in person.properties
    assert_person_properties(
        analytics,
        "user-a",
        first_plan="trial",
        **{"$initial_current_url": lambda url: url.endswith("/persons-app.html")},
    )
    assert_no_ingestion_warnings(analytics)


# -- posthog-python --------------------------------------------------------------------------


def test_python_alias_merges_the_new_id_into_the_previous_one(
    analytics: Analytics, server: Posthog
) -> None:
    server.capture("signup_started", distinct_id="anon-1")
    server.set(distinct_id="anon-1", properties={"plan": "free"})
    server.set(distinct_id="user-1", properties={"plan": "pro", "email_verified": True})
    server.alias(previous_id="anon-1", distinct_id="user-1")
    server.capture("signup_started", distinct_id="anon-2")  # the same user on a second device
    server.alias(previous_id="anon-2", distinct_id="user-1")
    aliases = analytics.wait_for("$create_alias", source="server", count=2)

    # $create_alias goes out with distinct_id = previous_id (the merge target) and
    # alias = the new id (the source): the reverse of posthog-js's $identify.
    assert [(a.distinct_id, a.properties["alias"]) for a in aliases] == [
        ("anon-1", "user-1"),
        ("anon-2", "user-1"),
    ]
    assert [a.properties["distinct_id"] for a in aliases] == ["anon-1", "anon-2"]
    assert all(PPP not in a.properties and ANON not in a.properties for a in aliases)

    # First alias: both persons unidentified, merge allowed, the target's properties win.
    user = assert_person_properties(analytics, "user-1", plan="free", email_verified=bool)
    assert ids(user) == {"anon-1", "user-1"}
    assert user.is_identified is True
    assert user.properties["email_verified"] is True
    # Second alias: the source (user-1) is now identified, so PostHog refuses; anon-2 stays a
    # person of its own (marked identified by the refused merge).
    second = person_of(analytics, "anon-2")
    assert (second.distinct_ids, second.is_identified) == (("anon-2",), True)
    [warning] = analytics.warnings
    assert isinstance(warning, IngestionWarning)
    assert warning.type == "cannot_merge_already_identified"
    assert warning.event.uuid == aliases[1].uuid
    assert warning.message
    with pytest.raises(AssertionError, match="cannot_merge_already_identified"):
        assert_same_person(analytics)


@pytest.mark.analytics(allow_warnings=["invalid_event_when_process_person_profile_is_false"])
def test_python_capture_without_distinct_id_is_personless(
    analytics: Analytics, server: Posthog
) -> None:
    server.capture("report_exported", properties={"$set": {"exports": 1}})
    server.capture("report_exported")
    assert server.set(properties={"plan": "pro"}) is None  # personless set(): nothing sent
    server.capture("$identify", properties={ANON: "anon-9"})  # a hand-rolled identify, no id
    exports = analytics.wait_for("report_exported", source="server", count=2)
    [identify] = analytics.wait_for("$identify", source="server")
    analytics.flush()

    assert [e.event for e in analytics.events] == [
        "report_exported",
        "report_exported",
        "$identify",
    ]
    for event in analytics.events:
        assert event.distinct_id is not None
        assert uuid.UUID(event.distinct_id).version == 4  # invented for this one event
        assert event.properties[PPP] is False
    assert len({e.distinct_id for e in analytics.events}) == 3
    assert exports[0].set == {"exports": 1}

    # PostHog: no person at all; the $set is dropped, the $identify is dropped with a warning.
    assert analytics.persons == []
    assert [analytics.person(str(e.distinct_id)) for e in analytics.events] == [None] * 3
    [warning] = analytics.warnings
    assert warning.type == "invalid_event_when_process_person_profile_is_false"
    assert warning.event.uuid == identify.uuid


@pytest.mark.analytics(
    allow_warnings=["illegal-distinct-id", "cannot_merge_with_illegal_distinct_id"]
)
def test_python_str_none_is_a_person_and_an_illegal_merge(
    analytics: Analytics, server: Posthog
) -> None:
    server.capture("invoice_paid", distinct_id=str(None))
    assert server.alias(previous_id=None, distinct_id="user-1") is None  # dropped by the SDK
    server.alias(previous_id=str(None), distinct_id="user-1")  # sent
    server.capture("invoice_paid", distinct_id="user-1")
    paid = analytics.wait_for("invoice_paid", source="server", count=2)
    [alias] = analytics.wait_for("$create_alias", source="server")
    analytics.flush()

    assert [(e.event, e.distinct_id) for e in analytics.events] == [
        ("invoice_paid", "None"),
        ("$create_alias", "None"),
        ("invoice_paid", "user-1"),
    ]
    assert PPP not in paid[0].properties  # a person event, not a personless one
    assert alias.properties["alias"] == "user-1"

    # PostHog: "None" is a legal id for an ordinary event (a person called "None"), but an
    # illegal merge target: the alias is refused and user-1 stays apart.
    none_person, user = person_of(analytics, "None"), person_of(analytics, "user-1")
    assert (none_person.distinct_ids, none_person.is_identified) == (("None",), False)
    assert (user.distinct_ids, user.is_identified) == (("user-1",), False)
    assert [p.label for p in analytics.persons] == ["P1", "P2"]
    [warning] = analytics.warnings
    assert warning.type == "cannot_merge_with_illegal_distinct_id"
    assert warning.event.uuid == alias.uuid
    with pytest.raises(AssertionError, match="cannot_merge_with_illegal_distinct_id"):
        assert_same_person(analytics)


def test_python_set_set_once_and_unset(analytics: Analytics, server: Posthog) -> None:
    server.set(distinct_id="user-1", properties={"plan": "pro"})
    server.set_once(distinct_id="user-1", properties={"plan": "free", "signup_source": "ads"})
    # No unset() in the SDK: $unset goes in a capture's properties (a list of keys).
    assert not hasattr(server, "unset")
    server.capture("plan_cancelled", distinct_id="user-1", properties={"$unset": ["plan"]})
    server.capture("upgraded", distinct_id="user-2", properties={"$set": {"plan": "pro"}})
    server.capture("pricing_viewed", distinct_id="user-2", properties={"$set_once": {"plan": "x"}})
    server.capture(
        "signed_up",
        distinct_id="user-3",
        properties={"$set": {"plan": "pro"}, "$set_once": {"plan": "free", "signup_source": "ads"}},
    )
    analytics.wait_for("signed_up", source="server")
    analytics.flush()

    set_, set_once, cancelled, upgraded, viewed, signed_up = analytics.events
    # set()/set_once(): events named $set/$set_once, the properties at the event's top level.
    assert (set_.event, set_.set, "$set" in set_.properties) == ("$set", {"plan": "pro"}, False)
    assert (set_once.event, set_once.set_once) == (
        "$set_once",
        {"plan": "free", "signup_source": "ads"},
    )
    assert "$set_once" not in set_once.properties
    assert cancelled.properties["$unset"] == ["plan"]
    # capture(properties={"$set": ...}): kept inside properties.
    assert upgraded.properties["$set"] == upgraded.set == {"plan": "pro"}
    assert viewed.properties["$set_once"] == viewed.set_once == {"plan": "x"}
    assert (signed_up.set, signed_up.set_once) == (
        {"plan": "pro"},
        {"plan": "free", "signup_source": "ads"},
    )
    assert all(PPP not in e.properties for e in analytics.events)

    # PostHog: $set_once never overwrites; in one event $set_once applies before $set.
    assert person_of(analytics, "user-1").properties == {"signup_source": "ads"}
    assert_person_properties(analytics, "user-2", plan="pro")
    assert_person_properties(analytics, "user-3", plan="pro", signup_source="ads")
    assert [p.is_identified for p in analytics.persons] == [False, False, False]
    assert_no_ingestion_warnings(analytics)
