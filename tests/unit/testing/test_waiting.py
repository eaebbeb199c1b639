"""wait_until: the condition-with-deadline every test synchronises on."""

from __future__ import annotations

import pytest

from baton.testing import ConditionTimeout, wait_until, wait_until_sync


async def test_returns_the_first_truthy_value_of_an_async_condition() -> None:
    calls = []

    async def condition() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await wait_until(condition, timeout=2, interval=0.001) == 3


async def test_times_out_with_the_last_value_in_the_message() -> None:
    with pytest.raises(ConditionTimeout, match=r"last value: \[\]"):
        await wait_until(lambda: [], timeout=0.05, interval=0.01, message="never")


def test_sync_twin_times_out_too() -> None:
    with pytest.raises(ConditionTimeout, match="never"):
        wait_until_sync(lambda: False, timeout=0.05, interval=0.01, message="never")
