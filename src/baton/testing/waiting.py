"""Wait on a condition with a deadline: the only way Baton's tests synchronise."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    """Raised by :func:`wait_until` when the condition did not hold before the deadline."""


async def wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """Poll ``condition`` (sync or async) until it returns a truthy value; return that value.

    Raises:
        ConditionTimeout: ``timeout`` seconds passed; the message includes the last value seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() >= deadline:
            raise ConditionTimeout(
                f"condition not met within {timeout}s{': ' + message if message else ''} (last value: {last!r})"
            )
        await asyncio.sleep(interval)


def wait_until_sync(
    condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, message: str = ""
) -> T:
    """Blocking twin of :func:`wait_until` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise ConditionTimeout(
                f"condition not met within {timeout}s{': ' + message if message else ''} (last value: {result!r})"
            )
        time.sleep(interval)
