"""The PII guard, edge by edge: person properties sent beside the event, allowed names, the
configured patterns, numbers, and how much of a value a finding shows."""

from __future__ import annotations

from support import MakeEvent

from pytest_hybrid_analytics._checks.pii import PiiGuard
from pytest_hybrid_analytics._model.events import event_from_wire

CARD = "4111 1111 1111 1111"
CARD_FOUND = "a card number (Visa, 16 digits, Luhn-valid): '**** **** **** 1111'"


def texts(guard: PiiGuard, *events: object) -> list[str]:
    return [str(f) for f in guard.check(events)]  # type: ignore[arg-type]


def test_person_properties_sent_beside_the_event_are_checked() -> None:
    raw = {"event": "x", "distinct_id": "u", "$set": {"note": CARD}, "$set_once": {"card": CARD}}
    event = event_from_wire(raw, source="client")
    assert texts(PiiGuard(), event) == [
        f"[card-number] 'x' (client) property '$set.note': {CARD_FOUND}",
        f"[card-number] 'x' (client) property '$set_once.card': {CARD_FOUND}",
    ]


def test_person_properties_inside_the_properties_are_reported_once() -> None:
    raw = {"event": "x", "distinct_id": "u", "properties": {"$set_once": {"card": CARD}}}
    event = event_from_wire(raw, source="client")
    assert texts(PiiGuard(), event) == [
        f"[card-number] 'x' (client) property '$set_once.card': {CARD_FOUND}"
    ]


def test_an_allowed_name_is_allowed_at_any_depth_and_only_that_name(ev: MakeEvent) -> None:
    event = ev("x", "u", form={"card": CARD}, card2=CARD)
    assert texts(PiiGuard(allow=["card"]), event) == [
        f"[card-number] 'x' (client) property 'card2': {CARD_FOUND}"
    ]
    assert texts(PiiGuard(allow=["form.*", "card?"]), event) == []


def test_a_card_number_sent_as_a_number_is_found(ev: MakeEvent) -> None:
    assert texts(PiiGuard(), ev("x", "u", n=4111111111111111)) == [
        "[card-number] 'x' (client) property 'n': a card number (Visa, 16 digits, Luhn-valid): "
        "'************1111'"
    ]


def test_a_finding_shows_at_most_60_characters_of_the_masked_value(ev: MakeEvent) -> None:
    memo = "note " + "a" * 80 + " " + CARD
    [text] = texts(PiiGuard(), ev("x", "u", memo=memo))
    assert text == (
        "[card-number] 'x' (client) property 'memo': a card number (Visa, 16 digits, "
        f"Luhn-valid): '{('note ' + 'a' * 80)[:58]}…"
    )


def test_a_configured_pattern_is_masked_and_clipped_like_the_rest(ev: MakeEvent) -> None:
    guard = PiiGuard(patterns={"iban": r"DE\d{20}"})
    [text] = texts(guard, ev("x", "u", memo="iban DE12345678901234567890 " + "b" * 70))
    assert text == (
        "[iban] 'x' (client) property 'memo': a match for the configured pattern 'iban': "
        f"'iban ******** {'b' * 44}…"
    )


def test_pii_in_a_top_level_set_is_found_when_the_properties_also_carry_a_set() -> None:
    # posthog-python/node send $set at the top level; an SDK (or app) may also put one in
    # properties: event.set merges both, and the guard reads both.
    raw = {
        "event": "x",
        "distinct_id": "u",
        "$set": {"card": "4111 1111 1111 1111"},
        "properties": {"$set": {"plan": "pro"}},
    }
    event = event_from_wire(raw, source="client")
    assert event.set == {"plan": "pro", "card": "4111 1111 1111 1111"}
    [finding] = PiiGuard().check([event])
    assert (finding.code, finding.path) == ("card-number", "$set.card")
