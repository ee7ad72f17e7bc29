"""What is sensitive and how it is hidden: exact masks, exact names, exact reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_hybrid_analytics._checks.redaction import (
    MASK,
    mask_secrets,
    redact,
    secrets_in,
    sensitive_property,
    walk,
    words,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl"


# -- masking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "key phc_4f9a7c2e81b3d6a5f0e9, card 4242 4242 4242 4242, password=hunter2",
            "key phc_…f0e9, card **** **** **** 4242, password=********",
        ),
        ("phc_test and phs_short", "phc_… and phs_…"),
        ("personal phx_abcdefghijklmnopqrstu", "personal phx_…rstu"),
        ("Authorization: Bearer abcdef123456", "Authorization: Bearer ********"),
        (
            '{"password": "hun\\"ter2", "token": "phc_recorder_token"}',
            '{"password": "********", "token": "phc_…oken"}',
        ),
        ("{'api_key': 'k-1', 'secret': 'xyz'}", "{'api_key': '********', 'secret': '********'}"),
        ("https://shop.test/reset?token=abc123&x=1", "https://shop.test/reset?token=********&x=1"),
        (
            "https://ph.test/batch/?token=phc_secret_key_123456",
            "https://ph.test/batch/?token=phc_…3456",
        ),
        ("https://ph.test/e/?api_key=k-123&x=1", "https://ph.test/e/?api_key=********&x=1"),
        (f"jwt {JWT}.", "jwt eyJ********."),
        ("stripe sk_live_abcdefgh12345678", "stripe sk_********"),
        (
            "uuid 01a22572-2256-7464-97d2-730998d27f12 at 1795922831460, +4915112345678",
            "uuid 01a22572-2256-7464-97d2-730998d27f12 at 1795922831460, +4915112345678",
        ),
        (
            "$lib_rate_limit_remaining_tokens: 99, token_count=5",
            "$lib_rate_limit_remaining_tokens: 99, token_count=5",
        ),
        (
            "property 'password': its name says it is a password: ********",
            "property 'password': its name says it is a password: ********",
        ),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked
    assert mask_secrets(masked) == masked


def test_redact_masks_a_copy_and_leaves_the_original() -> None:
    properties = {
        "email": "a@b.c",
        "password": "hunter2",
        "card": "4242424242424242",
        "amount": 4242424242424242,
        "nested": {"api_key": "k-1", "plan": "pro", "list": ["phx_abcdefghijklmnopqrstu"]},
        "token": "phc_4f9a7c2e81b3d6a5f0e9",
        "iban": "DE89370400440532013000",
        "has_password": True,
    }
    before = json.dumps(properties)
    assert redact(properties, paths=["iban"]) == {
        "email": "a@b.c",
        "password": MASK,
        "card": "************4242",
        "amount": "************4242",
        "nested": {"api_key": MASK, "plan": "pro", "list": ["phx_…rstu"]},
        "token": "phc_…f0e9",
        "iban": MASK,
        "has_password": True,
    }
    assert json.dumps(properties) == before


def test_redact_cuts_very_deep_trees() -> None:
    deep: dict[str, object] = {"password": "hunter2"}
    for _ in range(40):
        deep = {"d": deep}
    shown = json.dumps(redact(deep), ensure_ascii=False)
    assert "…" in shown
    assert "hunter2" not in shown


def test_redact_hides_any_number_under_a_sensitive_name() -> None:
    assert redact({"token": 42, "token_count": 42, "passcode": 1234}) == {
        "token": MASK,
        "token_count": 42,
        "passcode": MASK,
    }


# -- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("session_token", ["session", "token"]),
        ("sessionToken_v2", ["session", "token", "v", "2"]),
        ("X-API-Key", ["x", "api", "key"]),
        ("userID42", ["user", "id", "42"]),
        ("$lib_rate_limit_remaining_tokens", ["lib", "rate", "limit", "remaining", "tokens"]),
        ("__", []),
    ],
)
def test_words(name: str, split: list[str]) -> None:
    assert words(name) == split


PASSWORD = ("password", "its name says it is a password")
TOKEN = ("token", "its name says it is a token")


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("password", "hunter2", PASSWORD),
        ("userPassword", ["", "pw"], PASSWORD),
        ("passcode", 123456, PASSWORD),
        ("cvv", 123, ("card-security-code", "its name says it is a card security code")),
        ("client_secret", "s-1", ("secret", "its name says it is a secret")),
        ("privateKey", "k", ("secret", "its name says it is a secret")),
        ("apiKey", "key-123", ("api-key", "its name says it is an API key")),
        ("Authorization", "Basic abc", TOKEN),
        ("session_token", {"value": "abc"}, TOKEN),
        ("token", 42, None),
        ("token", "phc_4f9a7c2e81b3d6a5f0e9", None),
        ("password_length", 12, None),
        ("reset_token_expires_at", "2026-03-01T12:00:00Z", None),
        ("has_password", True, None),
        ("secret", None, None),
        ("api_key", "  ", None),
        ("password", "********", None),
        ("password", "[redacted]", None),
        ("password", "xxxx", None),
        ("token", {"note": ""}, None),
        ("$lib_rate_limit_remaining_tokens", 99, None),
        ("ssn_hash", "abc", None),
        ("email", "a@b.c", None),
    ],
)
def test_sensitive_property(name: str, value: Any, kind: tuple[str, str] | None) -> None:
    assert sensitive_property(name, value) == kind


def test_sensitive_property_with_configured_names_and_any_number() -> None:
    configured = ("sensitive-name", "its name says 'ssn' (a configured sensitive name)")
    assert sensitive_property("ssn_hash", "abc", extra=["ssn"]) == configured
    assert sensitive_property("SSN", "abc", extra=["ssn"]) == configured
    assert sensitive_property("ssn_hash", "", extra=["ssn"]) is None
    assert sensitive_property("password", "pw", extra=["ssn"]) == PASSWORD
    assert sensitive_property("token", 42, any_number=True) == TOKEN
    assert sensitive_property("token", 4.2, any_number=True) == TOKEN
    assert sensitive_property("token", True, any_number=True) is None
    assert sensitive_property("token_count", 42, any_number=True) is None


# -- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "card 4242 4242 4242 4242 and 5555555555554444",
            [("card-number", "a card number (Visa, 16 digits, Luhn-valid)")],
        ),
        (
            "amex 378282246310005",
            [("card-number", "a card number (American Express, 15 digits, Luhn-valid)")],
        ),
        ("order 4242424242424241", []),
        ("phc_4f9a7c2e81b3d6a5f0e9", []),
        ("phc_public then phs_abcdefghijkl", [("api-key", "a PostHog project secret key (phs_)")]),
        ("phx_abcdefghijklmnopqrstu", [("api-key", "a PostHog personal API key (phx_)")]),
        (f"t={JWT}", [("token", "a JSON Web Token")]),
        ("Authorization: Bearer abcdef123456", [("token", "a bearer token")]),
        ("stripe sk_live_abcdefgh12345678", [("secret", "a secret key (sk_…)")]),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", [("secret", "a secret key (---…)")]),
        (
            "https://shop.test/reset?email=a@b.c&token=abc123",
            [("token", "a token= in a URL's query string")],
        ),
        (
            "https://shop.test/?client_secret=abc",
            [("secret", "a client_secret= in a URL's query string")],
        ),
        ("https://shop.test/?apikey=abc", [("api-key", "a apikey= in a URL's query string")]),
        (
            f"Bearer abcdef123456 {JWT} 4111111111111111",
            [
                ("card-number", "a card number (Visa, 16 digits, Luhn-valid)"),
                ("token", "a JSON Web Token"),
                ("token", "a bearer token"),
            ],
        ),
        ("user 42 at 2026, +4915112345678, 01a22572-2256-7464-97d2-730998d27f12", []),
        ("", []),
    ],
)
def test_secrets_in(text: str, found: list[tuple[str, str]]) -> None:
    assert secrets_in(text) == found


# -- walking ---------------------------------------------------------------------------------------


def test_walk_goes_through_mappings_and_lists_parents_first() -> None:
    tree = {"form": {"items": [{"sku": "A1"}, "x"]}, "n": 1}
    assert list(walk(tree)) == [
        ("form", "form", tree["form"]),
        ("form.items", "items", [{"sku": "A1"}, "x"]),
        ("form.items[0]", None, {"sku": "A1"}),
        ("form.items[0].sku", "sku", "A1"),
        ("form.items[1]", None, "x"),
        ("n", "n", 1),
    ]
    assert list(walk({"a": [{"b": 1}]}, "$set")) == [
        ("$set.a", "a", [{"b": 1}]),
        ("$set.a[0]", None, {"b": 1}),
        ("$set.a[0].b", "b", 1),
    ]
    assert list(walk("text")) == []


def test_walk_stops_at_a_depth_limit() -> None:
    deep: dict[str, object] = {"password": "hunter2"}
    for _ in range(40):
        deep = {"d": deep}
    paths = [path for path, _, _ in walk(deep)]
    assert paths == [".".join(["d"] * n) for n in range(1, 34)]
