"""Messaging spans of the event path, after the OpenTelemetry semantic conventions for messaging.

* ``create <subject>`` (PRODUCER) when an event is written to the outbox: a child of the span that produced the
  event, and the event's ``traceparent`` is rewritten to it, so everything downstream continues that trace;
* ``send <subject>`` (PRODUCER) when the relay publishes the event to NATS, a child of the creation context;
* ``process <subject>`` (CONSUMER) around the handlers of one delivery (see :mod:`baton.events.inbox`), a child
  of the creation context too, with the delivery count, redelivery and dead-lettering marked.

The ``create`` span lasts the outbox insert; the ``send`` span lasts the pipelined batch the event went out in
(``messaging.batch.message_count`` says how many shared it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from baton.events.envelope import CloudEvent

__all__ = ["consumer_attributes", "created", "event_context", "send_spans", "tracer"]

_cache: tuple[trace.TracerProvider | None, trace.Tracer | None] = (None, None)


def tracer() -> trace.Tracer:
    """The events tracer of the current global provider (cached per provider)."""
    global _cache
    provider = trace.get_tracer_provider()
    cached_provider, cached = _cache
    if cached is None or cached_provider is not provider:
        cached = provider.get_tracer("baton.events")
        _cache = (provider, cached)
    return cached


def event_context(event: CloudEvent) -> Context | None:
    """The trace context an event carries (``None`` when it carries none)."""
    if not event.traceparent:
        return None
    return propagate.extract(event.context_carrier())


def _producer_attributes(event: CloudEvent, operation: str, kind: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "nats",
        "messaging.destination.name": event.nats_subject,
        "messaging.operation.type": kind,
        "messaging.operation.name": operation,
        "messaging.message.id": event.id,
        "cloudevents.event_type": event.type,
        "cloudevents.event_source": event.source,
    }
    if event.correlationid:
        attributes["baton.correlation_id"] = event.correlationid
    return attributes


def created(events: Sequence[CloudEvent]) -> tuple[list[CloudEvent], list[trace.Span]]:
    """Open a ``create`` span per event and return the events re-stamped with its context (and the spans).

    The caller ends the spans once the outbox insert ran. An event without a trace context of its own is
    created under the current span.
    """
    out: list[CloudEvent] = []
    spans: list[trace.Span] = []
    current = tracer()
    for event in events:
        span = current.start_span(
            f"create {event.nats_subject}",
            context=event_context(event),
            kind=SpanKind.PRODUCER,
            attributes=_producer_attributes(event, "create", "create"),
        )
        spans.append(span)
        context = span.get_span_context()
        if not context.is_valid:
            out.append(event)
            continue
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        out.append(
            dataclasses.replace(event, traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
        )
    return out, spans


def send_spans(events: Sequence[CloudEvent]) -> list[trace.Span]:
    """A ``send`` span per event of a relayed batch (the caller ends them after the publish)."""
    current = tracer()
    count = len(events)
    spans = []
    for event in events:
        attributes = _producer_attributes(event, "publish", "send")
        attributes["messaging.batch.message_count"] = count
        spans.append(
            current.start_span(
                f"send {event.nats_subject}",
                context=event_context(event),
                kind=SpanKind.PRODUCER,
                attributes=attributes,
            )
        )
    return spans


def consumer_attributes(event: CloudEvent, subject: str, consumer: str, deliveries: int) -> dict[str, str | int | bool]:
    """The attributes of a ``process`` span."""
    attributes: dict[str, str | int | bool] = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": event.id,
        "messaging.consumer.group.name": consumer,
        "cloudevents.event_type": event.type,
        "cloudevents.event_source": event.source,
        "baton.messaging.delivery_count": deliveries,
        "baton.messaging.redelivered": deliveries > 1,
    }
    if event.correlationid:
        attributes["baton.correlation_id"] = event.correlationid
    return attributes
