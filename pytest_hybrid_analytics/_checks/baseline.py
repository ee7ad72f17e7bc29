"""Analytics baselines: snapshot testing for events.

A test's :class:`Snapshot` is the shape of what it sent, never a value: per event name and
side, how many were sent and its properties' keys with their JSON types; and the persons
PostHog would count, with the merges that joined them (by event and side) and the merges it
would refuse. :func:`take_snapshot` builds one, :func:`compare` words the differences with a
stored one, and :class:`Baseline` is the file (YAML, sorted, one property per line) that keeps
one snapshot per test.

What is kept is chosen so that two runs of a correct app never differ (README, "Baselines"):

- Values are dropped: uuids, timestamps, distinct ids, session ids, URLs never reach a
  snapshot. Only keys and JSON types are kept, and ``integer`` is written ``number`` (JavaScript
  sends ``59.0`` as ``59``: the type would follow the value).
- Events: the app's own, and PostHog's ``$pageview``, ``$screen``, ``$identify``,
  ``$create_alias`` and ``$merge_dangerously``, are counted. PostHog's other events are kept by
  presence only (``count: present``): how many an SDK sends depends on what it reported before
  (``$feature_flag_called``, ``$set``...). Those whose arrival within the test depends on timing
  are left out (:data:`UNTIMED`): ``$pageleave`` and ``$web_vitals`` are sent as a page goes
  and may land after the test, an ``$autocapture`` of a click that leaves the page is lost
  when the navigation wins, a long-lived server client reports ``$feature_flag_called`` once
  per user and flag for the whole run.
- Properties: the union over the test's events of one name and side. The app's own (no
  ``$``), less what the SDKs add to every event (``distinct_id``, ``token``; ``title`` in
  ``$pageview``, ``alias`` in ``$create_alias``); the person properties the event sets
  (``$set.email``, ``$set_once.plan``: their own ``$`` keys and posthog-js's campaign
  parameters left out); and the few PostHog properties the app decides (:data:`KEPT`): on a
  server event ``$session_id``, ``$current_url``, ``$groups``, ``$process_person_profile``,
  ``$anon_distinct_id`` and ``$feature/<flag>`` are there only when the app's code (or its
  SDK's request context) puts them, while posthog-js puts all but ``$groups`` on every browser
  event by itself (and ``$feature/<flag>`` only once ``/flags`` answered). Every other ``$``
  property is the SDK's (``$referrer``, ``$sdk_debug_*``, ``$lib_custom_api_host``...) and left
  out.
- Persons are counted without the events left out.

One race stays, and is the test's to close: posthog-js loses an event captured just before a
navigation (the navigation ends the page while its batch is still on its way out).
A lower client count says so, and the fix: ``wait_for`` the event before navigating.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.strict_yaml import YamlError, read_yaml
from pytest_hybrid_analytics._model.events import CapturedEvent
from pytest_hybrid_analytics._model.persons import Identity
from pytest_hybrid_analytics._model.text import plural

__all__ = [
    "COUNTED",
    "KEPT",
    "UNTIMED",
    "Baseline",
    "BaselineError",
    "EventShape",
    "Snapshot",
    "compare",
    "describe_update",
    "kept_properties",
    "rule",
    "snapshot_from_data",
    "snapshot_to_data",
    "stale_entries",
    "take_snapshot",
]

#: How an event is compared: by its count, by its presence only, or not at all (left out).
Rule = Literal["count", "presence", "untimed"]

#: PostHog's own events that are counted like the app's: one per page, screen, identify call.
COUNTED = frozenset({"$pageview", "$screen", "$identify", "$create_alias", "$merge_dangerously"})
#: Events left out of every snapshot, by side: whether they land during the test at all
#: depends on timing (sent as the page goes, after a delay, or once per long-lived client).
UNTIMED: Mapping[str, frozenset[str]] = {
    "client": frozenset(
        {
            "$pageleave",
            "$web_vitals",
            "$autocapture",
            "$rageclick",
            "$dead_click",
            "$snapshot",
            "$heatmap",
            "$$heatmap",
        }
    ),
    "server": frozenset({"$feature_flag_called"}),
}
#: The PostHog properties kept beside the app's own, by side: what the app's code decides. On
#: a server event they are there only when the app (or its SDK's request context) puts them;
#: posthog-js puts ``$current_url``, ``$session_id``... on every event by itself, but
#: ``$groups`` only after the app's ``posthog.group()``.
KEPT: Mapping[str, frozenset[str]] = {
    "client": frozenset({"$groups"}),
    "server": frozenset(
        {"$current_url", "$session_id", "$groups", "$process_person_profile", "$anon_distinct_id"}
    ),
}
#: Properties the SDKs put on events without a ``$``, never the app's.
_SDK_PROPERTIES = frozenset({"distinct_id", "token"})
_SDK_EVENT_PROPERTIES: Mapping[str, frozenset[str]] = {
    "$pageview": frozenset({"title"}),
    "$create_alias": frozenset({"alias"}),
    "$feature_flag_called": frozenset({"locally_evaluated"}),
}
#: The campaign parameters posthog-js sets once on every person (``$set_once``).
_CAMPAIGN_PARAMETERS = frozenset(
    {
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "gad_source",
        "mc_cid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "fbclid",
        "msclkid",
        "twclid",
        "li_fat_id",
        "igshid",
        "ttclid",
        "rdt_cid",
        "epik",
        "qclid",
        "sccid",
        "irclid",
        "_kx",
        "bfcid",
        "oppref",
    }
)
_TYPES = ("array", "boolean", "null", "number", "object", "string")
_SIDES = ("client", "server")
#: The file's format version.
VERSION = 1
_HEADER = """\
# Analytics baseline (pytest-hybrid-analytics): per test, the events it sent (name, side,
# count), their properties' keys and JSON types, and the persons PostHog would count. Never a
# value. Rewritten by --analytics-baseline-update (README, "Baselines"); review it like code.
"""


def rule(name: str, source: str) -> Rule:
    """How an event of ``name`` sent by ``source`` is compared.

    >>> rule("purchase_completed", "server"), rule("$set", "server"), rule("$pageleave", "client")
    ('count', 'presence', 'untimed')
    """
    if name in UNTIMED.get(source, ()):
        return "untimed"
    if name.startswith("$") and name not in COUNTED:
        return "presence"
    return "count"


def _json_type(value: Any) -> str:
    """The JSON type of a value, ``number`` for integers too."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def kept_properties(event: CapturedEvent) -> dict[str, str]:
    """The properties of ``event`` a snapshot keeps, with their JSON types.

    >>> kept_properties(analytics.find("purchase_completed", source="server")[0])
    {'$session_id': 'string', 'amount': 'number', 'currency': 'string'}
    >>> kept_properties(analytics.find("$identify")[0])  # posthog-js's own $ keys left out
    {'$set.email': 'string'}
    """
    name = event.event
    sdk = _SDK_PROPERTIES | _SDK_EVENT_PROPERTIES.get(name, frozenset())
    kept: dict[str, str] = {}
    for key, value in event.properties.items():
        if key.startswith("$"):
            if key in KEPT[event.source] or (
                key.startswith("$feature/") and event.source == "server"
            ):
                kept[key] = _json_type(value)
        elif key not in sdk:
            kept[key] = _json_type(value)
    for operation, values in (("$set", event.set), ("$set_once", event.set_once)):
        for key, value in values.items():
            if not key.startswith("$") and key not in _CAMPAIGN_PARAMETERS:
                kept[f"{operation}.{key}"] = _json_type(value)
    return kept


