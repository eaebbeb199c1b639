"""Spans of the saga engine: one per saga run, one per step attempt and per compensation attempt.

A saga's span (``saga checkout <id>``, INTERNAL) is a child of whatever was current when the saga was started —
the request that placed the order — so the steps' client calls, the services they reach and the events they
publish all land in the request's trace. The span's ``traceparent`` is written into every ``step_started`` /
``compensation_started`` entry of the saga log; a saga resumed after a restart (or by a peer) continues that
trace: its new span is a child of the stored context and links to it, with ``saga.resumed`` set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from baton.saga.records import LogEntry, SagaRecord

__all__ = ["saga_span", "step_span", "stored_traceparent"]

_TRACER_NAME = "baton.saga"
_cache: tuple[trace.TracerProvider | None, trace.Tracer | None] = (None, None)


def _tracer() -> trace.Tracer:
    # One tracer per provider; the provider may be installed after this module was imported.
    global _cache
    provider = trace.get_tracer_provider()
    cached_provider, cached = _cache
    if cached is None or cached_provider is not provider:
        cached = provider.get_tracer(_TRACER_NAME)
        _cache = (provider, cached)
    return cached


def stored_traceparent(entries: Sequence[LogEntry]) -> str | None:
    """The trace context the saga's log carries (the newest one written), if any."""
    for entry in reversed(entries):
        value = entry.payload.get("traceparent") if entry.payload else None
        if isinstance(value, str) and value:
            return value
    return None


@contextlib.contextmanager
def saga_span(record: SagaRecord, entries: Sequence[LogEntry]) -> Iterator[tuple[trace.Span, str | None]]:
    """The span of one run of a saga, current inside the block; yields it and its ``traceparent``."""
    attributes: dict[str, str | int | bool] = {
        "saga.id": record.id,
        "saga.name": record.name,
        "saga.version": record.version,
        "baton.correlation_id": record.correlation_id,
    }
    stored = stored_traceparent(entries)
    parent: Context | None = None
    links: list[Link] = []
    if stored is not None:
        parent = propagate.extract({"traceparent": stored})
        previous = trace.get_current_span(parent).get_span_context()
        if previous.is_valid:
            links.append(Link(previous, {"saga.link": "resumed_from"}))
            attributes["saga.resumed"] = True
        else:
            parent = None
    with _tracer().start_as_current_span(
        f"saga {record.name} {record.id}", context=parent, kind=SpanKind.INTERNAL, attributes=attributes, links=links
    ) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield span, carrier.get("traceparent")


@contextlib.contextmanager
def step_span(record: SagaRecord, step: str, phase: str, attempt: int) -> Iterator[trace.Span]:
    """The span of one attempt of a step's action (``saga step <step>``) or compensation (``saga compensate``)."""
    verb = "step" if phase == "action" else "compensate"
    with _tracer().start_as_current_span(
        f"saga {verb} {step}",
        kind=SpanKind.INTERNAL,
        attributes={
            "saga.id": record.id,
            "saga.name": record.name,
            "saga.step": step,
            "saga.step.phase": phase,
            "saga.step.attempt": attempt,
        },
        record_exception=True,
        set_status_on_exception=True,
    ) as span:
        yield span


def end_attempt(span: trace.Span, *, ok: bool, definite: bool, error: str | None) -> None:
    """Mark how an attempt ended: ``saga.step.outcome`` (succeeded, rejected, failed) and the error status."""
    if ok:
        span.set_attribute("saga.step.outcome", "succeeded")
        return
    span.set_attribute("saga.step.outcome", "rejected" if definite else "failed")
    span.set_status(Status(StatusCode.ERROR, error or None))
