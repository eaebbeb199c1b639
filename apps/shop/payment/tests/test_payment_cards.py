"""Card-number detection: what counts as a PAN and what does not."""

from __future__ import annotations

import uuid

import pytest
from apps.shop.payment.cards import any_value_is_pan, contains_pan, is_pan, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("378282246310005", True),  # Amex, 15 digits
        ("4111111111111112", False),  # fails Luhn
        ("411111111111", False),  # 12 digits
        ("tok_visa", False),
        ("EUR", False),
    ],
)
def test_is_pan(text, expected):
    assert is_pan(text) is expected


def test_luhn():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_a_token_hiding_a_card_number_is_caught():
    assert contains_pan("tok_4111111111111111")
    assert not contains_pan("tok_visa_4242")


def test_random_ids_are_not_card_numbers():
    # Whole-value matching: hex ids never consist of 13-19 digits only.
    assert not any(any_value_is_pan({"order_id": uuid.uuid4().hex}) for _ in range(2000))


def test_numbers_nested_anywhere_in_a_body_are_found():
    assert any_value_is_pan({"meta": [{"x": 4111111111111111}]})
    assert not any_value_is_pan({"amount_cents": 1999, "ok": True})
