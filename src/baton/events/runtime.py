"""The events component of a service instance: outbox relay + one inbox consumer per durable consumer.

::

    service.add(EventRuntime([on_price_changed, on_order_placed], service="inventory"))

``start`` groups the handlers into durable consumers — one per (stream, consumer name): the service's name, a
handler's own ``consumer=``, or ``<service>_<instance>`` for ``broadcast=True`` — binds them, and starts the tasks
it owns: the relay and one fetch loop per consumer. ``drain`` stops fetching; ``stop`` waits for the batch in
hand, flushes the outbox once more and cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from baton.errors import BrokerError, BrokerUnavailable, ConfigError, EventError, StoreError
from baton.events import naming
from baton.events._tasks import raise_if_cancelling
from baton.events.bus import ConsumerSpec, EventBus, Subscription
from baton.events.flows import FlowResponder
from baton.events.handlers import HandlerDefinition, definition_of
from baton.events.inbox import Inbox, purge_inbox
from baton.events.jetstream import JetStreamBus, StreamPolicy
from baton.events.outbox import FaultHook, OutboxRelay, RelayPolicy

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

    from baton.kit.component import InstanceContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    """How the inbox consumers fetch."""

    batch: int = 64
    """Most deliveries handled in one inbox transaction. The transaction holds SQLite's single write lock while
    the handlers run, so bigger batches save little (2 statements per batch: record, commit) and make other writers
    wait. Also the size of the pull request a consumer keeps open
    (:class:`~baton.events.jetstream.JetStreamSubscription`)."""
    fetch_timeout: float = 1.0
    """Seconds one fetch waits for a first message (also the longest a drain waits for a fetch to return, and the
    life of a pull request: a stopping consumer gives back what its open request delivers until it expires)."""
    ack_wait: float = 30.0
    """Seconds a delivery may stay unacknowledged before the broker gives it to another replica."""
    max_ack_pending: int = 1000
    """Unacknowledged deliveries per consumer across replicas."""
    retry_initial: float = 0.1
    """Seconds before re-fetching after the broker was unreachable; doubles up to :attr:`retry_max`."""
    retry_max: float = 2.0
    broadcast_inactive: float = 3600.0
    """Seconds after which the broker deletes an idle broadcast (per-instance) consumer."""
    inbox_retention: float = 14 * 24 * 3600.0
    """Seconds inbox records are kept; longer than streams keep events (7 days by default)."""
    housekeeping_interval: float = 3600.0


def _minimal_filters(subjects: Sequence[str]) -> tuple[str, ...]:
    """Drop subjects covered by another one: JetStream rejects overlapping filters on one consumer."""
    unique = sorted(set(subjects))
    kept = [s for s in unique if not any(o != s and naming.subject_matches(o, s) for o in unique)]
    return tuple(kept)


class EventRuntime:
    """Runs a service's outbox relay and inbox consumers (a :class:`~baton.kit.component.Component`)."""

    name = "events"

    def __init__(
        self,
        handlers: Sequence[Callable[..., Any]],
        *,
        service: str,
        bus: EventBus | None = None,
        relay: bool = True,
        consumer_policy: ConsumerPolicy | None = None,
        relay_policy: RelayPolicy | None = None,
        stream_policy: StreamPolicy | None = None,
        fault: FaultHook | None = None,
    ) -> None:
        """
        Args:
            handlers: ``@handler``-decorated functions.
            service: the service name (names its durable consumers).
            bus: the bus to use; default: a :class:`JetStreamBus` on the instance's NATS connection.
            relay: run the outbox relay (turn off on all but one replica when several share one SQLite file).
            consumer_policy: fetch/ack settings.
            relay_policy: relay batching/polling settings.
            stream_policy: how streams are created (JetStream only).
            fault: chaos hook passed to the relay.

        Raises:
            EventError: a function is not decorated with ``@handler``.
        """
        self.service = service
        self.definitions = [(fn, definition_of(fn)) for fn in handlers]
        self.consumer_policy = consumer_policy or ConsumerPolicy()
        self.relay_policy = relay_policy or RelayPolicy()
        self.stream_policy = stream_policy
        self.fault = fault
        self.run_relay = relay
        self.bus: EventBus | None = bus
        self.relay: OutboxRelay | None = None
        self.inboxes: dict[str, Inbox] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self._draining = asyncio.Event()
        self._nc: NatsClient | None = None
        self._sessions: Any = None
        self._stopped = False
        self.flows: FlowResponder | None = None
        """Answers the control plane's flow queries from this instance's outbox and inbox (NATS only)."""

    def consumer_specs(self, instance: str) -> dict[str, tuple[ConsumerSpec, list[Callable[..., Any]]]]:
        """The durable consumers the handlers need, keyed ``<stream>/<durable>``, with their handlers."""
        groups: dict[tuple[str, str], list[tuple[Callable[..., Any], HandlerDefinition]]] = {}
        for fn, definition in self.definitions:
            base = definition.consumer or self.service
            durable = naming.consumer_name(base, instance=instance if definition.broadcast else None)
            groups.setdefault((definition.stream, durable), []).append((fn, definition))
        specs: dict[str, tuple[ConsumerSpec, list[Callable[..., Any]]]] = {}
        policy = self.consumer_policy
        for (stream, durable), members in groups.items():
            broadcast = any(d.broadcast for _, d in members)
            spec = ConsumerSpec(
                stream=stream,
                durable=durable,
                subjects=_minimal_filters([d.subject for _, d in members]),
                ack_wait=policy.ack_wait,
                max_ack_pending=policy.max_ack_pending,
                inactive_threshold=policy.broadcast_inactive if broadcast else None,
            )
            specs[f"{stream}/{durable}"] = (spec, [fn for fn, _ in members])
        return specs

    async def start(self, ctx: InstanceContext) -> None:
        """Bind the consumers and start the relay and fetch loops.

        Raises:
            ConfigError: the instance has no database, or no NATS connection and no bus was given.
            BrokerError: the broker refused a stream or consumer.
        """
        if ctx.sessions is None:
            raise ConfigError("the events component needs the service database (ctx.sessions)")
        self._sessions = ctx.sessions
        if self.bus is None:
            if ctx.nats is None:
                raise ConfigError("the events component needs NATS: set BATON_NATS_URL (or pass bus=...)")
            self.bus = JetStreamBus(ctx.nats, policy=self.stream_policy)
        if isinstance(self.bus, JetStreamBus):
            self._nc = self.bus.nc
            await self.bus.ensure_dlq()
        ctx.extras["bus"] = self.bus
        ctx.extras["events"] = self
        self._draining.clear()
        self._stopped = False
        for key, (spec, fns) in self.consumer_specs(ctx.instance).items():
            subscription = await self.bus.subscribe(spec)
            inbox = Inbox(ctx.sessions, spec.durable, fns)
            self._subscriptions[key] = subscription
            self.inboxes[key] = inbox
            task = asyncio.create_task(self._consume(subscription, inbox), name=f"events-consumer-{key}")
            self._tasks[f"consumer {key}"] = task
            self._consumer_tasks.append(task)
        if self.run_relay:
            self.relay = OutboxRelay(ctx.sessions, self.bus, policy=self.relay_policy, fault=self.fault)
            self._tasks["outbox relay"] = asyncio.create_task(self.relay.run(), name="events-relay")
        if self._nc is not None and self.flows is None:
            self.flows = FlowResponder(self._nc, ctx.sessions, service=self.service, instance=ctx.instance)
            await self.flows.start()
        if self.inboxes:
            self._tasks["inbox housekeeping"] = asyncio.create_task(self._housekeeping(), name="events-housekeeping")

    async def _consume(self, subscription: Subscription, inbox: Inbox) -> None:
        policy = self.consumer_policy
        delay = policy.retry_initial
        while not self._draining.is_set():
            try:
                deliveries = await subscription.fetch(policy.batch, timeout=policy.fetch_timeout)
            except BrokerError as exc:
                raise_if_cancelling(exc)
                log.warning("consumer %s: %s; fetching again in %.2fs", inbox.consumer, exc, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._draining.wait()
                delay = min(delay * 2, policy.retry_max)
                continue
            delay = policy.retry_initial
            if deliveries:
                await inbox.process(deliveries)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.consumer_policy.housekeeping_interval)
            try:
                await purge_inbox(self._sessions, older_than=self.consumer_policy.inbox_retention)
            except StoreError as exc:
                log.warning("inbox housekeeping: %s", exc)

    async def check(self) -> None:
        """Raise when NATS is disconnected or a relay/consumer task has died."""
        if self._nc is not None and not self._nc.is_connected:
            raise BrokerUnavailable("NATS is disconnected")
        for name, task in self._tasks.items():
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise EventError(f"{name} is not running" + (f": {exc!r}" if exc else ""))

    async def drain(self) -> None:
        """Stop fetching: each consumer finishes the batch in hand (effects committed, acks sent)."""
        self._draining.set()
        if self._consumer_tasks:
            await asyncio.wait(self._consumer_tasks, timeout=self.consumer_policy.fetch_timeout + 5.0)

    async def stop(self) -> None:
        """Drain, flush the outbox once more, cancel every task; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await self.drain()
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            # Bounded: a task that swallowed its cancellation must not hang the instance's shutdown.
            _, stuck = await asyncio.wait(self._tasks.values(), timeout=5.0)
            for name, task in self._tasks.items():
                if task in stuck:
                    log.error("events task %s did not finish within 5 s of its cancellation", name)
        if self.relay is not None:
            with contextlib.suppress(BrokerError, StoreError, TimeoutError):
                async with asyncio.timeout(5.0):
                    while await self.relay.flush_once() >= self.relay_policy.batch_size:
                        pass
            self.relay.close()
        for subscription in self._subscriptions.values():
            await subscription.close()
        if self.flows is not None:
            await self.flows.stop()
            self.flows = None
        self._tasks.clear()
        self._consumer_tasks.clear()
        self._subscriptions.clear()
