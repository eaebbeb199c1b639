"""Events: the embedded broker, the CloudEvents envelope, the event bus, outbox, inbox and dead letters.

Producing: build a :class:`CloudEvent` with ``CloudEvent.create(...)`` and :func:`enqueue` it in the same
transaction as the state change; the :class:`EventRuntime`'s relay publishes it. Consuming: decorate
``async def on_x(event, session)`` with :func:`handler` and give the functions to :class:`EventRuntime`.

The names below are imported on first use (PEP 562): ``baton.events.server`` (the control plane starting
NATS) or ``baton.events.naming`` must not load SQLAlchemy and nats-py with the whole package.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from baton._lazy import lazy_exports

if TYPE_CHECKING:
    from baton.events.broker import Broker, BrokerConfig, broker, connect, open_broker
    from baton.events.bus import ConsumerSpec, Delivery, EventBus, Subscription
    from baton.events.envelope import CloudEvent
    from baton.events.handlers import HandlerDefinition, handler
    from baton.events.inbox import Inbox
    from baton.events.jetstream import JetStreamBus, StreamPolicy
    from baton.events.naming import stream_for, subject_for
    from baton.events.outbox import OutboxRelay, RelayPolicy, enqueue, enqueue_many
    from baton.events.runtime import ConsumerPolicy, EventRuntime

__all__ = [
    "Broker",
    "BrokerConfig",
    "CloudEvent",
    "ConsumerPolicy",
    "ConsumerSpec",
    "Delivery",
    "EventBus",
    "EventRuntime",
    "HandlerDefinition",
    "Inbox",
    "JetStreamBus",
    "OutboxRelay",
    "RelayPolicy",
    "StreamPolicy",
    "Subscription",
    "broker",
    "connect",
    "enqueue",
    "enqueue_many",
    "handler",
    "open_broker",
    "stream_for",
    "subject_for",
]

_HOMES = {
    "Broker": "broker",
    "BrokerConfig": "broker",
    "broker": "broker",
    "connect": "broker",
    "open_broker": "broker",
    "ConsumerSpec": "bus",
    "Delivery": "bus",
    "EventBus": "bus",
    "Subscription": "bus",
    "CloudEvent": "envelope",
    "HandlerDefinition": "handlers",
    "handler": "handlers",
    "Inbox": "inbox",
    "JetStreamBus": "jetstream",
    "StreamPolicy": "jetstream",
    "stream_for": "naming",
    "subject_for": "naming",
    "OutboxRelay": "outbox",
    "RelayPolicy": "outbox",
    "enqueue": "outbox",
    "enqueue_many": "outbox",
    "ConsumerPolicy": "runtime",
    "EventRuntime": "runtime",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _HOMES)


class _Package(types.ModuleType):
    """The package module, keeping ``baton.events.broker`` the *function* once its submodule is imported.

    Importing a submodule binds it on the package; eagerly, ``from .broker import broker`` then rebound the
    name to the function, and callers (``from baton.events import broker``) rely on that.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "broker" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
