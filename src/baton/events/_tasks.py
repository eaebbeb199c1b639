"""Cancellation hygiene for the events package's long-running loops."""

from __future__ import annotations

import asyncio


def raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Re-raise a pending cancellation that a library turned into an ordinary error.

    nats.py converts a ``CancelledError`` that hits ``publish_async`` into ``TooManyStalledMsgsError``; a loop
    that retries on broker errors would swallow the cancel and never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause
