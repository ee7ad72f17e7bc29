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


class FlagBook:
    """Feature flags as a test sets them; a flag never set answers "off".

    >>> analytics.flags.set("new-checkout")                       # a boolean flag, on
    >>> analytics.flags.set("pricing", "variant-b", payload={"discount": 10})
    >>> analytics.flags.value("pricing"), analytics.flags.value("never-set")
    ('variant-b', False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, _Flag] = {}

    def set(self, key: str, value: bool | str = True, *, payload: Any = None) -> None:
        """Set flag ``key`` for everyone: ``True``/``False``, or a variant name; ``payload`` is
        any JSON value, returned by ``getFeatureFlagPayload`` / ``get_feature_flag_payload``."""
        if not isinstance(key, str) or not key:
            raise TypeError(f"a flag key is a non-empty string, got {key!r}")
        if not isinstance(value, bool | str) or value == "":
            raise TypeError(f"a flag value is True, False or a variant name, got {value!r}")
        json.dumps(payload)  # a payload must travel as JSON; fail here, not in the SDK
        with self._lock:
            known = self._flags.get(key)
            number = known.id if known else len(self._flags) + 1
            self._flags[key] = _Flag(key, value, payload, number)

    def unset(self, key: str) -> None:
        """Forget ``key`` (it answers "off" again)."""
        with self._lock:
            self._flags.pop(key, None)

    def clear(self) -> None:
        """Forget every flag."""
        with self._lock:
            self._flags.clear()

    def value(self, key: str) -> bool | str:
        """What ``key`` answers: its variant, ``True``, or ``False`` (also when never set)."""
        with self._lock:
            flag = self._flags.get(key)
        return flag.value if flag else False

    def payload(self, key: str) -> Any:
        """The payload of ``key``, or ``None``."""
        with self._lock:
            flag = self._flags.get(key)
        return flag.payload if flag and flag.value is not False else None

    def as_dict(self) -> dict[str, bool | str]:
        """Every flag that was set, with its value."""
        with self._lock:
            return {key: flag.value for key, flag in self._flags.items()}

    def _snapshot(self, asked: list[str] | None) -> list[_Flag]:
        with self._lock:
            flags = dict(self._flags)
        for key in asked or ():
            if isinstance(key, str) and key and key not in flags:
                flags[key] = _Flag(key, False, None, 0)
        return list(flags.values())

    @staticmethod
    def _payload_text(flag: _Flag) -> str | None:
        if flag.payload is None or flag.value is False:
            return None
        return json.dumps(flag.payload)

    def flags_response(self, version: int = 2, asked: list[str] | None = None) -> dict[str, Any]:
        """The ``/flags`` answer for API ``version`` (2 for posthog-js/node, 4 for Python).

        ``asked`` are the keys the SDK named (``flag_keys_to_evaluate``); the ones never set
        answer ``False`` explicitly.
        """
        records: dict[str, Any] = {}
        for flag in self._snapshot(asked):
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

    def legacy_response(self, asked: list[str] | None = None) -> dict[str, Any]:
        """The ``/decide/`` answer of old SDKs: ``featureFlags`` and ``featureFlagPayloads``."""
        flags = self._snapshot(asked)
        return {
            "featureFlags": {f.key: f.value for f in flags},
            "featureFlagPayloads": {
                f.key: self._payload_text(f) for f in flags if self._payload_text(f) is not None
            },
            "errorsWhileComputingFlags": False,
        }

    def definitions(self) -> dict[str, Any]:
        """Local-evaluation definitions (``/flags/definitions``) that evaluate to the set values."""
        out = []
        for flag in self._snapshot(None):
            variant = flag.value if isinstance(flag.value, str) else None
            filters: dict[str, Any] = {
                "groups": [{"properties": [], "rollout_percentage": 100, "variant": variant}],
                "payloads": {},
            }
            if variant is not None:
                filters["multivariate"] = {
                    "variants": [{"key": variant, "rollout_percentage": 100}]
                }
            text = self._payload_text(flag)
            if text is not None:
                filters["payloads"][variant or "true"] = text
            out.append(
                {
                    "id": flag.id,
                    "key": flag.key,
                    "name": flag.key,
                    "active": flag.value is not False,
                    "ensure_experience_continuity": False,
                    "filters": filters,
                }
            )
        return {"flags": out, "group_type_mapping": {}, "cohorts": {}}
