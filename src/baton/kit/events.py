"""The kit's bridge to :mod:`baton.events`: declare handlers, emit through the outbox, run the event runtime.

The kit depends on the events package through four names only — ``handler``, ``CloudEvent``, ``enqueue``
and ``EventRuntime`` — looked up when first needed, so a service that never touches events does not import
the package, and a missing or partial package is reported with a clear :class:`~baton.errors.ConfigError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from baton.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from baton.kit.component import Component

__all__ = ["EventHooks", "events_available"]

F = TypeVar("F", bound=Callable[..., Any])
_NAMES = ("handler", "CloudEvent", "enqueue", "EventRuntime")


def _events_api() -> dict[str, Any] | None:
    try:
        module = importlib.import_module("baton.events")
    except ImportError:
        return None
    found = {name: getattr(module, name, None) for name in _NAMES}
    return found if all(value is not None for value in found.values()) else None


def events_available() -> bool:
    """Whether :mod:`baton.events` exports everything the kit needs."""
    return _events_api() is not None


def _require() -> dict[str, Any]:
    api = _events_api()
    if api is None:
        raise ConfigError(
            "baton.events does not provide handler/CloudEvent/enqueue/EventRuntime; events are unavailable"
        )
    return api


class EventHooks:
    """The events side of one service: its handlers and the source of the events it emits."""

    def __init__(self, *, source: str) -> None:
        self.source = source
        self.handlers: list[Callable[..., Any]] = []

    def handler(self, type_or_pattern: str, **options: Any) -> Callable[[F], F]:
        """Declare the decorated function a handler (``baton.events.handler``) and remember it."""

        def declare(fn: F) -> F:
            declared = _require()["handler"](type_or_pattern, **options)(fn)
            self.handlers.append(declared)
            return declared  # type: ignore[no-any-return]

        return declare

    async def emit(self, session: AsyncSession, *, type: str, data: Any = None, subject: str | None = None) -> Any:
        """Add a CloudEvent (source = the service) to the outbox in ``session``'s transaction; return it."""
        api = _require()
        event = api["CloudEvent"].create(type=type, source=self.source, data=data, subject=subject)
        await api["enqueue"](session, event)
        return event

    def runtime(self) -> Component:
        """The event runtime component (outbox relay + inbox consumers for the handlers)."""
        runtime: Component = _require()["EventRuntime"](handlers=list(self.handlers), service=self.source)
        return runtime