@dataclass(frozen=True)
class EventShape:
    """One event name and side in a snapshot."""

    #: How many were sent; ``None`` when only its presence is compared.
    count: int | None
    #: Each property key kept, with its JSON types (``"string"``, ``"null or string"``).
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """The shape of what one test sent, with no value in it.

    >>> snapshot = take_snapshot(analytics.events)
    >>> snapshot.events[("purchase_completed", "server")].properties["currency"]
    'string'
    >>> snapshot.persons, dict(snapshot.merges)
    (1, {'$identify (client)': 1})
    """

    #: Per ``(name, side)``, its shape.
    events: Mapping[tuple[str, str], EventShape] = field(default_factory=dict)
    #: How many persons PostHog would count.
    persons: int = 0
    #: The merges that went through, per ``"event (side)"``: how many.
    merges: Mapping[str, int] = field(default_factory=dict)
    #: The merges PostHog would refuse, per ``"event (side): warning"``: how many.
    refused: Mapping[str, int] = field(default_factory=dict)


def take_snapshot(events: Iterable[CapturedEvent]) -> Snapshot:
    """The snapshot of a test's events (in the order they arrived)."""
    counted = [e for e in events if rule(e.event, e.source) != "untimed"]
    counts: Counter[tuple[str, str]] = Counter()
    types: dict[tuple[str, str], dict[str, set[str]]] = {}
    for event in counted:
        key = (event.event, event.source)
        counts[key] += 1
        found = types.setdefault(key, {})
        for name, kind in kept_properties(event).items():
            found.setdefault(name, set()).add(kind)
    shapes = {
        key: EventShape(
            None if rule(*key) == "presence" else counts[key],
            {name: " or ".join(sorted(kinds)) for name, kinds in sorted(types[key].items())},
        )
        for key in sorted(counts)
    }
    identity = Identity(counted)
    merges = Counter(f"{m.event.event} ({m.event.source})" for m in identity.merges)
    refused = Counter(f"{m.event.event} ({m.event.source}): {m.refused}" for m in identity.refused)
    return Snapshot(
        shapes, len(identity.persons()), dict(sorted(merges.items())), dict(sorted(refused.items()))
    )


