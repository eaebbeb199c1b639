"""The JetStream backend of :class:`~baton.events.bus.EventBus`.

Publishing pipelines a batch with ``publish_async`` (``Nats-Msg-Id`` = event id, so a republished event is
dropped by the stream's duplicate window) and awaits the acks with one timeout. Consuming binds durable pull
consumers and guards against two nats.py traps: pull subscriptions are not resumed after a reconnect
(nats-io/nats.py#504), so pull requests are short-lived (they expire with the fetch timeout) and the consumer is
re-ensured whenever the connection's reconnect count moved; and a fetch can outlive its own timeout
(nats-io/nats.py#933), so every wait has a client-side deadline of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
import orjson
from nats.js import api

from baton.errors import BrokerError, BrokerUnavailable
from baton.events import naming
from baton.events._tasks import raise_if_cancelling
from baton.events.bus import ConsumerSpec, Delivery
from baton.events.envelope import CloudEvent

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg

_FETCH_GRACE = 2.0
"""Seconds the outer deadline of a fetch adds to the fetch's own timeout."""
_PENDING_WAIT = 0.02
"""Seconds a fetch holding deliveries waits for the next one the broker reported pending (a competing replica's
request may take it instead)."""
_HEADER_MAX = 2000


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How Baton creates the streams of bounded contexts and the dead-letter stream."""

    duplicate_window: float = 120.0
    """Seconds the stream remembers ``Nats-Msg-Id``s; a relay retry within it is dropped by the broker."""
    max_age: float | None = 7 * 24 * 3600.0
    """Seconds events are kept (replay horizon for new consumers); ``None`` keeps them forever."""
    dlq_max_age: float | None = 30 * 24 * 3600.0
    """Seconds dead letters are kept."""
    replicas: int = 1
    """Stream replicas (use 3 on a NATS cluster)."""


def _broker_error(exc: BaseException, doing: str) -> BrokerError:
    """Translate a nats.py exception into the Baton error tree."""
    unavailable = (
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
        nats.errors.NoRespondersError,
        nats.errors.TimeoutError,
        asyncio.TimeoutError,
    )
    if isinstance(exc, unavailable):
        return BrokerUnavailable(f"{doing}: {type(exc).__name__} {exc}".strip())
    return BrokerError(f"{doing}: {type(exc).__name__} {exc}".strip())


def _header_safe(text: str) -> str:
    # NATS headers are single lines; a traceback's newlines would corrupt the message.
    return " ".join(text.split())[:_HEADER_MAX]


class JetStreamBus:
    """Publish and consume CloudEvents on NATS JetStream over a connection owned by the caller."""

    def __init__(self, nc: NatsClient, *, policy: StreamPolicy | None = None, ack_timeout: float = 5.0) -> None:
        """
        Args:
            nc: a connected client; configure it to reconnect forever (see :func:`baton.events.broker.connect`).
            policy: stream settings.
            ack_timeout: seconds a published batch waits for its acks before the missing ones count as failed.
        """
        self.nc = nc
        self.js = nc.jetstream()
        self.jsm = nc.jsm()
        self.policy = policy or StreamPolicy()
        self.ack_timeout = ack_timeout
        self._streams: set[str] = set()

    async def ensure_stream(self, name: str, subjects: Sequence[str], *, max_age: float | None = None) -> None:
        """Create the stream if missing, or add missing subjects to it; idempotent and cached.

        Raises:
            BrokerError: the broker refused or is unreachable.
        """
        if name in self._streams:
            return
        try:
            try:
                info = await self.jsm.stream_info(name)
            except nats.js.errors.NotFoundError:
                config = api.StreamConfig(
                    name=name,
                    subjects=list(subjects),
                    storage=api.StorageType.FILE,
                    retention=api.RetentionPolicy.LIMITS,
                    duplicate_window=self.policy.duplicate_window,
                    max_age=max_age if max_age is not None else self.policy.max_age,
                    num_replicas=self.policy.replicas,
                )
                with contextlib.suppress(nats.js.errors.BadRequestError):
                    # Another service created it at the same moment: fine, the re-read below settles it.
                    await self.jsm.add_stream(config)
                info = await self.jsm.stream_info(name)
            missing = [s for s in subjects if s not in (info.config.subjects or [])]
            if missing:
                info.config.subjects = [*(info.config.subjects or []), *missing]
                await self.jsm.update_stream(info.config)
        except nats.errors.Error as exc:
            raise _broker_error(exc, f"ensuring stream {name}") from exc
        self._streams.add(name)

    async def ensure_dlq(self) -> None:
        """Create the dead-letter stream ``BATON_DLQ`` if missing."""
        await self.ensure_stream(naming.DLQ_STREAM, [naming.DLQ_PREFIX + ".>"], max_age=self.policy.dlq_max_age or 0.0)

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish a batch pipelined, then await all acks (see :meth:`EventBus.publish`)."""
        if not events:
            return
        if not self.nc.is_connected:
            raise BrokerUnavailable("not connected to NATS; events stay in the outbox", acked=frozenset())
        for stream in {e.stream for e in events}:
            await self.ensure_stream(stream, naming.stream_subjects(stream_subject_of(events, stream)))
        futures: list[asyncio.Future[api.PubAck]] = []
        try:
            for event in events:
                futures.append(
                    await self.js.publish_async(
                        event.nats_subject,
                        event.to_json(),
                        wait_stall=self.ack_timeout,
                        headers={"Nats-Msg-Id": event.id},
                    )
                )
            await asyncio.wait(futures, timeout=self.ack_timeout)
        except nats.errors.Error as exc:
            raise_if_cancelling(exc)
            failure: BaseException = exc
        else:
            failure = BrokerUnavailable(f"no ack within {self.ack_timeout}s")
        acked: set[str] = set()
        for event, future in zip(events, futures, strict=False):
            if not future.done():
                future.cancel()  # releases its slot in nats.py's pending-publish semaphore
            elif not future.cancelled() and future.exception() is None:
                acked.add(event.id)
            elif isinstance(future.exception(), nats.js.errors.NoStreamResponseError):
                self._streams.discard(event.stream)  # the stream vanished (store wiped): re-create next time
                failure = future.exception() or failure
            else:
                failure = future.exception() or failure
        if len(acked) < len(events):
            error = _broker_error(failure, f"{len(events) - len(acked)} of {len(events)} events not stored")
            error.context["acked"] = frozenset(acked)
            raise error

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> api.PubAck:
        """Publish one message and await its ack (dead letters, replays).

        Raises:
            BrokerError: not stored.
        """
        try:
            return await self.js.publish(subject, payload, timeout=self.ack_timeout, headers=headers)
        except nats.errors.Error as exc:
            raise _broker_error(exc, f"publishing to {subject}") from exc

    async def subscribe(self, spec: ConsumerSpec) -> JetStreamSubscription:
        """Create/update the durable consumer and return its subscription (bound lazily, re-bound on reconnect)."""
        subscription = JetStreamSubscription(self, spec)
        await subscription.bind()
        return subscription

    async def close(self) -> None:
        """Nothing to release: the connection belongs to the caller."""
        self._streams.clear()


