"""The tracking plan: which events may be sent, by which side, with which properties.

A YAML file (the ``analytics_tracking_plan`` ini key) lists the planned events. Each says
which side may send it, either directly (``source``) or through the guide's decision matrix
(``kind``: payments, subscriptions, background jobs and webhooks on the server; clicks and
page views on the client), and its properties with their JSON types::

    allow_unplanned: false        # an event not listed is a violation (the default)
    allow_posthog_events: true    # PostHog's own $-events not listed are fine (the default)
    additional_properties: true   # the default for every event
    events:
      checkout_button_clicked:
        kind: click               # client only
        properties:
          cart_total: number
          item_count: integer
      purchase_completed:
        kind: payment             # server only, and critical
        additional_properties: false
        properties:
          amount: number
          currency: {type: string, enum: [EUR, USD]}
          coupon: {type: [string, "null"], required: false}
      $pageview:
        source: client            # a listed $-event is checked like any other

A property is a JSON type name (``string``, ``number``, ``integer``, ``boolean``, ``object``,
``array``, ``null``), a list of them, or a JSON Schema fragment, where ``required: false``
makes it optional. Each planned event becomes one JSON Schema, checked with ``jsonschema``.
PostHog's own ``$``-properties, and what posthog-js adds among the properties (``distinct_id``,
``token``; ``title`` in ``$pageview``), are never extra.

Violations are :class:`~pytest_hybrid_analytics.Finding` objects of kind ``"plan"``, with
the codes ``unplanned-event``, ``wrong-source``, ``missing-property``, ``wrong-type``,
``extra-property``, and ``invalid-value`` (an ``enum``, ``minimum``, ``pattern``... not met).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import (
    Draft202012Validator,
    FormatChecker,
    ValidationError,
)
from jsonschema.exceptions import SchemaError

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.strict_yaml import YamlError, read_yaml
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.text import format_value, plural

__all__ = ["KINDS", "PlanError", "PlannedEvent", "TrackingPlan"]

_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_SOURCES = ("client", "server", "both")


@dataclass(frozen=True)
class _Kind:
    source: str
    allowed: frozenset[str]
    critical: bool
    why: str


#: The guide's decision matrix: each kind of event, the side it is tracked on, the sides a
#: plan may allow for it, whether it is critical, and the matrix's reason.
KINDS: Mapping[str, _Kind] = {
    "click": _Kind("client", frozenset({"client"}), False, "button clicks are tracked client-side"),
    "pageview": _Kind(
        "client",
        frozenset({"client", "both"}),
        False,
        "page views are tracked client-side (server-side only with SSR)",
    ),
    "form_submission": _Kind(
        "client",
        frozenset({"client", "both"}),
        False,
        "form submissions are tracked client-side (server-side for validation)",
    ),
    "session_recording": _Kind(
        "client", frozenset({"client"}), False, "session recordings exist client-side only"
    ),
    "feature_flag": _Kind(
        "both", frozenset(_SOURCES), False, "feature flags are evaluated on either side"
    ),
    "error": _Kind("both", frozenset(_SOURCES), False, "errors are tracked where they happen"),
    "api": _Kind(
        "server", frozenset({"server", "both"}), False, "API tracking belongs on the server"
    ),
    "payment": _Kind(
        "server", frozenset({"server"}), True, "payment processing is tracked server-side"
    ),
    "subscription": _Kind(
        "server", frozenset({"server"}), True, "subscription events are tracked server-side"
    ),
    "background_job": _Kind(
        "server", frozenset({"server"}), False, "background jobs are tracked server-side"
    ),
    "webhook": _Kind("server", frozenset({"server"}), False, "webhooks are tracked server-side"),
    "sensitive": _Kind(
        "server", frozenset({"server"}), True, "sensitive operations are tracked server-side"
    ),
}

#: Properties an SDK adds that a plan never lists: posthog-js puts ``distinct_id`` and ``token``
#: among every event's properties, ``title`` in ``$pageview`` and ``alias`` in ``$create_alias``.
_SDK_PROPERTIES = ("distinct_id", "token")
_SDK_EVENT_PROPERTIES = {"$pageview": ("title",), "$create_alias": ("alias",)}
#: The shape of a plan file, checked before anything is built from it.
_PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "allow_unplanned": {"type": "boolean"},
        "allow_posthog_events": {"type": "boolean"},
        "additional_properties": {"type": "boolean"},
        "events": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "source": {"enum": list(_SOURCES)},
                    "kind": {"enum": list(KINDS)},
                    "critical": {"type": "boolean"},
                    "description": {"type": "string"},
                    "additional_properties": {"type": "boolean"},
                    "properties": {
                        "type": ["object", "null"],
                        "additionalProperties": {"type": ["string", "array", "object"]},
                    },
                },
            },
        },
    },
}
_ORDER = {
    code: n
    for n, code in enumerate(
        ("wrong-source", "missing-property", "wrong-type", "extra-property", "invalid-value")
    )
}


class PlanError(ValueError):
    """A tracking plan that cannot be used, with the file and the problem.

    >>> TrackingPlan.load("plan.yaml")
    Traceback (most recent call last):
    PlanError: tracking plan plan.yaml: events.purchase_completed.source: 'frontend' is not ...
    """


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _expected(schema: Any) -> str:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, list):
        return " or ".join(map(str, kind))
    return str(kind) if kind else "the planned schema"


@dataclass(frozen=True)
class PlannedEvent:
    """One event of the plan, with the JSON Schema its captures are checked against.

    >>> plan.events["purchase_completed"].sources
    frozenset({'server'})
    """

    name: str
    #: The sides that may send it: ``{"client"}``, ``{"server"}`` or both.
    sources: frozenset[str]
    #: Its kind in the guide's decision matrix (``"payment"``...), if the plan gives one.
    kind: str | None
    #: Whether the audit counts it among the critical events (tracked server-side).
    critical: bool
    #: The JSON Schema of ``{"source": ..., "properties": {...}}`` for this event.
    schema: Mapping[str, Any]

    def why_source(self) -> str:
        """The decision matrix's reason for the allowed sides, or ``""``.

        >>> plan.events["purchase_completed"].why_source()
        'payment processing is tracked server-side'
        """
        return KINDS[self.kind].why if self.kind else ""


class TrackingPlan:
    """A tracking plan, loaded from YAML (:meth:`load`) or a dict (:meth:`from_dict`).

    >>> plan = TrackingPlan.load("tests/tracking-plan.yaml")
    >>> for violation in plan.check(analytics.events):
    ...     print(violation)
    [wrong-source] 'purchase_completed' was sent by the client; the plan allows only the server ...
    """

    def __init__(
        self,
        events: Mapping[str, PlannedEvent],
        *,
        origin: str = "<dict>",
        allow_unplanned: bool = False,
        allow_posthog_events: bool = True,
    ) -> None:
        #: The planned events by name.
        self.events = dict(events)
        #: Where the plan came from (its path), for messages.
        self.origin = origin
        #: Whether events the plan does not list are allowed.
        self.allow_unplanned = allow_unplanned
        #: Whether PostHog's own ``$``-events the plan does not list are allowed.
        self.allow_posthog_events = allow_posthog_events
        self._validators = {
            name: Draft202012Validator(planned.schema, format_checker=FormatChecker())
            for name, planned in self.events.items()
        }

    def __repr__(self) -> str:
        count = len(self.events)
        return f"<TrackingPlan {self.origin} ({plural(count, 'event')})>"

    # -- building --------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> TrackingPlan:
        """Read a plan from a YAML file; raises :class:`PlanError` naming the file and the
        problem (unreadable, not YAML, a key given twice, not a valid plan).

        >>> TrackingPlan.load(config.rootpath / config.getini("analytics_tracking_plan"))
        <TrackingPlan tests/tracking-plan.yaml (12 events)>
        """
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanError(f"tracking plan {origin}: cannot be read ({exc.strerror})") from None
        try:
            data = read_yaml(text)
        except YamlError as exc:
            raise PlanError(f"tracking plan {origin}: {exc}") from None
        return cls.from_dict(data, origin=origin)

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "<dict>") -> TrackingPlan:
        """Build a plan from parsed YAML or JSON; raises :class:`PlanError` on a bad plan.

        >>> TrackingPlan.from_dict({"events": {"signed_up": {"source": "server"}}})
        <TrackingPlan <dict> (1 event)>
        """
        if data is None:
            raise PlanError(f"tracking plan {origin}: the file is empty (expected 'events:')")
        errors = sorted(
            Draft202012Validator(_PLAN_SCHEMA).iter_errors(data),
            key=lambda e: (list(map(str, e.absolute_path)), e.message),
        )
        if errors:
            lines = [f"{_where(e.absolute_path) or 'top level'}: {e.message}" for e in errors[:10]]
            raise PlanError(f"tracking plan {origin}: " + "; ".join(lines))
        extra_default = bool(data.get("additional_properties", True))
        events = {
            str(name): _planned(str(name), spec or {}, extra_default, origin)
            for name, spec in data["events"].items()
        }
        return cls(
            events,
            origin=origin,
            allow_unplanned=bool(data.get("allow_unplanned", False)),
            allow_posthog_events=bool(data.get("allow_posthog_events", True)),
        )

    # -- checking --------------------------------------------------------------------------

    def is_critical(self, event: str) -> bool:
        """Whether the plan counts ``event`` as critical (``critical: true``, or a payment,
        subscription or sensitive kind).

        >>> plan.is_critical("purchase_completed"), plan.is_critical("button_clicked")
        (True, False)
        """
        planned = self.events.get(event)
        return planned is not None and planned.critical

    def check(self, events: Iterable[CapturedEvent]) -> list[Finding]:
        """Every violation in ``events``, in event order.

        >>> [v.code for v in plan.check(analytics)]
        ['wrong-source', 'missing-property']
        """
        return [finding for event in events for finding in self.check_event(event)]

    def check_event(self, event: CapturedEvent) -> list[Finding]:
        """The violations of one event.

        >>> plan.check_event(analytics.find("promo_seen")[0])[0].code
        'unplanned-event'
        """
        name = event.event
        planned = self.events.get(name)
        if planned is None:
            if self.allow_unplanned or (name.startswith("$") and self.allow_posthog_events):
                return []
            return [
                Finding(
                    "plan",
                    "unplanned-event",
                    f"{name!r} ({event.source}) is not in the tracking plan {self.origin}: add "
                    "it to the plan, or set allow_unplanned: true",
                    event=event,
                )
            ]
        instance = {"source": event.source, "properties": event.properties}
        found: dict[tuple[str, str], Finding] = {}
        for error in self._validators[name].iter_errors(instance):
            for finding in self._explain(event, planned, error):
                found.setdefault((finding.code, finding.path or ""), finding)
        return sorted(found.values(), key=lambda f: (_ORDER[f.code], f.path or ""))

    def _explain(
        self, event: CapturedEvent, planned: PlannedEvent, error: ValidationError
    ) -> Iterable[Finding]:
        name, source = event.event, event.source
        path = list(error.absolute_path)
        if path[:1] == ["source"]:
            allowed = " and the ".join(sorted(planned.sources))
            why = planned.why_source()
            yield Finding(
                "plan",
                "wrong-source",
                f"{name!r} was sent by the {source}; the plan allows only the {allowed}"
                + (f" (kind {planned.kind!r}: {why})" if why else ""),
                event=event,
            )
            return
        where = _where(path[1:])
        prefix = f"{name!r} ({source})"
        # jsonschema types these as unions with its Unset sentinel; for an error they are set.
        schema: Any = error.schema
        expected: Any = error.validator_value
        if error.validator == "required":
            instance = error.instance if isinstance(error.instance, Mapping) else {}
            for prop in expected:
                if prop not in instance:
                    full = f"{where}.{prop}" if where else prop
                    wanted = _expected(schema.get("properties", {}).get(prop, {}))
                    yield Finding(
                        "plan",
                        "missing-property",
                        f"{prefix} lacks the required property {full!r} ({wanted})",
                        event=event,
                        path=full,
                    )
        elif error.validator == "type":
            yield Finding(
                "plan",
                "wrong-type",
                f"{prefix} property {where!r} is {_json_type(error.instance)} "
                f"{format_value(error.instance)}; the plan says {_expected(schema)}",
                event=event,
                path=where,
            )
        elif error.validator == "additionalProperties":
            listed = schema.get("properties", {})
            patterns = schema.get("patternProperties", {})
            for prop in error.instance if isinstance(error.instance, Mapping) else {}:
                if prop in listed or any(re.search(p, prop) for p in patterns):
                    continue
                full = f"{where}.{prop}" if where else prop
                yield Finding(
                    "plan",
                    "extra-property",
                    f"{prefix} property {full!r} is not in the plan, which allows no other "
                    "properties for this event (additional_properties: false)",
                    event=event,
                    path=full,
                )
        else:
            yield Finding(
                "plan",
                "invalid-value",
                f"{prefix} property {where!r} = {format_value(error.instance)}: "
                f"{error.validator} {format_value(error.validator_value, 60)} not met",
                event=event,
                path=where,
            )


def _planned(name: str, spec: Mapping[str, Any], extra_default: bool, origin: str) -> PlannedEvent:
    def fail(problem: str) -> PlanError:
        return PlanError(f"tracking plan {origin}: events.{name}: {problem}")

    kind_name = spec.get("kind")
    kind = KINDS[kind_name] if kind_name else None
    source = spec.get("source") or (kind.source if kind else None)
    if source is None:
        raise fail(
            "say which side may send it: source (client, server or both) or kind "
            f"({', '.join(KINDS)})"
        )
    if kind is not None and source not in kind.allowed:
        raise fail(
            f"source {source!r} contradicts kind {kind_name!r} ({kind.why}, the guide's "
            "decision matrix); drop the source or change the kind"
        )
    sources = frozenset({"client", "server"} if source == "both" else {source})
    properties: dict[str, Any] = {}
    required: list[str] = []
    for prop, prop_spec in (spec.get("properties") or {}).items():
        if isinstance(prop_spec, Mapping):
            fragment = {k: v for k, v in prop_spec.items() if k != "required"}
            if not isinstance(prop_spec.get("required", True), bool):
                raise fail(f"properties.{prop}.required must be true or false")
            if prop_spec.get("required", True):
                required.append(str(prop))
        else:
            names = prop_spec if isinstance(prop_spec, list) else [prop_spec]
            unknown = [n for n in names if n not in _TYPES]
            if unknown or not names:
                raise fail(
                    f"properties.{prop}: {format_value(prop_spec)} is not a JSON type "
                    f"({', '.join(_TYPES)}), a list of them, or a JSON Schema object"
                )
            fragment = {"type": prop_spec}
            required.append(str(prop))
        try:
            Draft202012Validator.check_schema(fragment)
        except SchemaError as exc:
            raise fail(f"properties.{prop} is not a valid JSON Schema: {exc.message}") from None
        properties[str(prop)] = fragment
    allow_extra = bool(spec.get("additional_properties", extra_default))
    props_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        props_schema["required"] = required
    if not allow_extra:
        props_schema["patternProperties"] = {"^\\$": {}}
        sdk = (*_SDK_PROPERTIES, *_SDK_EVENT_PROPERTIES.get(name, ()))
        props_schema["properties"] = {**{p: {} for p in sdk}, **properties}
        props_schema["additionalProperties"] = False
    schema = {
        "title": name,
        "type": "object",
        "properties": {"source": {"enum": sorted(sources)}, "properties": props_schema},
    }
    critical = spec.get("critical", kind.critical if kind else False)
    return PlannedEvent(name, sources, kind_name, bool(critical), schema)
