"""``FlagCall``: one feature-flag evaluation an SDK asked the fake PostHog API for.

Pure record, no I/O: the fake API writes one per ``/flags``, ``/decide`` or local-evaluation
definitions request (``analytics.flag_calls``), and the flag checks read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pytest_hybrid_analytics._model.events import Source

__all__ = ["FlagCall", "FlagValue"]

#: What a flag answers: ``True``/``False``, or a variant name.
FlagValue = bool | str


@dataclass(frozen=True, slots=True)
class FlagCall:
    """One flag evaluation an SDK asked for, and what it was answered.

    >>> call = analytics.flag_calls[0]
    >>> call.source, call.distinct_id, call.values
    ('client', 'anon-1', {'new-checkout': 'test'})
    """

    #: ``"client"`` (posthog-js in a page) or ``"server"`` (a server SDK).
    source: Source
    #: Who it was evaluated for; ``None`` for local-evaluation definitions (the SDK then
    #: evaluates in its own process: its ``$feature_flag_called`` events say for whom).
    distinct_id: str | None
    #: The flags the SDK named (``flag_keys_to_evaluate``: the app asked for these), or ``None``
    #: when it asked for all of them.
    keys: tuple[str, ...] | None
    #: What each flag answered.
    values: dict[str, FlagValue]
    #: ``"flags"``, ``"decide"`` or ``"definitions"``.
    endpoint: Literal["flags", "decide", "definitions"] = "flags"
    #: The SDK that asked (``"posthog-js"``, ``"posthog-python"``, ``"posthog-node"``...).
    sdk: str = ""
    #: The person properties it sent (``person_properties``).
    person_properties: dict[str, Any] = field(default_factory=dict)
    #: The groups it sent (``groups``: type to key).
    groups: dict[str, Any] = field(default_factory=dict)
    #: The group properties it sent.
    group_properties: dict[str, Any] = field(default_factory=dict)
    #: The road it came by.
    transport: str = ""
    #: When it arrived (UTC).
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def asked_for(self, key: str) -> bool:
        """Whether the app asked for ``key`` by name (a ``get_feature_flag``-style read)."""
        return self.keys is not None and key in self.keys
