"""The flag book: one truth for feature flags, answered in the shape each SDK version expects.

posthog-js and posthog-node ask ``/flags/?v=2`` (records with ``enabled``/``variant``), the
Python SDK asks ``/flags/?v=4`` (typed ``value``), old SDKs ``/decide/`` (``featureFlags``), and
clients with a secret key load definitions for local evaluation. All answer from here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["FlagBook"]

_REASON = {
    "code": "condition_match",
    "condition_index": 0,
    "description": "Set by the test (analytics.flags)",
}


@dataclass(frozen=True, slots=True)
class _Flag:
    key: str
    value: bool | str
    payload: Any
    id: int
    #: Values for single persons (``set(..., distinct_id=)``), by distinct id.
    only: tuple[tuple[str, bool | str], ...] = ()

    def for_id(self, distinct_id: str | None) -> bool | str:
        """The value ``distinct_id`` gets."""
        if distinct_id is not None:
            for who, value in self.only:
                if who == distinct_id:
                    return value
        return self.value

    def resolved(self, distinct_id: str | None) -> _Flag:
        """This flag as ``distinct_id`` sees it."""
        value = self.for_id(distinct_id)
        return self if value == self.value else _Flag(self.key, value, self.payload, self.id)


class FlagBook:
    """Feature flags as a test sets them; a flag never set answers "off".

    >>> analytics.flags.set("new-checkout")                       # a boolean flag, on
    >>> analytics.flags.set("pricing", "variant-b", payload={"discount": 10})
    >>> analytics.flags.value("pricing"), analytics.flags.value("never-set")
    ('variant-b', False)
    >>> analytics.flags.set("new-checkout", "test", distinct_id="user-2")   # a split
    >>> analytics.flags.value("new-checkout", "user-2"), analytics.flags.value("new-checkout")
    ('test', True)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, _Flag] = {}

    def set(
        self,
        key: str,
        value: bool | str = True,
        *,
        payload: Any = None,
        distinct_id: str | None = None,
    ) -> None:
        """Set flag ``key``: ``True``/``False``, or a variant name; ``payload`` is any JSON
        value, returned by ``getFeatureFlagPayload`` / ``get_feature_flag_payload``.

        With ``distinct_id``, only that id gets ``value`` (a rollout, to test both sides
        against a split); everyone else keeps the value set without it (``False`` if none).
        Remote evaluation (``/flags``) answers per id; local evaluation gets definitions with a
        condition on the person's ``distinct_id``, which posthog-node and posthog-python (7.91)
        evaluate in process (an SDK that does not know the ``distinct_id`` as a property finds
        the condition inconclusive, and asks ``/flags``).
        """
        if not isinstance(key, str) or not key:
            raise TypeError(f"a flag key is a non-empty string, got {key!r}")
        if not isinstance(value, bool | str) or value == "":
            raise TypeError(f"a flag value is True, False or a variant name, got {value!r}")
        if distinct_id is not None and (not isinstance(distinct_id, str) or not distinct_id):
            raise TypeError(f"distinct_id is a non-empty string, got {distinct_id!r}")
        json.dumps(payload)  # a payload must travel as JSON; fail here, not in the SDK
        with self._lock:
            known = self._flags.get(key)
            number = known.id if known else len(self._flags) + 1
            values = [value, *(v for who, v in (known.only if known else ()) if who != distinct_id)]
            values.append(known.value if known and distinct_id is not None else False)
            if True in values and any(isinstance(v, str) for v in values):
                raise TypeError(
                    f"flag {key!r} would be both a boolean flag (True) and a multivariate one "
                    f"({sorted({v for v in values if isinstance(v, str)})}): PostHog's flags are "
                    "one or the other (use False for 'off' in a multivariate flag)"
                )
            if distinct_id is None:
                only = known.only if known else ()
                kept = payload if payload is not None or known is None else known.payload
                self._flags[key] = _Flag(key, value, kept, number, only)
            else:
                others = tuple(o for o in (known.only if known else ()) if o[0] != distinct_id)
                default = known.value if known else False
                kept = payload if payload is not None or known is None else known.payload
                self._flags[key] = _Flag(
                    key, default, kept, number, (*others, (distinct_id, value))
                )

    def unset(self, key: str) -> None:
        """Forget ``key`` (it answers "off" again)."""
        with self._lock:
            self._flags.pop(key, None)

    def clear(self) -> None:
        """Forget every flag."""
        with self._lock:
            self._flags.clear()

    def value(self, key: str, distinct_id: str | None = None) -> bool | str:
        """What ``key`` answers (for ``distinct_id``, when given): its variant, ``True``, or
        ``False`` (also when never set)."""
        with self._lock:
            flag = self._flags.get(key)
        return flag.for_id(distinct_id) if flag else False

    def payload(self, key: str, distinct_id: str | None = None) -> Any:
        """The payload of ``key``, or ``None``."""
        with self._lock:
            flag = self._flags.get(key)
        return flag.payload if flag and flag.for_id(distinct_id) is not False else None

    def as_dict(self, distinct_id: str | None = None) -> dict[str, bool | str]:
        """Every flag that was set, with its value (for ``distinct_id``, when given)."""
        with self._lock:
            return {key: flag.for_id(distinct_id) for key, flag in self._flags.items()}

    def answers(
        self, asked: list[str] | None = None, distinct_id: str | None = None
    ) -> dict[str, bool | str]:
        """What a ``/flags`` request answers, flag by flag: every flag set, and the ``asked``
        ones never set as ``False``, for ``distinct_id``."""
        return {flag.key: flag.value for flag in self._snapshot(asked, distinct_id)}

    def _snapshot(self, asked: list[str] | None, distinct_id: str | None = None) -> list[_Flag]:
        with self._lock:
            flags = {key: flag.resolved(distinct_id) for key, flag in self._flags.items()}
        for key in asked or ():
            if isinstance(key, str) and key and key not in flags:
                flags[key] = _Flag(key, False, None, 0)
        return list(flags.values())

    @staticmethod
    def _payload_text(flag: _Flag) -> str | None:
        if flag.payload is None or flag.value is False:
            return None
        return json.dumps(flag.payload)

    def flags_response(
        self, version: int = 2, asked: list[str] | None = None, distinct_id: str | None = None
    ) -> dict[str, Any]:
        """The ``/flags`` answer for API ``version`` (2 for posthog-js/node, 4 for Python),
        for ``distinct_id``.

        ``asked`` are the keys the SDK named (``flag_keys_to_evaluate``); the ones never set
        answer ``False`` explicitly.
        """
        records: dict[str, Any] = {}
        for flag in self._snapshot(asked, distinct_id):
            metadata = {
                "id": flag.id,
                "version": 1,
                "payload": self._payload_text(flag),
                "description": None,
            }
            if version >= 4:
                records[flag.key] = {
                    "key": flag.key,
                    "value": flag.value,
                    "failed": False,
                    "reason": _REASON,
                    "metadata": metadata,
                }
            else:
                records[flag.key] = {
                    "key": flag.key,
                    "enabled": flag.value is not False,
                    "variant": flag.value if isinstance(flag.value, str) else None,
                    "reason": _REASON,
                    "metadata": metadata,
                }
        return {
            "flags": records,
            "errorsWhileComputingFlags": False,
            "requestId": "00000000-0000-4000-8000-000000000000",
            "quotaLimited": [],
        }

    def legacy_response(
        self, asked: list[str] | None = None, distinct_id: str | None = None
    ) -> dict[str, Any]:
        """The ``/decide/`` answer of old SDKs: ``featureFlags`` and ``featureFlagPayloads``."""
        flags = self._snapshot(asked, distinct_id)
        return {
            "featureFlags": {f.key: f.value for f in flags},
            "featureFlagPayloads": {
                f.key: self._payload_text(f) for f in flags if self._payload_text(f) is not None
            },
            "errorsWhileComputingFlags": False,
        }

    def definitions(self) -> dict[str, Any]:
        """Local-evaluation definitions (``/flags/definitions``) that evaluate to the set values.

        A flag with values for single persons gets one condition per such id (its
        ``distinct_id`` as a person property) before one for everyone else; the SDK that does
        not know the ``distinct_id`` property cannot match them, and asks ``/flags``."""
        out = []
        for flag in self._snapshot(None):
            values = [flag.value, *(value for _, value in flag.only)]
            variants = list(dict.fromkeys(v for v in values if isinstance(v, str)))
            groups = [_condition(value, [_is_id("exact", [who])]) for who, value in flag.only]
            everyone = [_is_id("is_not", [who for who, _ in flag.only])] if flag.only else []
            groups.append(_condition(flag.value, everyone))
            filters: dict[str, Any] = {"groups": groups, "payloads": {}}
            if variants:
                share = 100 // len(variants)
                filters["multivariate"] = {
                    "variants": [
                        {"key": v, "rollout_percentage": share + (100 - share * len(variants))}
                        if n == 0
                        else {"key": v, "rollout_percentage": share}
                        for n, v in enumerate(variants)
                    ]
                }
            text = self._payload_text(flag)
            if text is not None:
                for value in values:
                    if value is not False:
                        filters["payloads"][value if isinstance(value, str) else "true"] = text
            out.append(
                {
                    "id": flag.id,
                    "key": flag.key,
                    "name": flag.key,
                    "active": any(v is not False for v in values),
                    "ensure_experience_continuity": False,
                    "filters": filters,
                }
            )
        return {"flags": out, "group_type_mapping": {}, "cohorts": {}}


def _is_id(operator: str, ids: list[str]) -> dict[str, Any]:
    return {"key": "distinct_id", "type": "person", "operator": operator, "value": ids}


def _condition(value: bool | str, properties: list[dict[str, Any]]) -> dict[str, Any]:
    """One condition set of a definition: everyone it matches gets ``value``."""
    return {
        "properties": properties,
        "rollout_percentage": 0 if value is False else 100,
        "variant": value if isinstance(value, str) else None,
    }
