"""Jinja filters: numbers as people read them (rates, shares, durations, times) and stable colours per service."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

__all__ = ["FILTERS", "service_colour"]

_PALETTE = (
    "#2563eb",
    "#0d9488",
    "#9333ea",
    "#d97706",
    "#db2777",
    "#4f46e5",
    "#059669",
    "#b45309",
    "#0891b2",
    "#7c3aed",
)


def service_colour(name: str) -> str:
    """The same colour for a service on every page (a hash of its name into a palette)."""
    return _PALETTE[zlib.crc32(name.encode()) % len(_PALETTE)]


def rate(value: float | None) -> str:
    """``12.3/s``; ``–`` without data."""
    if value is None:
        return "–"
    return f"{value:.1f}/s" if value < 100 else f"{value:.0f}/s"


def percent(value: float | None, digits: int = 2) -> str:
    """A 0..1 share as ``1.25%``; ``–`` without data."""
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def ms(value: float | None) -> str:
    """Milliseconds, three significant figures, or seconds above one."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f}s"
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def ns(value: int | None) -> str:
    """A nanosecond duration, readable."""
    return "–" if value is None else ms(value / 1e6) if value >= 1000 else f"{value}ns"


def clock(value: Any) -> str:
    """A Unix time (or an ISO string) as local ``HH:MM:SS``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).astimezone().strftime("%H:%M:%S")
        except ValueError:
            return value
    return dt.datetime.fromtimestamp(float(value)).strftime("%H:%M:%S")


def stamp(value: Any) -> str:
    """A Unix time (or ISO string) as ``YYYY-MM-DD HH:MM:SS``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return value
    return dt.datetime.fromtimestamp(float(value)).strftime("%Y-%m-%d %H:%M:%S")


def ago(value: float | None, now: float) -> str:
    """``12s ago``, ``5m ago``, ``2h ago``."""
    if value is None:
        return "–"
    seconds = max(0, int(now - value))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def budget_class(remaining: float | None) -> str:
    """CSS class of an error-budget bar: ``good`` above half, ``warn`` above zero, ``bad`` when spent."""
    if remaining is None:
        return "none"
    return "good" if remaining > 0.5 else "warn" if remaining > 0 else "bad"


FILTERS = {
    "rate": rate,
    "percent": percent,
    "ms": ms,
    "ns": ns,
    "clock": clock,
    "stamp": stamp,
    "ago": ago,
    "budget_class": budget_class,
    "colour": service_colour,
}
"""Filters registered on the dashboard's Jinja environment."""
