"""Headers: the trace context and correlation id every try carries.

The chain adds ``X-Request-Deadline`` (the remaining budget of this very try) and the service token next to them.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from opentelemetry import context as otel_context

from baton.telemetry.context import CORRELATION_HEADER, get_correlation_id, inject


def propagate(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent``/``tracestate`` (current span), baggage and ``X-Correlation-ID`` to ``headers``."""
    if otel_context.get_current():
        inject(headers)
        return
    # An empty OpenTelemetry context has no span and no baggage, so the propagators would add nothing;
    # skipping them saves a third of the client's own cost per call. The correlation id still travels.
    correlation = get_correlation_id()
    if correlation:
        headers[CORRELATION_HEADER] = correlation
