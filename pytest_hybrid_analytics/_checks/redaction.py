"""What is sensitive in analytics data, and how to hide it.

Values: Luhn-valid card numbers (and their brand), PostHog personal and secret keys, JSON Web
Tokens, bearer tokens, well-known secret key shapes, private keys, secrets in a URL's query
string and the value after a sensitive name in text (``password=``, ``"token": ``). Names: a
property called ``password``, ``cvv``, ``client_secret``, ``api_key``, ``session_token``... holds
a secret, unless a word of it says it only describes one (``password_length``, ``token_count``).

:func:`mask_secrets` masks secrets in any text and :func:`redact` in any property tree: every
report of the plugin goes through them. :func:`secrets_in` and :func:`sensitive_property` say
what is there and why, for the PII guard; :func:`walk` goes through a property tree and
:func:`words` splits a name into its words.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from itertools import pairwise
from typing import Any

__all__ = ["MASK", "mask_secrets", "redact", "secrets_in", "sensitive_property", "walk", "words"]

#: What a value that must not be shown becomes.
MASK = "********"
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


def secrets_in(text: str) -> list[tuple[str, str]]:
    """``(code, why)`` for each kind of secret in ``text``, the value checks of the PII guard.

    A card number (with its brand), a PostHog personal or secret key (a project key is public),
    a JSON Web Token, a bearer token, a known secret key shape or a private key, a secret in a
    URL's query string: each at most once, in that order. ``why`` starts with "a" or "an", to
    follow "holds " or stand alone.

    >>> secrets_in("card 4242 4242 4242 4242, Bearer abcdef123456")
    [('card-number', 'a card number (Visa, 16 digits, Luhn-valid)'), ('token', 'a bearer token')]
    """
    found: list[tuple[str, str]] = []
    if _MAYBE.search(text) is None:
        return found
    for match in _CARD.finditer(text):
        brand = _card(match.group(0))
        if brand is not None:
            digits = sum(c.isdigit() for c in match.group(0))
            found.append(("card-number", f"a card number ({brand}, {digits} digits, Luhn-valid)"))
            break
    for match in _POSTHOG_KEY.finditer(text):
        if match.group(1) != "phc":
            kind = _KEY_KINDS[match.group(1)]
            found.append(("api-key", f"{kind} ({match.group(1)}_)"))
            break
    if _JWT.search(text):
        found.append(("token", "a JSON Web Token"))
    if _BEARER.search(text):
        found.append(("token", "a bearer token"))
    known = _KNOWN_SECRETS.search(text) or _PRIVATE_KEY.search(text)
    if known:
        found.append(("secret", f"a secret key ({known.group(0)[:3]}…)"))
    query = _QUERY_SECRET.search(text)
    if query:
        named = _name_kind(query["name"])
        code = named[0] if named else "secret"
        found.append((code, f"a {query['name']}= in a URL's query string"))
    return found


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
#: Kinds of secret a bare number can be (a PIN, a CVV): for the others, a number is a count.
_NUMBER_KINDS = frozenset({"password", "card-security-code"})


def words(name: str) -> list[str]:
    """The words of a name, lowercase, whatever its case style (snake, camel, kebab...).

    >>> words("sessionToken_v2"), words("API-Key")
    (['session', 'token', 'v', '2'], ['api', 'key'])
    """
    return [word.lower() for word in _WORDS.findall(name)]


def _name_kind(name: str, extra: Collection[str] = ()) -> tuple[str, str] | None:
    """``(code, why)`` when a property called ``name`` holds a secret, else ``None``."""
    if name.startswith("$"):
        return None  # PostHog's own properties ($lib_rate_limit_remaining_tokens...)
    parts = words(name)
    if not parts or _DESCRIBES.intersection(parts):
        return None
    pairs = set(pairwise(parts))
    if _PASSWORD.intersection(parts):
        return "password", "its name says it is a password"
    if _SECURITY_CODE.intersection(parts):
        return "card-security-code", "its name says it is a card security code"
    if "secret" in parts or ("private", "key") in pairs or "privatekey" in parts:
        return "secret", "its name says it is a secret"
    if ("api", "key") in pairs or "apikey" in parts:
        return "api-key", "its name says it is an API key"
    if _TOKEN.intersection(parts):
        return "token", "its name says it is a token"
    lowered = name.lower()
    for word in extra:
        if word.lower() in parts or word.lower() == lowered:
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


def sensitive_property(
    name: str, value: Any, *, extra: Collection[str] = (), any_number: bool = False
) -> tuple[str, str] | None:
    """``(code, why)`` when a property called ``name`` holds a secret by its name, else ``None``.

    The name says a password, a card security code, a secret, an API key, a token, or one of
    the ``extra`` words (code ``"sensitive-name"``), and ``value`` holds something: not empty,
    ``None``, a boolean, already masked (``"****"``, ``"[redacted]"``) or a PostHog project key
    (public). A number holds something only for a password or a security code (a PIN, a CVV),
    or for any name with ``any_number`` (:func:`redact`, which would rather hide a count).

    >>> sensitive_property("password", "hunter2"), sensitive_property("password_length", 12)
    (('password', 'its name says it is a password'), None)
    >>> sensitive_property("token", 42), sensitive_property("token", 42, any_number=True)
    (None, ('token', 'its name says it is a token'))
    """
    kind = _name_kind(name, extra)
    if kind is None or _public_key(value):
        return None
    numbers = any_number or kind[0] in _NUMBER_KINDS
    return kind if _holds_something(value, numbers=numbers) else None


# -- walking -----------------------------------------------------------------------------------


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str | None, Any]]:
    """Every ``(path, key, value)`` below ``value``, parents before children.

    ``key`` is the name in a mapping (``None`` for a list item); ``path`` goes on from ``path``
    (``"form.items[0].sku"``). Nothing deeper than 32 levels is walked (a cycle-free JSON never
    gets there).

    >>> list(walk({"form": {"tags": ["a"]}}))
    [('form', 'form', {'tags': ['a']}), ('form.tags', 'tags', ['a']), ('form.tags[0]', None, 'a')]
    """
    return _walk(value, path, 0)


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, str | None, Any]]:
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
            if sensitive_property(name, child, any_number=True) is not None:
                out[name] = MASK
            else:
                out[name] = _redact(child, where, paths, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_redact(child, f"{path}[{i}]", paths, depth + 1) for i, child in enumerate(value)]
    return value