def stream_subject_of(events: Sequence[CloudEvent], stream: str) -> str:
    """A subject of one of ``events`` on ``stream`` (to derive the stream's subjects from)."""
    return next(e.nats_subject for e in events if e.stream == stream)


class JetStreamDelivery:
    """A JetStream message delivered to a pull consumer."""

    __slots__ = ("_bus", "_event", "_msg")

    def __init__(self, msg: Msg, bus: JetStreamBus) -> None:
        self._msg = msg
        self._bus = bus
        self._event: CloudEvent | None = None

    @property
    def event(self) -> CloudEvent:
        """The decoded event (decoded once)."""
        if self._event is None:
            self._event = CloudEvent.from_json(self._msg.data)
        return self._event

    @property
    def subject(self) -> str:
        """The subject the message was published on."""
        return self._msg.subject

    @property
    def deliveries(self) -> int:
        """The broker's delivery count for this message on this consumer."""
        return int(self._msg.metadata.num_delivered or 1)

    async def ack(self) -> None:
        """Acknowledge (fire-and-forget: a lost ack means a redelivery, which the inbox absorbs)."""
        try:
            await self._msg.ack()
        except nats.errors.Error as exc:
            raise _broker_error(exc, "ack") from exc

    async def nak(self, delay: float = 0.0) -> None:
        """Ask for redelivery after ``delay`` seconds."""
        try:
            await self._msg.nak(delay=delay or None)
        except nats.errors.Error as exc:
            raise _broker_error(exc, "nak") from exc

    async def dead_letter(self, *, consumer: str, error: str) -> None:
        """Publish the original envelope to ``baton.dlq.<consumer>`` with the error headers, then ack."""
        meta = self._msg.metadata
        headers = {
            # Dedup: a dead letter re-sent after a lost ack must not appear twice.
            "Nats-Msg-Id": f"dlq:{consumer}:{meta.stream}:{meta.sequence.stream}",
            "Baton-Consumer": consumer,
            "Baton-Error": _header_safe(error) or "unknown error",
            "Baton-Deliveries": str(self.deliveries),
            "Baton-Subject": self._msg.subject,
            "Baton-Stream": str(meta.stream),
            "Baton-Stream-Seq": str(meta.sequence.stream),
        }
        await self._bus.ensure_dlq()
        await self._bus.publish_raw(naming.dlq_subject(consumer), self._msg.data, headers)
        await self.ack()


