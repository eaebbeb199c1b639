"""Declaring event handlers: ``@handler`` attaches a definition and leaves the function as it was.

::

    @handler("shop.catalog.product.price_changed.v1")
    async def on_price_changed(event: CloudEvent, session: AsyncSession) -> None:
        await session.execute(update(prices).values(...))

The function stays directly callable in a unit test; the :class:`~baton.events.runtime.EventRuntime` reads
``fn.__baton_handler__`` to build consumers. The session is the inbox transaction: whatever the handler writes
commits together with the (consumer, event id) record, before the message is acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from baton.errors import EventError
from baton.events import naming

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from baton.events.envelope import CloudEvent

HandlerFn = Callable[["CloudEvent", "AsyncSession"], Awaitable[None]]
"""``async def on_x(event: CloudEvent, session: AsyncSession) -> None``."""
F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__baton_handler__"
DEFAULT_BACKOFF: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class HandlerDefinition:
    """What ``@handler`` declared about a function."""

    pattern: str
    """The event type or subject pattern as declared (``shop.catalog.product.price_changed.v1``,
    ``shop.catalog.product.*``, ``shop.catalog.>``)."""
    subject: str
    """The NATS subject filter derived from it (version suffix dropped)."""
    version: str | None
    """``"v1"`` when a versioned type was declared: other versions on the subject are skipped."""
    stream: str
    """The stream of the bounded context (``SHOP_CATALOG``)."""
    consumer: str | None = None
    """Durable consumer name; ``None`` means the service's consumer (shared by its replicas)."""
    broadcast: bool = False
    """Every replica receives every event (a consumer per instance) instead of competing for them."""
    max_deliver: int = 5
    """Deliveries before the event goes to the dead-letter stream (the first delivery counts)."""
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    """Seconds before redelivery after the 1st, 2nd, ... failure; the last value repeats."""

    def delay_after(self, deliveries: int) -> float:
        """The redelivery delay after the ``deliveries``-th failed delivery."""
        if not self.backoff:
            return 0.0
        return self.backoff[min(max(deliveries, 1), len(self.backoff)) - 1]

    def accepts(self, subject: str, type: str) -> bool:
        """Whether an event on ``subject`` with ``type`` is for this handler."""
        if not naming.subject_matches(self.subject, subject):
            return False
        return self.version is None or naming.version_of(type) == self.version


def handler(
    type_or_pattern: str,
    *,
    consumer: str | None = None,
    broadcast: bool = False,
    max_deliver: int = 5,
    backoff: tuple[float, ...] = DEFAULT_BACKOFF,
) -> Callable[[F], F]:
    """Declare an async function as the handler of an event type (or subject pattern).

    Args:
        type_or_pattern: a versioned type (only that version is handled) or a subject pattern.
        consumer: a durable consumer name of its own instead of the service's.
        broadcast: deliver every event to every replica.
        max_deliver: deliveries before the event is dead-lettered (≥ 1).
        backoff: redelivery delays in seconds after each failure.

    Raises:
        EventError: the pattern is not a valid event type/subject, or ``max_deliver`` < 1.
    """
    if max_deliver < 1:
        raise EventError(f"max_deliver must be at least 1, got {max_deliver}")
    subject = naming.subject_for(type_or_pattern)
    definition = HandlerDefinition(
        pattern=type_or_pattern,
        subject=subject,
        version=naming.version_of(type_or_pattern),
        stream=naming.stream_for(subject),
        consumer=consumer,
        broadcast=broadcast,
        max_deliver=max_deliver,
        backoff=tuple(float(b) for b in backoff),
    )

    def attach(fn: F) -> F:
        setattr(fn, ATTRIBUTE, definition)
        return fn

    return attach


def definition_of(fn: Callable[..., Any]) -> HandlerDefinition:
    """The definition ``@handler`` attached to ``fn``.

    Raises:
        EventError: ``fn`` was not decorated with ``@handler``.
    """
    definition = getattr(fn, ATTRIBUTE, None)
    if not isinstance(definition, HandlerDefinition):
        raise EventError(f"{getattr(fn, '__qualname__', fn)!r} is not an event handler; decorate it with @handler")
    return definition