# -- comparing -------------------------------------------------------------------------------


def _finding(code: str, message: str, path: str | None = None) -> Finding:
    return Finding("baseline", code, message, path=path)


def _times(count: int | None) -> str:
    if count is None:
        return "sent"
    return "sent once" if count == 1 else f"sent {count} times"


#: Fewer client events with no change in the app: posthog-js lost one (README, "Baselines").
_LOST = (
    "; if the app did not change, posthog-js lost one to a navigation right after it was "
    "captured: wait_for it before navigating"
)
_BY = {("client",): "the client", ("server",): "the server", _SIDES: "both sides"}
_WAS = {("client",): "client", ("server",): "server", _SIDES: "both"}


def compare(stored: Snapshot, actual: Snapshot) -> list[Finding]:
    """What changed from ``stored`` to ``actual``, each a finding of kind ``"baseline"``, in
    the order of the event names, then the persons.

    >>> [str(f) for f in compare(stored, take_snapshot(analytics.events))]
    ['[property-gone] purchase_completed (server): property `currency` gone (was string)']
    """
    found: list[Finding] = []
    names = sorted({name for name, _ in stored.events} | {name for name, _ in actual.events})
    for name in names:
        before = tuple(s for s in _SIDES if (name, s) in stored.events)
        after = tuple(s for s in _SIDES if (name, s) in actual.events)
        if before and after and before != after:
            found.append(
                _finding("moved", f"`{name}` now sent by {_BY[after]} (was {_WAS[before]})", name)
            )
            if len(before) == len(after) == 1:
                found += _shape(
                    name,
                    after[0],
                    stored.events[name, before[0]],
                    actual.events[name, after[0]],
                )
                continue
            before = after = tuple(s for s in before if s in after)
        for side in _SIDES:
            old, new = stored.events.get((name, side)), actual.events.get((name, side))
            if old is not None and new is not None:
                found += _shape(name, side, old, new)
            elif old is not None and side in before:
                gone = "" if old.count is None else f" (was {_times(old.count)})"
                lost = _LOST if side == "client" and old.count is not None else ""
                message = f"event `{name}` ({side}) gone{gone}{lost}"
                found.append(_finding("event-gone", message, name))
            elif new is not None and side in after:
                again = f", {_times(new.count)}" if new.count is not None and new.count > 1 else ""
                found.append(_finding("new-event", f"new event `{name}` ({side}){again}", name))
    return found + _persons(stored, actual)


def _shape(name: str, side: str, old: EventShape, new: EventShape) -> list[Finding]:
    found = []
    label = f"{name} ({side})"
    if old.count is not None and new.count is not None and old.count != new.count:
        lost = _LOST if side == "client" and new.count < old.count else ""
        found.append(_finding("count", f"{label}: {old.count} → {new.count}{lost}", name))
    for key in sorted(set(old.properties) | set(new.properties)):
        was, now = old.properties.get(key), new.properties.get(key)
        if was == now:
            continue
        path = f"{name}.{key}"
        if now is None:
            message = f"{label}: property `{key}` gone (was {was})"
            found.append(_finding("property-gone", message, path))
        elif was is None:
            found.append(_finding("new-property", f"{label}: new property `{key}` ({now})", path))
        else:
            message = f"{label}: property `{key}` is now {now} (was {was})"
            found.append(_finding("property-type", message, path))
    return found