class JetStreamSubscription:
    """A durable pull consumer that re-binds itself after reconnects and never waits without a deadline.

    It speaks the pull protocol itself (``$JS.API.CONSUMER.MSG.NEXT``) over one core-NATS inbox instead of
    nats.py's ``PullSubscription.fetch``: that fetch, once it has waited for a first message, keeps waiting for the
    rest of the batch until its timeout, which at a steady trickle of events turns into the latency of every event.

    Here one pull request for ``batch`` messages, expiring after the fetch's timeout, *stays open across fetches*:
    a fetch takes what the open request already delivered, sends a new request only when none is open (the last one
    delivered its batch, expired or was ended by a status), and returns as soon as it holds a message and the
    broker has no more for it right now — each delivery carries the consumer's pending count, so a fetch keeps
    collecting while more are on their way and stops at once after the last one. At a checkout's trickle that is
    one message in and one ack out per event, where a request per fetch cost two more publishes and a status
    message per event (``bench/events_single.py``). Every wait has a client-side deadline (nats-io/nats.py#933);
    pull requests are short-lived, so none is stranded by a reconnect (nats-io/nats.py#504), and after a reconnect
    the consumer is re-ensured and a new request sent. :meth:`close` gives back (naks) what the open request still
    delivers, so a stopping instance leaves nothing to wait out ``ack_wait``.
    """

    def __init__(self, bus: JetStreamBus, spec: ConsumerSpec) -> None:
        self.bus = bus
        self.spec = spec
        self._sub: Any = None
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}"
        self._inbox = ""
        self._bound_at_reconnects = -1
        self._open = 0
        """Messages the open pull request may still deliver (0: no request is open)."""
        self._open_until = 0.0
        """Loop time after which the open request is over even if its end was never seen."""
        self._more = False
        """The last delivery said the consumer had more messages pending."""

    def _consumer_config(self) -> api.ConsumerConfig:
        spec = self.spec
        subjects = list(spec.subjects)
        return api.ConsumerConfig(
            durable_name=spec.durable,
            name=spec.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=spec.ack_wait,
            # Deliveries are counted by Baton (per handler) and dead-lettered by it, so the broker never
            # silently stops redelivering a message.
            max_deliver=-1,
            max_ack_pending=spec.max_ack_pending,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
            inactive_threshold=spec.inactive_threshold,
        )

    async def bind(self) -> None:
        """Ensure stream and consumer exist (create-or-update) and open the inbox the deliveries arrive on.

        Raises:
            BrokerError: the broker refused or is unreachable.
        """
        spec = self.spec
        nc = self.bus.nc
        reconnects = int(nc.stats["reconnects"])
        try:
            await self.bus.ensure_stream(spec.stream, naming.stream_subjects(spec.subjects[0]))
            await self.bus.jsm.add_consumer(spec.stream, config=self._consumer_config())
            if self._sub is None:
                self._inbox = nc.new_inbox()
                self._sub = await nc.subscribe(self._inbox, cb=self._on_msg)
        except nats.errors.Error as exc:
            raise _broker_error(exc, f"binding consumer {spec.durable} on {spec.stream}") from exc
        self._bound_at_reconnects = reconnects
        self._open = 0  # a pull request does not survive a reconnect

    async def _on_msg(self, msg: Msg) -> None:
        self._queue.put_nowait(msg)

    async def _request(self, body: dict[str, Any]) -> None:
        await self.bus.nc.publish(self._next, orjson.dumps(body), reply=self._inbox)

    def _accept(self, msg: Msg, msgs: list[Msg]) -> None:
        """File one message of the inbox: a delivery goes to ``msgs``; a status may end the open request."""
        headers = msg.headers
        status = headers.get(api.Header.STATUS) if headers else None
        if status is None:
            msgs.append(msg)
            self._open -= 1
            try:
                self._more = bool(msg.metadata.num_pending)
            except nats.errors.Error:
                self._more = False
        elif status != "100":  # 100: idle heartbeat
            # 404 no messages / 408 request expired end a request; 409 may mean the consumer was deleted.
            self._open = 0
            self._more = False
            if status == "409" and "deleted" in (headers or {}).get(api.Header.DESCRIPTION, "").lower():
                self._bound_at_reconnects = -1

    def _take(self, msgs: list[Msg], batch: int) -> None:
        """Take what the inbox holds now, up to ``batch`` deliveries."""
        while len(msgs) < batch and not self._queue.empty():
            self._accept(self._queue.get_nowait(), msgs)

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries within ``timeout`` seconds (see :meth:`Subscription.fetch`)."""
        nc = self.bus.nc
        if not nc.is_connected:
            raise BrokerUnavailable("not connected to NATS")
        if self._sub is None or nc.stats["reconnects"] != self._bound_at_reconnects:
            # The server may have lost the consumer (a wiped store) while we were away: ensure it again.
            self.bus._streams.discard(self.spec.stream)
            await self.bind()
        loop = asyncio.get_running_loop()
        msgs: list[Msg] = []
        try:
            self._take(msgs, batch)  # what the open request delivered since the last fetch
            if not msgs and (self._open <= 0 or loop.time() >= self._open_until):
                expires = max(timeout - 0.01, 0.001)
                await self._request({"batch": batch, "expires": int(expires * 1e9)})
                self._open, self._open_until, self._more = batch, loop.time() + timeout + _FETCH_GRACE, False
            # Wait for a first delivery until the request ends; then, briefly, for the ones the broker said are
            # pending (with competing replicas some of them go to the others' requests).
            while len(msgs) < batch and self._open > 0 and (not msgs or self._more):
                deadline = self._open_until if not msgs else min(self._open_until, loop.time() + _PENDING_WAIT)
                try:
                    async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                        msg = await self._queue.get()
                except TimeoutError:
                    break  # past _open_until the next fetch sends a new request: its end was lost
                self._accept(msg, msgs)
                self._take(msgs, batch)
        except nats.errors.Error as exc:
            raise _broker_error(exc, f"fetching from {self.spec.durable}") from exc
        return [JetStreamDelivery(m, self.bus) for m in msgs]

    async def close(self) -> None:
        """Give back what the open pull request delivers until it ends, then unsubscribe.

        The durable consumer stays on the broker for the next start.
        """
        sub, self._sub = self._sub, None
        if sub is None:
            return
        loop = asyncio.get_running_loop()
        held: list[Msg] = []
        with contextlib.suppress(Exception):
            while self.bus.nc.is_connected:
                self._take(held, len(held) + self._queue.qsize())
                remaining = self._open_until - loop.time()
                if self._open <= 0 or remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        self._queue.put_nowait(await self._queue.get())  # filed at the top of the loop
                except TimeoutError:
                    break
            # Only once the request is over: a message nak'ed while it is open would come straight back to it.
            for msg in held:
                await msg.nak()  # redelivered now (to another replica) instead of after ack_wait
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
