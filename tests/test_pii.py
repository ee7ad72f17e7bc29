"""The PII guard: exact findings, in their exact words."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import MakeEvent, replay

from pytest_hybrid_analytics import Finding, PiiGuard

PAYLOADS = Path(__file__).parent / "payloads"

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl"


def messages(findings: list[Finding]) -> list[str]:
    return [str(finding) for finding in findings]


# -- what a client event must not carry ------------------------------------------------------------


def test_each_kind_of_secret_is_named_with_its_path_and_a_masked_value(ev: MakeEvent) -> None:
    event = ev(
        "checkout_submitted",
        "anon-1",
        payment={"card": "4242 4242 4242 4242", "cvv": "123", "holder": "Jane Doe"},
        password="hunter2",
        items=[{"sku": "A1"}, {"note": "use 5555-5555-5555-4444 next time"}],
        session_token=JWT,
        headers={"Authorization": "Bearer sk_abcdefghijklmnop"},
        **{"$current_url": "https://shop.test/reset?email=a@b.c&token=abc123"},
        **{"$set": {"email": "jane@example.com", "apiKey": "key-123"}},
    )
    assert messages(PiiGuard().check([event])) == [
        "[card-number] 'checkout_submitted' (client) property 'payment.card': a card number "
        "(Visa, 16 digits, Luhn-valid): '**** **** **** 4242'",
        "[card-security-code] 'checkout_submitted' (client) property 'payment.cvv': its name "
        "says it is a card security code: ********",
        "[password] 'checkout_submitted' (client) property 'password': its name says it is a "
        "password: ********",
        "[card-number] 'checkout_submitted' (client) property 'items[1].note': a card number "
        "(Mastercard, 16 digits, Luhn-valid): 'use ****-****-****-4444 next time'",
        "[token] 'checkout_submitted' (client) property 'session_token': its name says it is a "
        "token: ********",
        "[token] 'checkout_submitted' (client) property 'headers.Authorization': its name says "
        "it is a token: ********",
        "[token] 'checkout_submitted' (client) property '$current_url': a token= in a URL's "
        "query string: 'https://shop.test/reset?email=a@b.c&token=********'",
        "[api-key] 'checkout_submitted' (client) property '$set.apiKey': its name says it is an "
        "API key: ********",
    ]


def test_values_are_checked_whatever_the_name(ev: MakeEvent) -> None:
    event = ev(
        "support_message_sent",
        body=f"here is my token {JWT} and key phx_abcdefghijklmnopqrstuvwxyz",
        debug=["AKIAABCDEFGHIJKLMNOP", 378282246310005],
    )
    assert [(f.code, f.path) for f in PiiGuard().check([event])] == [
        ("api-key", "body"),
        ("token", "body"),
        ("secret", "debug[0]"),
        ("card-number", "debug[1]"),
    ]
    assert messages(PiiGuard().check([event]))[0] == (
        "[api-key] 'support_message_sent' (client) property 'body': a PostHog personal API key "
        "(phx_): 'here is my token eyJ******** and key phx_…wxyz'"
    )
    assert messages(PiiGuard().check([event]))[3] == (
        "[card-number] 'support_message_sent' (client) property 'debug[1]': a card number "
        "(American Express, 15 digits, Luhn-valid): '***********0005'"
    )


def test_a_card_number_in_a_property_name_is_found(ev: MakeEvent) -> None:
    event = ev("cards_listed", **{"card_4111111111111111": True})
    assert messages(PiiGuard().check([event])) == [
        "[card-number] 'cards_listed' (client) property 'card_************1111': its name holds "
        "a card number (Visa, 16 digits, Luhn-valid): 'card_************1111'"
    ]


def test_a_finding_keeps_its_event_kind_and_path(ev: MakeEvent) -> None:
    event = ev("login_failed", password="hunter2")
    [finding] = PiiGuard().check([event])
    assert (finding.kind, finding.code, finding.path, finding.event) == (
        "pii",
        "password",
        "password",
        event,
    )
    assert "hunter2" not in str(finding)


# -- what is not a finding -------------------------------------------------------------------------


def test_ordinary_values_that_look_alike_are_not_findings(ev: MakeEvent) -> None:
    event = ev(
        "profile_updated",
        token="phc_4f9a7c2e81b3d6a5f0e9d8c7",  # posthog-js's own project key, public
        password_length=12,
        password_strength="strong",
        has_password=True,
        token_count=5,
        reset_token_expires_at="2026-03-01T12:00:00Z",
        secret=None,
        api_key="",
        password_confirmation="********",  # already masked by the app
        order_id="4242424242424241",  # not Luhn-valid
        shipment="1795922831460",  # an epoch in milliseconds
        phone="+4915112345678",
        ratio="0.4242424242424242",
        request_id="01a22572-2256-7464-97d2-730998d27f12",
        digits="0000000000000000",
        **{"$lib_rate_limit_remaining_tokens": 99, "$session_id": "01a22572-2ce7-78e7"},
    )
    assert PiiGuard().check([event]) == []


@pytest.mark.parametrize("path", sorted(PAYLOADS.glob("posthog-*.json")), ids=lambda p: p.stem)
def test_real_sdk_traffic_has_no_findings_on_either_side(path: Path) -> None:
    events = replay(path).events
    assert events
    assert PiiGuard(sides=("client", "server")).check(events) == []


def test_only_the_watched_sides_are_checked(ev: MakeEvent) -> None:
    server = ev("payment_processed", "user-1", source="server", card="4242424242424242")
    assert PiiGuard().check([server]) == []
    assert [f.code for f in PiiGuard(sides=("client", "server")).check([server])] == ["card-number"]
    client = ev("login_failed", password="hunter2")
    assert PiiGuard(sides=()).check([client]) == []


# -- configuration ---------------------------------------------------------------------------------


def test_allowed_paths_and_names_are_not_reported(ev: MakeEvent) -> None:
    event = ev(
        "password_reset_requested",
        reset_token="t-123",
        debug={"password": "x", "token": "y"},
        form={"password": "hunter2"},
    )
    guard = PiiGuard(allow=["reset_token", "debug.*"])
    assert [f.path for f in guard.check([event])] == ["form.password"]


def test_extra_patterns_and_names(ev: MakeEvent) -> None:
    event = ev("bank_linked", account="DE89370400440532013000", ssn_hash="abc")
    guard = PiiGuard(patterns={"iban": r"\bDE\d{20}\b"}, names=["ssn"])
    assert messages(guard.check([event])) == [
        "[iban] 'bank_linked' (client) property 'account': a match for the configured pattern "
        "'iban': '********'",
        "[sensitive-name] 'bank_linked' (client) property 'ssn_hash': its name says 'ssn' (a "
        "configured sensitive name): ********",
    ]


def test_bad_configuration_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"^PiiGuard sides must be a collection of 'client' and "):
        PiiGuard(sides="client")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PiiGuard sides") as info:
        PiiGuard(sides=("browser",))  # type: ignore[arg-type]
    assert str(info.value) == (
        "PiiGuard sides must be a collection of 'client' and 'server', got ('browser',)"
    )
    with pytest.raises(ValueError, match="PII pattern") as info:
        PiiGuard(patterns={"iban": "DE[0-9"})
    assert str(info.value) == (
        "PII pattern 'iban' is not a valid regex: unterminated character set at position 2"
    )


def test_a_sensitive_name_holding_an_object_is_one_finding(ev: MakeEvent) -> None:
    event = ev(
        "oauth_done",
        credentials={"access": {"value": "abc"}, "scopes": ["read"]},
        tokens_seen=3,
        secret={"note": ""},
        auth_token=["", "t-1"],
        passcode=123456,
        pwd_hint="birthday",
    )
    assert [(f.code, f.path) for f in PiiGuard(names=["credentials"]).check([event])] == [
        ("sensitive-name", "credentials"),
        ("token", "auth_token"),
        ("password", "passcode"),
    ]


def test_very_deep_properties_are_walked_up_to_a_limit(ev: MakeEvent) -> None:
    deep: dict[str, object] = {"password": "hunter2"}
    for _ in range(40):
        deep = {"d": deep}
    assert PiiGuard().check([ev("deep", tree=deep)]) == []
    shallow: dict[str, object] = {"password": "hunter2"}
    for _ in range(10):
        shallow = {"d": shallow}
    [finding] = PiiGuard().check([ev("deep", tree=shallow)])
    assert finding.path == "tree" + ".d" * 10 + ".password"
