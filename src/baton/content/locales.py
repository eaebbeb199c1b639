"""Locale negotiation for content reads: ``Accept-Language`` to the hub's locales.

A shopper's browser sends ``Accept-Language: fr-CH, fr;q=0.9, en;q=0.8``; the hub knows ``en`` and ``fr``.
:func:`preferred_locales` orders the header's tags by quality, and :func:`match_locales` maps each onto a locale
the hub has (the tag itself, else its language: ``fr-CH`` → ``fr``), dropping the ones it has not — asking the hub
for a locale it does not know is a 400 in Strapi's API, not an empty answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["match_locales", "preferred_locales"]

#: Longest header read; a longer one is cut (it is client input on every product page).
MAX_HEADER = 512
#: Most language ranges taken from one header.
MAX_TAGS = 16


def preferred_locales(accept_language: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first (``q=0`` and ``*`` dropped).

    Malformed ranges are skipped rather than refused: a product page must not fail on a browser's header.
    Ties keep the header's order (RFC 9110 §12.5.4 leaves it to the server; the sender's order is the best hint).
    """
    if not accept_language:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language[:MAX_HEADER].split(",")[:MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not all(piece.isalnum() for piece in tag.split("-")):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if 0.0 < quality <= 1.0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def match_locales(wanted: Iterable[str], available: Collection[str]) -> list[str]:
    """``wanted`` mapped onto ``available`` (exact tag first, else its language), unknown ones dropped, no repeats.

    Matching ignores case, and answers in the hub's spelling (``fr-ch`` → ``fr-CH`` when the hub has ``fr-CH``).
    """
    by_lower = {locale.lower(): locale for locale in available}
    matched: dict[str, None] = {}
    for tag in wanted:
        lowered = tag.lower()
        hit = by_lower.get(lowered) or by_lower.get(lowered.split("-", 1)[0])
        if hit is not None:
            matched[hit] = None
    return list(matched)
