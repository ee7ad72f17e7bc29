"""The PII guard: client-side events must not carry card numbers, passwords, secrets or tokens.

The guide's "Don't send sensitive data (passwords, credit cards) client-side": whatever a
browser sends is visible in its network tab. The guard walks every property of every event of
the sides it watches (the client by default), nested objects and lists included, and checks
property names (``password``, ``api_key``, ``session_token``...) and values (Luhn-valid card
numbers, PostHog personal and secret keys, JSON Web Tokens, bearer tokens, well-known secret key
shapes, secrets in a URL's query string). Each :class:`~pytest_hybrid_analytics.Finding`
names the event, the property path and why, and shows the value masked.

:func:`mask_secrets` masks API keys, tokens and card numbers in any text, and :func:`redact` in
any property tree: every report of the plugin goes through them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import Any

from pytest_hybrid_analytics._checks.findings import Finding
from pytest_hybrid_analytics._model.events import CapturedEvent, Source
from pytest_hybrid_analytics._model.text import format_value

__all__ = ["MASK", "PiiGuard", "mask_secrets", "redact"]

#: What a value that must not be shown becomes.
MASK = "********"
_SIDES = ("client", "server")
_CLIENT_ONLY: tuple[Source, ...] = ("client",)
#: Deeper than this, property trees are not walked (a cycle-free JSON never gets there).
_MAX_DEPTH = 32

# -- values ------------------------------------------------------------------------------------

#: 14 to 19 digits, contiguous or in groups of 4 (Amex 4-6-5) split by one space or dash,
#: not inside a longer number, a word, a phone number or a decimal (``_`` separates).
_CARD = re.compile(
    r"(?<![A-Za-z0-9+])(?<!\d[.,-])"
    r"(?:\d{14,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{2,7}|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?![A-Za-z0-9]|[.,-]\d)"
)
_POSTHOG_KEY = re.compile(r"\b(ph[cxs])_([A-Za-z0-9_]+)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b(Bearer|Basic)(\s+)([A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
_KNOWN_SECRETS = re.compile(
    r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})\b"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*-----|$)")
_SECRET_NAME = (
    r"(?:[A-Za-z0-9]+[_-])*(?:password|passwd|pwd|secret|api[_-]?key|token|authorization)"
)
#: A sensitive name and its value: quoted both (JSON, a repr) or bare both (a query string, a
#: header). Project keys, bearer tokens and values already masked are left to other rules.
_NAMED_VALUE = re.compile(
    rf"""(?P<quoted>(?P<q>["']){_SECRET_NAME}(?P=q)\s*:\s*(?P<v>["']))"""
    r"""(?!ph[cxs]_|bearer\s|basic\s|\*)(?:\\.|(?!(?P=v)).)+"""
    rf"""|(?P<bare>(?<![\w$'"]){_SECRET_NAME}\s*[:=]\s*)"""
    r"""(?!ph[cxs]_|bearer\s|basic\s|\*|["'])[^"'\s,&;}\]#]+""",
    re.IGNORECASE,
)
_QUERY_SECRET = re.compile(
    r"[?&#](?P<name>password|passwd|pwd|token|access_token|refresh_token|id_token|auth_token"
    r"|api_key|apikey|secret|client_secret)=[^&#\s]+",
    re.IGNORECASE,
)
#: Something any value check could match: most strings are cleared by this one search.
_MAYBE = re.compile(
    r"\d{4}|ph[xs]_|eyJ|bearer|basic|[sr]k_|gh[pousr]_|AKIA|xox|-----BEGIN|[?&#][\w-]*=",
    re.IGNORECASE,
)
_ALREADY_MASKED = re.compile(r"^[*•xX#.\-\s]*$|^[\[<(]?(redacted|filtered|masked|hidden)[\]>)]?$")
#: Card brands: number prefix, name, lengths.
_BRANDS = (
    ("4", "Visa", (16, 19)),
    ("34", "American Express", (15,)),
    ("37", "American Express", (15,)),
    ("51", "Mastercard", (16,)),
    ("52", "Mastercard", (16,)),
    ("53", "Mastercard", (16,)),
    ("54", "Mastercard", (16,)),
    ("55", "Mastercard", (16,)),
    ("2", "Mastercard", (16,)),
    ("6", "Discover/UnionPay", (16, 17, 18, 19)),
    ("35", "JCB", (16, 17, 18, 19)),
    ("30", "Diners Club", (14, 16)),
    ("36", "Diners Club", (14, 16)),
    ("38", "Diners Club", (14, 16)),
)
_KEY_KINDS = {
    "phc": "a PostHog project API key",
    "phx": "a PostHog personal API key",
    "phs": "a PostHog project secret key",
}


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _brand(digits: str) -> str | None:
    if digits[0] == "2" and not 2221 <= int(digits[:4]) <= 2720:
        return None
    for prefix, name, lengths in reversed(_BRANDS):
        if digits.startswith(prefix):
            return name if len(digits) in lengths else None
    return None


def _card(candidate: str) -> str | None:
    """The brand of a Luhn-valid card number, or ``None`` when ``candidate`` is not one."""
    digits = re.sub(r"[ -]", "", candidate)
    if not 14 <= len(digits) <= 19 or len(set(digits)) == 1 or not _luhn(digits):
        return None
    return _brand(digits)


def _mask_card(text: str) -> str:
    """A card number with every digit but the last 4 masked (anything else: unchanged)."""
    if _card(text) is None:
        return text
    seen = sum(c.isdigit() for c in text)
    out, digit = [], 0
    for char in text:
        if char.isdigit():
            digit += 1
            out.append(char if digit > seen - 4 else "*")
        else:
            out.append(char)
    return "".join(out)


def _mask_named(match: re.Match[str]) -> str:
    return (match.group("quoted") or match.group("bare")) + MASK


def _mask_key(match: re.Match[str]) -> str:
    prefix, rest = match.group(1), match.group(2)
    return f"{prefix}_…{rest[-4:]}" if len(rest) >= 12 else f"{prefix}_…"


def mask_secrets(text: str) -> str:
    """``text`` with API keys, tokens, secrets and card numbers masked.

    PostHog keys keep their prefix (and their last 4 characters when long enough to tell two
    keys apart), card numbers their last 4 digits; bearer tokens, JSON Web Tokens, known secret
    key shapes and the value after a sensitive name (``password=``, ``"token": ``) are masked
    whole. Masking twice changes nothing.

    >>> mask_secrets("key phc_4f9a7c2e81b3d6a5f0e9, card 4242 4242 4242 4242, password=hunter2")
    'key phc_…f0e9, card **** **** **** 4242, password=********'
    """
    if not text:
        return text
    text = _PRIVATE_KEY.sub(MASK, text)
    text = _JWT.sub("eyJ" + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _KNOWN_SECRETS.sub(lambda m: m.group(0)[:3] + MASK, text)
    text = _NAMED_VALUE.sub(_mask_named, text)
    text = _POSTHOG_KEY.sub(_mask_key, text)
    return _CARD.sub(lambda m: _mask_card(m.group(0)), text)


# -- names -------------------------------------------------------------------------------------

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
#: A name with one of these words describes a secret without holding it (``password_length``).
_DESCRIBES = frozenset(
    {
        "length",
        "len",
        "count",
        "strength",
        "changed",
        "reset",
        "set",
        "updated",
        "expires",
        "expiry",
        "expired",
        "expiration",
        "type",
        "valid",
        "invalid",
        "required",
        "enabled",
        "disabled",
        "present",
        "error",
        "errors",
        "field",
        "policy",
        "score",
        "ttl",
        "at",
        "age",
        "status",
        "state",
        "visible",
        "shown",
        "attempts",
        "min",
        "max",
        "used",
        "usage",
        "limit",
        "remaining",
        "provided",
        "missing",
        "mismatch",
        "rule",
        "rules",
        "hint",
        "hints",
        "format",
        "label",
        "placeholder",
    }
)
_PASSWORD = frozenset({"password", "passwd", "pwd", "passphrase", "passcode"})
_SECURITY_CODE = frozenset({"cvv", "cvc", "cvv2", "cvc2", "csc"})
_TOKEN = frozenset({"token", "jwt", "bearer", "authorization"})


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


def _name_kind(name: str, extra: Collection[str] = ()) -> tuple[str, str] | None:
    """``(code, why)`` when a property called ``name`` holds a secret, else ``None``."""
    if name.startswith("$"):
        return None  # PostHog's own properties ($lib_rate_limit_remaining_tokens...)
    words = _words(name)
    if not words or _DESCRIBES.intersection(words):
        return None
    pairs = set(pairwise(words))
    if _PASSWORD.intersection(words):
        return "password", "its name says it is a password"
    if _SECURITY_CODE.intersection(words):
        return "card-security-code", "its name says it is a card security code"
    if "secret" in words or ("private", "key") in pairs or "privatekey" in words:
        return "secret", "its name says it is a secret"
    if ("api", "key") in pairs or "apikey" in words:
        return "api-key", "its name says it is an API key"
    if _TOKEN.intersection(words):
        return "token", "its name says it is a token"
    lowered = name.lower()
    for word in extra:
        if word.lower() in words or word.lower() == lowered:
            return "sensitive-name", f"its name says {word!r} (a configured sensitive name)"
    return None


def _holds_something(value: Any, *, numbers: bool) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        stripped = value.strip()
        return bool(stripped) and not _ALREADY_MASKED.match(stripped.lower())
    if isinstance(value, int | float):
        return numbers
    if isinstance(value, Mapping):
        return any(_holds_something(v, numbers=numbers) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_something(v, numbers=numbers) for v in value)
    return False


def _public_key(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("phc_")


# -- walking -----------------------------------------------------------------------------------


def _walk(value: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str | None, Any]]:
    """Every ``(path, key, value)`` below ``value``, parents before children."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            name = str(key)
            where = f"{path}.{name}" if path else name
            yield where, name, child
            yield from _walk(child, where, depth + 1)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            where = f"{path}[{index}]"
            yield where, None, child
            yield from _walk(child, where, depth + 1)


def _event_trees(event: CapturedEvent) -> Iterator[tuple[str, Any]]:
    yield "", event.properties
    for key, tree in (("$set", event.set), ("$set_once", event.set_once)):
        if tree and key not in event.properties:
            yield key, tree


def redact(value: Any, *, paths: Collection[str] = ()) -> Any:
    """A copy of a property tree safe to show: :func:`mask_secrets` on every string, and
    :data:`MASK` for every value under a sensitive name (``password``, ``api_key``...) and at
    ``paths`` (the paths of PII findings) that masking alone would not hide.

    >>> redact({"email": "a@b.c", "password": "hunter2", "card": "4242424242424242"})
    {'email': 'a@b.c', 'password': '********', 'card': '************4242'}
    """
    return _redact(value, "", frozenset(paths), 0)


def _redact(value: Any, path: str, paths: frozenset[str], depth: int) -> Any:
    if path in paths:
        if isinstance(value, str):
            masked = mask_secrets(value)
            return masked if masked != value else MASK
        return MASK
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, int) and not isinstance(value, bool) and _card(str(value)):
        return _mask_card(str(value))
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, child in value.items():
            name = str(key)
            where = f"{path}.{name}" if path else name
            secret = _name_kind(name) is not None and not _public_key(child)
            if secret and _holds_something(child, numbers=True):
                out[name] = MASK
            else:
                out[name] = _redact(child, where, paths, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_redact(child, f"{path}[{i}]", paths, depth + 1) for i, child in enumerate(value)]
    return value


# -- the guard ---------------------------------------------------------------------------------


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
            for path, name, value in _walk(tree, root):
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
            kind = _name_kind(name, self.names)
            if kind is not None and not _public_key(value):
                numbers = kind[0] in ("password", "card-security-code")
                if _holds_something(value, numbers=numbers):
                    yield kind[0], kind[1], MASK
            yield from self._in_text(name, where="its name")
        if isinstance(value, str):
            yield from self._in_text(value, where="")
        elif isinstance(value, int) and not isinstance(value, bool):
            yield from self._in_text(str(value), where="")

    def _in_text(self, text: str, *, where: str) -> Iterator[tuple[str, str, str]]:
        prefix = f"{where} holds " if where else ""
        found: list[tuple[str, str]] = []
        if _MAYBE.search(text) is None:
            yield from self._configured(text, prefix)
            return
        for match in _CARD.finditer(text):
            brand = _card(match.group(0))
            if brand is not None:
                digits = sum(c.isdigit() for c in match.group(0))
                found.append(
                    ("card-number", f"{prefix}a card number ({brand}, {digits} digits, Luhn-valid)")
                )
                break
        for match in _POSTHOG_KEY.finditer(text):
            if match.group(1) != "phc":
                kind = _KEY_KINDS[match.group(1)]
                found.append(("api-key", f"{prefix}{kind} ({match.group(1)}_)"))
                break
        if _JWT.search(text):
            found.append(("token", f"{prefix}a JSON Web Token"))
        if _BEARER.search(text):
            found.append(("token", f"{prefix}a bearer token"))
        known = _KNOWN_SECRETS.search(text) or _PRIVATE_KEY.search(text)
        if known:
            found.append(("secret", f"{prefix}a secret key ({known.group(0)[:3]}…)"))
        query = _QUERY_SECRET.search(text)
        if query:
            named = _name_kind(query["name"])
            code = named[0] if named else "secret"
            found.append((code, f"{prefix}a {query['name']}= in a URL's query string"))
        if found:
            shown = format_value(mask_secrets(text), 60)
            for code, why in found:
                yield code, why, shown
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