def _persons(stored: Snapshot, actual: Snapshot) -> list[Finding]:
    found = []
    if stored.persons != actual.persons:
        found.append(_finding("persons", f"persons: {stored.persons} → {actual.persons}"))
    for what, old, new in (
        ("merges by", stored.merges, actual.merges),
        ("merges refused,", stored.refused, actual.refused),
    ):
        for key in sorted(set(old) | set(new)):
            if old.get(key, 0) != new.get(key, 0):
                message = f"persons: {what} {key}: {old.get(key, 0)} → {new.get(key, 0)}"
                found.append(_finding("persons", message))
    return found


# -- the file --------------------------------------------------------------------------------


class BaselineError(ValueError):
    """A baseline file that cannot be used, with the file and the problem."""


def _read_yaml(text: str) -> Any:
    """Parsed YAML (a key given twice refused); raises :class:`BaselineError`."""
    try:
        return read_yaml(text)
    except YamlError as exc:
        raise BaselineError(str(exc)) from None


def _write_yaml(data: Any) -> str:
    """YAML in the file's style: block style, keys in the order given, lists indented under
    their key, no line folded."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    return yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


def snapshot_to_data(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as plain data (one test's entry in the file, less its ``test`` key)."""
    events: dict[str, dict[str, Any]] = {}
    for (name, side), shape in sorted(snapshot.events.items()):
        entry: dict[str, Any] = {"count": "present" if shape.count is None else shape.count}
        if shape.properties:
            entry["properties"] = dict(sorted(shape.properties.items()))
        events.setdefault(name, {})[side] = entry
    data: dict[str, Any] = {"events": events, "persons": snapshot.persons}
    if snapshot.merges:
        data["merges"] = dict(sorted(snapshot.merges.items()))
    if snapshot.refused:
        data["refused"] = dict(sorted(snapshot.refused.items()))
    return data


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BaselineError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BaselineError(f"{where}: expected a count (0 or more), got {value!r}")
    return value


def _types(value: Any, where: str) -> str:
    parts = value.split(" or ") if isinstance(value, str) else []
    if not parts or any(part not in _TYPES for part in parts):
        raise BaselineError(
            f"{where}: expected JSON types ({', '.join(_TYPES)}, joined by ' or '), got {value!r}"
        )
    return " or ".join(sorted(set(parts)))


def snapshot_from_data(data: Any, where: str = "snapshot") -> Snapshot:
    """The snapshot :func:`snapshot_to_data` wrote; raises :class:`BaselineError` naming
    ``where`` and the problem."""
    data = _mapping(data, where)
    unknown = sorted(map(str, set(data) - {"test", "persons", "merges", "refused", "events"}))
    if unknown:
        raise BaselineError(f"{where}: unknown key {unknown[0]!r}")
    events: dict[tuple[str, str], EventShape] = {}
    for name, sides in _mapping(data.get("events"), f"{where}: events").items():
        for side, entry in _mapping(sides, f"{where}: events.{name}").items():
            at = f"{where}: events.{name}.{side}"
            if side not in _SIDES:
                raise BaselineError(f"{at}: the side must be client or server")
            entry = _mapping(entry, at)
            if set(entry) - {"count", "properties"} or "count" not in entry:
                raise BaselineError(f"{at}: expected count and properties")
            count = entry["count"]
            shape_count = None if count == "present" else _count(count, f"{at}.count")
            properties = {
                str(key): _types(kind, f"{at}.properties.{key}")
                for key, kind in _mapping(entry.get("properties"), f"{at}.properties").items()
            }
            events[str(name), str(side)] = EventShape(shape_count, properties)
    return Snapshot(
        events,
        _count(data.get("persons", 0), f"{where}: persons"),
        {
            str(k): _count(v, f"{where}: merges.{k}")
            for k, v in _mapping(data.get("merges"), f"{where}: merges").items()
        },
        {
            str(k): _count(v, f"{where}: refused.{k}")
            for k, v in _mapping(data.get("refused"), f"{where}: refused").items()
        },
    )


