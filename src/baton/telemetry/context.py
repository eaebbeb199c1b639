"""Request context that travels with every hop: correlation id and W3C trace context.

Everything that crosses a process boundary (HTTP calls, events, saga steps) uses :func:`inject` on the way
out and :func:`extract` on the way in, so one correlation id and one trace cover a whole business flow.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import propagate

CORRELATION_HEADER = "X-Correlation-ID"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"

_correlation_id: ContextVar[str | None] = ContextVar("baton_correlation_id", default=None)


def new_correlation_id() -> str:
    """A fresh correlation id (UUID4 hex)."""
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    """The correlation id of the work in progress, if any."""
    return _correlation_id.get()


@contextlib.contextmanager
def bind_correlation_id(value: str | None) -> Iterator[str]:
    """Make ``value`` (or a fresh id when ``None``) the current correlation id inside the block."""
    cid = value or new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add ``traceparent``/``tracestate`` (current span) and ``X-Correlation-ID`` to ``carrier``; return it."""
    propagate.inject(carrier)
    cid = _correlation_id.get()
    if cid:
        carrier[CORRELATION_HEADER] = cid
    return carrier


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (``None`` outside any valid span), for storing with work done
    later — a row a poller picks up, say — so that work can join the trace again (see :func:`context_of`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT_HEADER)


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The trace context a stored ``traceparent`` stands for (``None`` for none)."""
    if not traceparent:
        return None
    return propagate.extract({TRACEPARENT_HEADER: traceparent})


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """Return the OpenTelemetry context carried by ``carrier`` (``traceparent``/``tracestate``)."""
    return propagate.extract(carrier)


def correlation_from(carrier: Mapping[str, str]) -> str | None:
    """The correlation id in ``carrier`` (header names compared case-insensitively)."""
    for key, value in carrier.items():
        if key.lower() in ("x-correlation-id", "correlationid"):
            return value
    return None


@contextlib.contextmanager
def attached(carrier: Mapping[str, str]) -> Iterator[str]:
    """Attach the trace context and correlation id found in ``carrier`` for the duration of the block."""
    token = otel_context.attach(extract(carrier))
    try:
        with bind_correlation_id(correlation_from(carrier)) as cid:
            yield cid
    finally:
        otel_context.detach(token)
