"""Events: the embedded broker, the CloudEvents envelope, the event bus, outbox, inbox and dead letters.

Producing: build a :class:`CloudEvent` with ``CloudEvent.create(...)`` and :func:`enqueue` it in the same
transaction as the state change; the :class:`EventRuntime`'s relay publishes it. Consuming: decorate
``async def on_x(event, session)`` with :func:`handler` and give the functions to :class:`EventRuntime`.
"""

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