@dataclass(frozen=True)
class Baseline:
    """The baseline file: one snapshot per test id.

    >>> baseline = Baseline.load("analytics-baseline.yaml")  # an empty one if missing
    >>> baseline.tests["tests/test_shop.py::test_checkout"].persons
    1
    >>> baseline.merged({"tests/test_shop.py::test_new": snapshot}).save(path)
    """

    tests: Mapping[str, Snapshot] = field(default_factory=dict)
    #: Whether it was read from a file that exists.
    exists: bool = False

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a baseline; a missing file is an empty baseline. Raises
        :class:`BaselineError` naming the file and the problem."""
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise BaselineError(f"baseline {origin}: cannot be read ({exc.strerror})") from None
        try:
            return cls.loads(text, origin=origin)
        except BaselineError as error:
            raise BaselineError(f"baseline {origin}: {error}") from None

    @classmethod
    def loads(cls, text: str, *, origin: str = "<text>") -> Baseline:
        """Read a baseline from its text; raises :class:`BaselineError`."""
        data = _read_yaml(text)
        if data is None:
            return cls(exists=True)
        data = _mapping(data, "top level")
        if data.get("version") != VERSION:
            raise BaselineError(
                f"version {data.get('version')!r} is not one this plugin reads (expected {VERSION})"
            )
        unknown = sorted(map(str, set(data) - {"version", "tests"}))
        if unknown:
            raise BaselineError(f"unknown key {unknown[0]!r} at the top level")
        entries = data.get("tests")
        entries = [] if entries is None else entries
        if not isinstance(entries, list):
            raise BaselineError("tests: expected a list of entries")
        tests: dict[str, Snapshot] = {}
        for n, entry in enumerate(entries):
            test = entry.get("test") if isinstance(entry, Mapping) else None
            if not isinstance(test, str) or not test:
                raise BaselineError(f"tests[{n}]: expected a 'test' (the test's id)")
            if test in tests:
                raise BaselineError(f"tests[{n}]: {test} is given twice")
            tests[test] = snapshot_from_data(entry, f"tests[{n}] ({test})")
        return cls(tests, exists=True)

    def dumps(self) -> str:
        """The file's text: a header, then the tests sorted by id, each entry's keys in a
        fixed order and everything within sorted, one property per line."""
        entries = [
            {"test": test, **snapshot_to_data(self.tests[test])} for test in sorted(self.tests)
        ]
        return _HEADER + _write_yaml({"version": VERSION, "tests": entries})

    def save(self, path: str | Path) -> bool:
        """Write the file (its folder made if missing) unless it already says the same;
        whether it was written."""
        target = Path(path)
        text = self.dumps()
        try:
            if target.read_text(encoding="utf-8") == text:
                return False
        except OSError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        return True

    def merged(self, recorded: Mapping[str, Snapshot], removed: Iterable[str] = ()) -> Baseline:
        """This baseline with ``recorded`` tests replaced or added and ``removed`` left out."""
        gone = set(removed)
        tests = {test: s for test, s in self.tests.items() if test not in gone}
        tests.update(recorded)
        return Baseline(tests, exists=self.exists)


def stale_entries(
    entries: Iterable[str],
    *,
    tests: Iterable[str],
    files: Iterable[str],
    exists: Any,
) -> list[str]:
    """The entries whose test no longer exists: its file was collected in full and the test
    is not among ``tests``, or its file is gone (``exists(file)`` is false). An entry whose file
    was not collected (not named on the command line, narrowed to some tests with ``::``, or
    failed to import) is kept: nothing is known about it.

    >>> stale_entries(["a.py::t1", "a.py::t2", "b.py::t"], tests=["a.py::t1"], files=["a.py"],
    ...               exists=lambda f: True)
    ['a.py::t2']
    """
    known, collected = set(tests), set(files)
    stale = []
    for entry in sorted(entries):
        file = entry.split("::", 1)[0]
        if (file in collected and entry not in known) or not exists(file):
            stale.append(entry)
    return stale


def describe_update(
    before: Baseline, recorded: Mapping[str, Snapshot], removed: Sequence[str]
) -> str:
    """What an update does, in a sentence: ``3 tests recorded (1 new, 1 changed), 1 entry
    removed``."""
    new = sum(test not in before.tests for test in recorded)
    changed = sum(test in before.tests and before.tests[test] != s for test, s in recorded.items())
    parts = [f"{plural(len(recorded), 'test')} recorded ({new} new, {changed} changed)"]
    if removed:
        parts.append(f"{plural(len(removed), 'entry', 'entries')} removed")
    return ", ".join(parts)
