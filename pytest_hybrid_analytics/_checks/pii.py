"""The PII guard: client-side events must not carry card numbers, passwords, secrets or tokens.

The guide's "Don't send sensitive data (passwords, credit cards) client-side": whatever a
browser sends is visible in its network tab. The guard walks every property of every event of
the sides it watches (the client by default), nested objects and lists included, and checks
property names (``password``, ``api_key``, ``session_token``...) and values (Luhn-valid card
numbers, PostHog personal and secret keys, JSON Web Tokens, bearer tokens, well-known secret key
shapes, secrets in a URL's query string). Each :class:`~pytest_hybrid_analytics.Finding`
names the event, the property path and why, and shows the value masked.

What counts as sensitive, and how it is masked: :mod:`pytest_hybrid_analytics._checks.redaction`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._checks.redaction import (
    MASK,
    mask_secrets,
    secrets_in,
    sensitive_property,
    walk,
)
from pytest_hybrid_analytics._model.events import CapturedEvent, Source
from pytest_hybrid_analytics._model.text import format_value

__all__ = ["PiiGuard"]

_SIDES = ("client", "server")
_CLIENT_ONLY: tuple[Source, ...] = ("client",)


def _event_trees(event: CapturedEvent) -> Iterator[tuple[str, Any]]:
    """The properties, and the person properties the SDK put outside them (a top-level
    ``$set``, alone or beside one in the properties: ``event.set`` merges both)."""
    yield "", event.properties
    for key, tree in (("$set", event.set), ("$set_once", event.set_once)):
        inside = event.properties.get(key)
        if isinstance(inside, Mapping):
            tree = {name: value for name, value in tree.items() if inside.get(name) != value}
        elif key in event.properties:
            continue
        if tree:
            yield key, tree


@dataclass(frozen=True, kw_only=True)
class PiiGuard:
    """Which events to check and what else counts as sensitive.

    ``sides`` are the sources checked (the client by default; empty turns the guard off).
    ``patterns`` maps a finding code to a regular expression checked on values and property
    names; ``names`` adds words that make a property name sensitive (``"ssn"``, ``"iban"``).
    ``allow`` lists property paths or names (shell patterns: ``"debug.*"``) never reported.

    >>> guard = PiiGuard(patterns={"iban": r"\\bDE\\d{20}\\b"}, allow=["reset_token"])
    >>> for finding in guard.check(analytics.events):
    ...     print(finding)
    [card-number] 'checkout_submitted' (client) property 'card': a card number (Visa, 16 digits,
    Luhn-valid): '************4242'
    """

    sides: Collection[Source] = _CLIENT_ONLY
    patterns: Mapping[str, str] = field(default_factory=dict)
    names: Collection[str] = ()
    allow: Collection[str] = ()
    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bad = [side for side in self.sides if side not in _SIDES]
        if isinstance(self.sides, str) or bad:
            raise ValueError(
                f"PiiGuard sides must be a collection of 'client' and 'server', got {self.sides!r}"
            )
        compiled = []
        for code, pattern in self.patterns.items():
            try:
                compiled.append((code, re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"PII pattern {code!r} is not a valid regex: {exc}") from None
        object.__setattr__(self, "_compiled", tuple(compiled))

    def check(self, events: Iterable[CapturedEvent]) -> list[Finding]:
        """Every finding in ``events`` from the watched sides, in event order.

        >>> [f.code for f in PiiGuard().check(analytics)]
        ['card-number', 'password']
        """
        findings: list[Finding] = []
        for event in events:
            if event.source in self.sides:
                findings.extend(self.check_event(event))
        return findings

    def check_event(self, event: CapturedEvent) -> list[Finding]:
        """The findings in one event, whatever its side.

        >>> PiiGuard().check_event(analytics.find("login_failed")[0])[0].path
        'form.password'
        """
        found: dict[tuple[str, str], Finding] = {}
        for root, tree in _event_trees(event):
            masked_below: list[str] = []
            for path, name, value in walk(tree, root):
                if self._allowed(path, name) or any(path.startswith(m) for m in masked_below):
                    continue
                for code, why, shown in self._inspect(name, value):
                    if (path, code) not in found:
                        found[(path, code)] = _finding(event, path, code, why, shown)
                    if isinstance(value, Mapping | list | tuple):
                        masked_below.append(path)
        return list(found.values())

    def _allowed(self, path: str, name: str | None) -> bool:
        return any(
            fnmatchcase(path, rule) or (name is not None and fnmatchcase(name, rule))
            for rule in self.allow
        )

    def _inspect(self, name: str | None, value: Any) -> Iterator[tuple[str, str, str]]:
        """``(code, why, masked value)`` for each problem with one property."""
        if name is not None:
            kind = sensitive_property(name, value, extra=self.names)
            if kind is not None:
                yield kind[0], kind[1], MASK
            yield from self._in_text(name, where="its name")
        if isinstance(value, str):
            yield from self._in_text(value, where="")
        elif isinstance(value, int) and not isinstance(value, bool):
            yield from self._in_text(str(value), where="")

    def _in_text(self, text: str, *, where: str) -> Iterator[tuple[str, str, str]]:
        prefix = f"{where} holds " if where else ""
        found = secrets_in(text)
        if found:
            shown = format_value(mask_secrets(text), 60)
            for code, why in found:
                yield code, prefix + why, shown
        yield from self._configured(text, prefix)

    def _configured(self, text: str, prefix: str) -> Iterator[tuple[str, str, str]]:
        for code, pattern in self._compiled:
            if pattern.search(text):
                yield (
                    code,
                    f"{prefix}a match for the configured pattern {code!r}",
                    format_value(pattern.sub(MASK, mask_secrets(text)), 60),
                )


def _finding(event: CapturedEvent, path: str, code: str, why: str, shown: str) -> Finding:
    return Finding(
        "pii",
        code,
        f"{event.event!r} ({event.source}) property {mask_secrets(path)!r}: {why}: {shown}",
        event=event,
        path=path,
    )
