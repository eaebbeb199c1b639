"""Card data rules: the provider takes tokens, and refuses anything that looks like a card number (a PAN).

A PAN is 13–19 digits (single spaces or dashes allowed between them) that pass the Luhn check. Refusing them
at the edge keeps card numbers out of the database, the logs and every caller's saga log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: The token that always declines (for demos and tests).
DECLINE_TOKEN = "tok_decline"

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_SEPARATORS = re.compile(r"[ -]")


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (only digits) pass the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_pan_digits(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def is_pan(text: str) -> bool:
    """Whether the whole of ``text`` is a card number (digits with optional single spaces or dashes)."""
    stripped = text.strip()
    return _DIGIT_RUN.fullmatch(stripped) is not None and _is_pan_digits(_SEPARATORS.sub("", stripped))


def contains_pan(text: str) -> bool:
    """Whether some run of digits inside ``text`` is a card number (``tok_4111111111111111`` is one).

    Only for fields meant to hold card data: random ids contain Luhn-valid digit runs now and then.
    """
    return any(_is_pan_digits(_SEPARATORS.sub("", run.group())) for run in _DIGIT_RUN.finditer(text))


def any_value_is_pan(value: Any) -> bool:
    """Whether any string or integer anywhere in a decoded JSON value is, as a whole, a card number."""
    return any(is_pan(text) for text in _scalars(value))


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
