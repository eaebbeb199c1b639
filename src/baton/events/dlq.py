"""Dead letters: events a consumer gave up on, kept in the ``BATON_DLQ`` stream with their error.

A dead letter is the original envelope published on ``baton.dlq.<consumer>`` with headers ``Baton-Consumer``,
``Baton-Error``, ``Baton-Deliveries``, ``Baton-Subject``, ``Baton-Stream`` and ``Baton-Stream-Seq``.
:func:`list_dead_letters` reads them; :func:`replay` puts one back on its original subject (every consumer of
that subject sees it again; those that handled it already drop it in their inbox) and removes it from the DLQ.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import nats.errors
import nats.js.errors

from baton.errors import BrokerError, EventError
from baton.events import naming
from baton.events.envelope import CloudEvent
from baton.events.jetstream import JetStreamBus


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event."""

    seq: int
    """Sequence in ``BATON_DLQ`` (the handle for :func:`replay` and :func:`discard`)."""
    consumer: str
    error: str
    deliveries: int
    subject: str
    """The subject it was originally published on."""
    stream: str
    stream_seq: int
    payload: bytes
    time: dt.datetime | None

    @property
    def event(self) -> CloudEvent | None:
        """The decoded envelope, or ``None`` when the payload was not a CloudEvent (why it died, maybe)."""
        try:
            return CloudEvent.from_json(self.payload)
        except EventError:
            return None


async def list_dead_letters(
    bus: JetStreamBus, *, consumer: str | None = None, limit: int = 100, after: int = 0
) -> list[DeadLetter]:
    """Dead letters in sequence order, optionally of one consumer, starting after sequence ``after``.

    Raises:
        BrokerError: the broker is unreachable.
    """
    await bus.ensure_dlq()
    subject = naming.dlq_subject(consumer) if consumer else naming.DLQ_PREFIX + ".>"
    letters: list[DeadLetter] = []
    seq = after + 1
    try:
        while len(letters) < limit:
            try:
                raw = await bus.jsm.get_msg(naming.DLQ_STREAM, seq=seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                break
            headers = raw.headers or {}
            letters.append(
                DeadLetter(
                    seq=int(raw.seq or seq),
                    consumer=headers.get("Baton-Consumer", ""),
                    error=headers.get("Baton-Error", ""),
                    deliveries=int(headers.get("Baton-Deliveries", "0") or 0),
                    subject=headers.get("Baton-Subject", ""),
                    stream=headers.get("Baton-Stream", ""),
                    stream_seq=int(headers.get("Baton-Stream-Seq", "0") or 0),
                    payload=raw.data or b"",
                    time=raw.time,
                )
            )
            seq = int(raw.seq or seq) + 1
    except nats.errors.Error as exc:
        raise BrokerError(f"reading dead letters: {exc}") from exc
    return letters


async def replay(bus: JetStreamBus, letter: DeadLetter) -> None:
    """Publish the dead letter again on its original subject, then delete it from the DLQ.

    Raises:
        BrokerError: not republished (the dead letter is kept).
    """
    # A fresh Nats-Msg-Id: the original id is probably still inside the stream's duplicate window.
    await bus.publish_raw(letter.subject, letter.payload, {"Nats-Msg-Id": f"replay:{uuid.uuid4()}"})
    await discard(bus, letter)


async def discard(bus: JetStreamBus, letter: DeadLetter) -> None:
    """Delete a dead letter for good.

    Raises:
        BrokerError: the broker refused or is unreachable.
    """
    try:
        await bus.jsm.delete_msg(naming.DLQ_STREAM, letter.seq)
    except nats.errors.Error as exc:
        raise BrokerError(f"deleting dead letter {letter.seq}: {exc}") from exc
