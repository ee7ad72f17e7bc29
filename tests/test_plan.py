"""The tracking plan: loading (and refusing) YAML plans, and each violation's exact words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from support import MakeEvent, replay

from pytest_hybrid_analytics import PlanError, TrackingPlan

PLANS = Path(__file__).parent / "data" / "plans"
PAYLOADS = Path(__file__).parent / "payloads"
SHOP = PLANS / "shop.yaml"


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    return TrackingPlan.load(SHOP)


def violations(plan: TrackingPlan, *events: Any) -> list[str]:
    return [str(finding) for finding in plan.check(events)]


# -- a good plan -----------------------------------------------------------------------------------


def test_the_plan_file_loads_with_the_decision_matrix(plan: TrackingPlan) -> None:
    assert repr(plan) == f"<TrackingPlan {SHOP} (7 events)>"
    assert {name: sorted(e.sources) for name, e in plan.events.items()} == {
        "$pageview": ["client"],
        "checkout_button_clicked": ["client"],
        "button_clicked": ["client"],
        "purchase_completed": ["server"],
        "subscription_renewed": ["server"],
        "data_export_completed": ["server"],
        "$feature_flag_called": ["client", "server"],
    }
    assert [name for name in plan.events if plan.is_critical(name)] == [
        "purchase_completed",
        "subscription_renewed",
        "data_export_completed",
    ]
    assert not plan.is_critical("never_planned")


def test_each_planned_event_is_a_valid_json_schema(plan: TrackingPlan) -> None:
    for planned in plan.events.values():
        Draft202012Validator.check_schema(planned.schema)
    assert plan.events["checkout_button_clicked"].schema == {
        "title": "checkout_button_clicked",
        "type": "object",
        "properties": {
            "source": {"enum": ["client"]},
            "properties": {
                "type": "object",
                "properties": {"cart_total": {"type": "number"}, "item_count": {"type": "integer"}},
                "required": ["cart_total", "item_count"],
            },
        },
    }


def test_events_that_follow_the_plan_pass(plan: TrackingPlan, ev: MakeEvent) -> None:
    assert (
        violations(
            plan,
            ev("$pageview", "anon-1", **{"$current_url": "https://shop.test/"}),
            ev("checkout_button_clicked", "anon-1", cart_total=99.99, item_count=3, extra=1),
            ev(
                "purchase_completed",
                "user-1",
                source="server",
                amount=99,
                currency="EUR",
                coupon=None,
                items=[{"sku": "A1", "quantity": 2}],
                **{"$groups": {"company": "c1"}},
            ),
            ev("$feature_flag_called", "user-1", source="server"),
            ev("$autocapture", "anon-1"),  # PostHog's own, not listed: fine
        )
        == []
    )


def test_real_posthog_js_traffic_against_a_strict_plan() -> None:
    """Every $-property and the distinct_id/token posthog-js adds are never extra."""
    plan = TrackingPlan.from_dict(
        {
            "events": {
                "button_clicked": {
                    "kind": "click",
                    "additional_properties": False,
                    "properties": {
                        "button": {"enum": ["buy"]},
                        "price": "number",
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "nested": {"type": "object", "properties": {"ok": {"const": True}}},
                        "text": "string",
                    },
                },
                "$pageview": {"kind": "pageview", "additional_properties": False},
            }
        }
    )
    events = replay("posthog-js-gzip").events
    assert [e.event for e in events] == ["$pageview", "$autocapture", "button_clicked"]
    assert plan.check(events) == []


# -- each violation --------------------------------------------------------------------------------


def test_unplanned_event(plan: TrackingPlan, ev: MakeEvent) -> None:
    event = ev("promo_banner_seen", "anon-1")
    [finding] = plan.check([event])
    assert (finding.kind, finding.code, finding.event, finding.path) == (
        "plan",
        "unplanned-event",
        event,
        None,
    )
    assert str(finding) == (
        f"[unplanned-event] 'promo_banner_seen' (client) is not in the tracking plan {SHOP}: "
        "add it to the plan, or set allow_unplanned: true"
    )


def test_wrong_source_names_the_decision_matrix(plan: TrackingPlan, ev: MakeEvent) -> None:
    assert violations(
        plan,
        ev("purchase_completed", "user-1", amount=99.0, currency="EUR"),
        ev("$pageview", "user-1", source="server"),
    ) == [
        "[wrong-source] 'purchase_completed' was sent by the client; the plan allows only the "
        "server (kind 'payment': payment processing is tracked server-side)",
        "[wrong-source] '$pageview' was sent by the server; the plan allows only the client",
    ]


def test_missing_wrong_type_extra_and_invalid_values(plan: TrackingPlan, ev: MakeEvent) -> None:
    event = ev(
        "purchase_completed",
        "user-1",
        source="server",
        amount="99.99",
        coupon=7,
        gift_note="hi",
        items=[{"quantity": 0}, {"sku": 12, "quantity": 1}],
        **{"$lib_version": "7.91.1"},
    )
    assert violations(plan, event) == [
        "[missing-property] 'purchase_completed' (server) lacks the required property "
        "'currency' (string)",
        "[missing-property] 'purchase_completed' (server) lacks the required property "
        "'items[0].sku' (string)",
        "[wrong-type] 'purchase_completed' (server) property 'amount' is string '99.99'; the "
        "plan says number",
        "[wrong-type] 'purchase_completed' (server) property 'coupon' is integer 7; the plan "
        "says string or null",
        "[wrong-type] 'purchase_completed' (server) property 'items[1].sku' is integer 12; the "
        "plan says string",
        "[extra-property] 'purchase_completed' (server) property 'gift_note' is not in the plan, "
        "which allows no other properties for this event (additional_properties: false)",
        "[invalid-value] 'purchase_completed' (server) property 'items[0].quantity' = 0: minimum "
        "1 not met",
    ]
    paths = [(f.code, f.path) for f in plan.check([event])]
    assert paths[0] == ("missing-property", "currency")


def test_enum_violation(plan: TrackingPlan, ev: MakeEvent) -> None:
    assert violations(
        plan, ev("purchase_completed", "u", source="server", amount=1.5, currency="GBP")
    ) == [
        "[invalid-value] 'purchase_completed' (server) property 'currency' = 'GBP': enum "
        "['EUR', 'USD'] not met"
    ]


def test_posthog_events_are_allowed_unless_listed_or_switched_off(ev: MakeEvent) -> None:
    base = {"events": {"$pageview": {"source": "client"}}}
    flag = ev("$feature_flag_called", "u", source="server")
    server_pageview = ev("$pageview", "u", source="server")
    assert violations(TrackingPlan.from_dict(base), flag) == []
    assert [f.code for f in TrackingPlan.from_dict(base).check([server_pageview])] == [
        "wrong-source"
    ]
    strict = TrackingPlan.from_dict({**base, "allow_posthog_events": False})
    assert [f.code for f in strict.check([flag])] == ["unplanned-event"]
    lenient = TrackingPlan.from_dict({**base, "allow_unplanned": True})
    assert lenient.check([ev("anything_at_all", "u")]) == []


def test_additional_properties_default_comes_from_the_top(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(
        {
            "additional_properties": False,
            "events": {
                "signed_up": {"source": "both", "properties": {"plan": "string"}},
                "note_added": {"source": "client", "additional_properties": True},
            },
        }
    )
    assert violations(
        plan,
        ev("signed_up", "u", plan="pro", referrer="ad"),
        ev("note_added", "u", text="hi"),
    ) == [
        "[extra-property] 'signed_up' (client) property 'referrer' is not in the plan, which "
        "allows no other properties for this event (additional_properties: false)"
    ]


# -- plans that cannot be used ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("empty.yaml", "the file is empty (expected 'events:')"),
        (
            "not-yaml.yaml",
            "not valid YAML (line 4, column 4): expected <block end>, but found "
            "'<block mapping start>'",
        ),
        (
            "key-twice.yaml",
            "not valid YAML (line 4, column 3): the key 'purchase_completed' is given twice",
        ),
        (
            "typo.yaml",
            "top level: 'events' is a required property; top level: Additional properties are "
            "not allowed ('allow_unplaned', 'event' were unexpected)",
        ),
        (
            "wrong-source-value.yaml",
            "events.purchase_completed.source: 'frontend' is not one of "
            "['client', 'server', 'both']",
        ),
        (
            "kind-contradicts-source.yaml",
            "events.purchase_completed: source 'client' contradicts kind 'payment' (payment "
            "processing is tracked server-side, the guide's decision matrix); drop the source "
            "or change the kind",
        ),
        (
            "no-side.yaml",
            "events.purchase_completed: say which side may send it: source (client, server or "
            "both) or kind (click, pageview, form_submission, session_recording, feature_flag, "
            "error, api, payment, subscription, background_job, webhook, sensitive)",
        ),
        (
            "bad-type.yaml",
            "events.purchase_completed: properties.amount: 'numbr' is not a JSON type (string, "
            "number, integer, boolean, object, array, null), a list of them, or a JSON Schema "
            "object",
        ),
        ("missing.yaml", "cannot be read (No such file or directory)"),
    ],
)
def test_a_malformed_plan_names_the_file_and_the_problem(name: str, problem: str) -> None:
    path = PLANS / name
    with pytest.raises(PlanError) as info:
        TrackingPlan.load(path)
    assert str(info.value) == f"tracking plan {path}: {problem}"


def test_a_bad_schema_fragment_is_named() -> None:
    data = {"events": {"e": {"source": "client", "properties": {"n": {"minLength": "many"}}}}}
    with pytest.raises(PlanError) as info:
        TrackingPlan.from_dict(data, origin="plan.yaml")
    assert str(info.value) == (
        "tracking plan plan.yaml: events.e: properties.n is not a valid JSON Schema: "
        "'many' is not of type 'integer'"
    )
    data = {"events": {"e": {"source": "client", "properties": {"n": {"required": "yes"}}}}}
    with pytest.raises(PlanError, match=r"properties\.n\.required must be true or false$"):
        TrackingPlan.from_dict(data, origin="plan.yaml")
    with pytest.raises(PlanError) as info:
        TrackingPlan.from_dict(["not", "a", "plan"], origin="plan.yaml")
    assert str(info.value) == (
        "tracking plan plan.yaml: top level: ['not', 'a', 'plan'] is not of type 'object'"
    )


def test_wrong_type_names_every_json_type(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(
        {"events": {"e": {"source": "client", "properties": {k: "string" for k in "abcdef"}}}}
    )
    event = ev("e", a=None, b=True, c=1.5, d={"x": 1}, e=[1], f="ok")
    assert [f.message.split("; ")[0].split(" is ")[1] for f in plan.check([event])] == [
        "null None",
        "boolean True",
        "number 1.5",
        "object {'x': 1}",
        "array [1]",
    ]
