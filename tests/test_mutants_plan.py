"""The tracking plan, edge by edge: the JSON Schema each planned event becomes, the defaults of a
plan, and the wording of what is missing, extra or unplanned."""

from __future__ import annotations

from support import MakeEvent

from pytest_hybrid_analytics import TrackingPlan

BUY = {
    "source": "server",
    "properties": {
        "amount": "number",
        "coupon": {"type": "string", "required": False},
        "items": {"type": "array"},
    },
}


def violations(plan: TrackingPlan, *events: object) -> list[str]:
    return [str(finding) for finding in plan.check(events)]  # type: ignore[arg-type]


def test_a_planned_event_becomes_a_json_schema_of_source_and_properties() -> None:
    plan = TrackingPlan.from_dict({"events": {"buy": BUY}})
    assert plan.events["buy"].schema == {
        "title": "buy",
        "type": "object",
        "properties": {
            "source": {"enum": ["server"]},
            "properties": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "coupon": {"type": "string"},
                    "items": {"type": "array"},
                },
                "required": ["amount", "items"],
            },
        },
    }
    assert (plan.events["buy"].name, plan.events["buy"].kind) == ("buy", None)


def test_properties_are_required_unless_marked_optional(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict({"events": {"buy": BUY}})
    assert violations(plan, ev("buy", "u", source="server")) == [
        "[missing-property] 'buy' (server) lacks the required property 'amount' (number)",
        "[missing-property] 'buy' (server) lacks the required property 'items' (array)",
    ]
    assert violations(plan, ev("buy", "u", source="server", amount=1, items=[], extra=1)) == []


def test_a_missing_property_without_a_type_names_the_planned_schema(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(
        {"events": {"c": {"source": "client", "properties": {"v": {"enum": [1, 2]}}}}}
    )
    assert violations(plan, ev("c", "u")) == [
        "[missing-property] 'c' (client) lacks the required property 'v' (the planned schema)"
    ]


def test_a_plan_refuses_unplanned_events_but_allows_posthogs_own_by_default(
    ev: MakeEvent,
) -> None:
    plan = TrackingPlan.from_dict({"events": {"buy": BUY}})
    assert (plan.origin, plan.allow_unplanned, plan.allow_posthog_events) == (
        "<dict>",
        False,
        True,
    )
    built = TrackingPlan(plan.events)
    assert (built.origin, built.allow_unplanned, built.allow_posthog_events) == (
        "<dict>",
        False,
        True,
    )
    assert violations(built, ev("other", "u"), ev("$pageview", "u")) == [
        "[unplanned-event] 'other' (client) is not in the tracking plan <dict>: add it to the "
        "plan, or set allow_unplanned: true"
    ]


def test_a_plan_wide_setting_is_the_default_each_event_may_override(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(
        {
            "additional_properties": False,
            "allow_unplanned": True,
            "allow_posthog_events": False,
            "events": {
                "a": {
                    "source": "client",
                    "properties": {"x": ["string", "null"]},
                    "additional_properties": True,
                },
                "b": {"source": "client"},
            },
        }
    )
    assert violations(plan, ev("a", "u", x=None, y=1), ev("b", "u", y=1), ev("zz", "u")) == [
        "[extra-property] 'b' (client) property 'y' is not in the plan, which allows no other "
        "properties for this event (additional_properties: false)"
    ]
    assert plan.events["b"].schema["properties"]["properties"]["additionalProperties"] is False
    assert "additionalProperties" not in plan.events["a"].schema["properties"]["properties"]


def test_a_wrong_type_names_the_json_type_sent(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict({"events": {"buy": BUY}})
    assert violations(plan, ev("buy", "u", source="server", amount="3", items=[])) == [
        "[wrong-type] 'buy' (server) property 'amount' is string '3'; the plan says number"
    ]


NESTED = {
    "events": {
        "order": {
            "source": "both",
            "properties": {
                "cart": {
                    "type": "object",
                    "properties": {
                        "line": {
                            "type": "object",
                            "properties": {"total": {"type": "number"}, "sku": {}},
                            "required": ["total"],
                            "additionalProperties": False,
                            "patternProperties": {"^x_": {}},
                        }
                    },
                },
                "level": {"type": "integer", "maximum": 3},
            },
        }
    }
}


def test_each_finding_names_the_plan_its_event_and_the_nested_path(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(NESTED)
    event = ev("order", "u", cart={"line": {"sku": "a", "x_debug": 1, "coupon": "c"}}, level=9)
    findings = plan.check([event])
    assert [(f.kind, f.code, f.path, f.event is event) for f in findings] == [
        ("plan", "missing-property", "cart.line.total", True),
        ("plan", "extra-property", "cart.line.coupon", True),
        ("plan", "invalid-value", "level", True),
    ]
    assert [str(f) for f in findings] == [
        "[missing-property] 'order' (client) lacks the required property 'cart.line.total' "
        "(number)",
        "[extra-property] 'order' (client) property 'cart.line.coupon' is not in the plan, which "
        "allows no other properties for this event (additional_properties: false)",
        "[invalid-value] 'order' (client) property 'level' = 9: maximum 3 not met",
    ]


def test_a_wrong_type_and_a_wrong_source_are_findings_of_the_plan(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict({"events": {"buy": BUY}})
    wrong_type = ev("buy", "u", source="server", amount="3", items=[])
    [finding] = plan.check([wrong_type])
    assert (finding.kind, finding.path, finding.event is wrong_type) == ("plan", "amount", True)
    from_client = ev("buy", "u", amount=1, items=[])
    [finding] = plan.check([from_client])
    assert (finding.kind, finding.code, finding.path, finding.event is from_client) == (
        "plan",
        "wrong-source",
        None,
        True,
    )
    assert (
        str(finding)
        == "[wrong-source] 'buy' was sent by the client; the plan allows only the server"
    )
    [unplanned] = plan.check([ev("other", "u")])
    assert (unplanned.kind, unplanned.path) == ("plan", None)


def test_a_kinds_reason_follows_a_wrong_source(ev: MakeEvent) -> None:
    plan = TrackingPlan.from_dict(
        {"events": {"paid": {"kind": "payment"}, "both": {"source": "both"}}}
    )
    [finding] = plan.check([ev("paid", "u")])
    assert str(finding) == (
        "[wrong-source] 'paid' was sent by the client; the plan allows only the server (kind "
        "'payment': payment processing is tracked server-side)"
    )
    assert plan.check([ev("both", "u"), ev("both", "u", source="server")]) == []
