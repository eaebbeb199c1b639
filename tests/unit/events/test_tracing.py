"""Messaging spans: the outbox write (create), the relay's publish (send) and the handler (process) of one event
share the producing request's trace; redeliveries and the delivery that dead-letters are marked."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from baton.events import CloudEvent, ConsumerSpec, Inbox, OutboxRelay, enqueue, handler
from baton.events import tracing as events_tracing
from baton.testing.memory_bus import MemoryBus

TYPE = "shop.order.order.confirmed.v1"
SUBJECT = "shop.order.order.confirmed"
SPEC = ConsumerSpec(stream="SHOP_ORDER", durable="mailer", subjects=(SUBJECT,))


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> tuple[InMemorySpanExporter, TracerProvider]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(events_tracing, "tracer", lambda: provider.get_tracer("baton.events"))
    return memory, provider


@handler(TYPE, max_deliver=2, backoff=(0.01,))
async def on_confirmed(event: CloudEvent, session) -> None:
    if event.data.get("poison"):
        raise ValueError("cannot mail")


def one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


async def test_create_send_and_process_continue_the_producing_trace(sessions, exporter) -> None:
    memory, provider = exporter
    with provider.get_tracer("test").start_as_current_span("saga step confirm_order") as producing:
        event = CloudEvent.create(type=TYPE, source="/shop/order", data={"order_id": "o-1"})
        async with sessions() as session, session.begin():
            await enqueue(session, event)
    bus = MemoryBus()
    assert await OutboxRelay(sessions, bus).flush_once() == 1
    subscription = await bus.subscribe(SPEC)
    await Inbox(sessions, "mailer", [on_confirmed]).process(await subscription.fetch(1, timeout=0.1))

    spans = memory.get_finished_spans()
    create = one(spans, f"create {SUBJECT}")
    send = one(spans, f"send {SUBJECT}")
    process = one(spans, f"process {SUBJECT}")
    assert {s.context.trace_id for s in (create, send, process)} == {producing.get_span_context().trace_id}
    assert create.kind is SpanKind.PRODUCER
    assert create.parent is not None
    assert create.parent.span_id == producing.get_span_context().span_id
    # The event on the wire carries the create span's context: send and process are its children.
    (published,) = bus.published()
    assert published.traceparent is not None
    assert published.traceparent.split("-")[2] == format(create.context.span_id, "016x")
    assert send.kind is SpanKind.PRODUCER
    assert send.parent is not None
    assert send.parent.span_id == create.context.span_id
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == create.context.span_id
    attributes = dict(send.attributes or {})
    assert attributes["messaging.system"] == "nats"
    assert attributes["messaging.destination.name"] == SUBJECT
    assert attributes["messaging.operation.type"] == "send"
    assert dict(process.attributes or {})["messaging.operation.type"] == "process"
    assert dict(process.attributes or {})["baton.messaging.redelivered"] is False


async def test_redelivery_and_dead_lettering_are_marked(sessions, exporter) -> None:
    memory, _ = exporter
    bus = MemoryBus()
    await bus.publish([CloudEvent(id="e1", source="/shop/order", type=TYPE, data={"poison": True})])
    subscription = await bus.subscribe(SPEC)
    inbox = Inbox(sessions, "mailer", [on_confirmed])
    for _ in range(2):
        await inbox.process(await subscription.fetch(1, timeout=1.0))
    assert len(bus.dead_letters) == 1

    first, second = [s for s in memory.get_finished_spans() if s.name == f"process {SUBJECT}"]
    assert first.status.status_code is StatusCode.ERROR
    assert dict(first.attributes or {})["baton.messaging.redelivered"] is False
    assert "baton.messaging.dead_lettered" not in dict(first.attributes or {})
    assert dict(second.attributes or {})["baton.messaging.delivery_count"] == 2
    assert dict(second.attributes or {})["baton.messaging.redelivered"] is True
    assert dict(second.attributes or {})["baton.messaging.dead_lettered"] is True
