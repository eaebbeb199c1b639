"""OpenTelemetry tracing for a process: one TracerProvider, a parent-based ratio sampler, optional OTLP export.

Configuration (environment):

``BATON_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
    Base URL of an OTLP/HTTP collector (``http://127.0.0.1:4318``); spans go to ``<base>/v1/traces``.
    Unset: spans are created (so trace ids reach logs and outgoing headers) but not exported.
``BATON_TRACE_SAMPLE``
    Fraction of new traces to sample, 0..1 (default 1.0). Parent-based: an incoming sampled
    ``traceparent`` is always honoured, so one trace stays whole across services.

OpenTelemetry allows one global provider per process, so :func:`configure_tracing` is idempotent: the
first call wins and later calls return the same provider.
"""

from __future__ import annotations

import os
import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from baton.errors import ConfigError

__all__ = ["configure_tracing", "otlp_endpoint", "sample_ratio", "shutdown_tracing", "tracer"]

_lock = threading.Lock()
_provider: TracerProvider | None = None


def otlp_endpoint() -> str | None:
    """The OTLP/HTTP base URL from ``BATON_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``, if any."""
    return os.environ.get("BATON_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def sample_ratio() -> float:
    """The sampling ratio from ``BATON_TRACE_SAMPLE`` (default 1.0).

    Raises:
        ConfigError: the value is not a number between 0 and 1.
    """
    raw = os.environ.get("BATON_TRACE_SAMPLE", "1.0")
    try:
        ratio = float(raw)
    except ValueError:
        raise ConfigError(f"BATON_TRACE_SAMPLE must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"BATON_TRACE_SAMPLE must be between 0 and 1, got {ratio}")
    return ratio


def configure_tracing(
    *,
    service: str,
    instance: str,
    version: str = "dev",
    environment: str = "local",
    endpoint: str | None = None,
    ratio: float | None = None,
) -> TracerProvider:
    """Install the process's TracerProvider (once) and return it.

    Args:
        endpoint: OTLP/HTTP base URL; default from the environment (see module docstring).
        ratio: sampling ratio for new traces; default from ``BATON_TRACE_SAMPLE``.
    """
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        resource = Resource.create(
            {
                "service.name": service,
                "service.instance.id": instance,
                "service.version": version,
                "deployment.environment.name": environment,
            }
        )
        sampler = ParentBased(TraceIdRatioBased(sample_ratio() if ratio is None else ratio))
        provider = TracerProvider(resource=resource, sampler=sampler)
        base = endpoint or otlp_endpoint()
        if base:
            # Imported lazily: the exporter pulls in protobuf, which an instance without a collector never needs.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=base.rstrip("/") + "/v1/traces")
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def tracer(name: str = "baton") -> trace.Tracer:
    """A tracer from the global provider (a no-op tracer until :func:`configure_tracing` ran)."""
    return trace.get_tracer(name)


def shutdown_tracing() -> None:
    """Flush and shut down the provider installed by :func:`configure_tracing` (no-op otherwise)."""
    with _lock:
        if _provider is not None:
            _provider.shutdown()
