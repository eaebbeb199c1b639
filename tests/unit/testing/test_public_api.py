"""The curated public names of ``baton.testing``, pinned (additions are deliberate)."""

from __future__ import annotations

import baton.testing
from baton.testing.faultproxy import FaultProxy


def test_all_is_pinned_sorted_and_importable() -> None:
    assert baton.testing.__all__ == ["ConditionTimeout", "FaultProxy", "wait_until", "wait_until_sync"]
    assert baton.testing.__all__ == sorted(baton.testing.__all__)
    assert baton.testing.FaultProxy is FaultProxy
