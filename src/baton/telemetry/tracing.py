"""OpenTelemetry tracing for a process: one TracerProvider, a parent-based ratio sampler, optional OTLP export.

Configuration (environment):

``BATON_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``BATON_TELEMETRY_URL``
    Where spans are exported (see :mod:`baton.telemetry.export`). None set: spans are created (so trace ids
    reach logs and outgoing headers) but not exported.
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

from baton.errors import ConfigError
from baton.telemetry.export import build_provider

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
        # build_provider wires every destination (a collector and/or the control plane's receiver) and the
        # keep-errors sampling; a provider built here by hand once ignored BATON_TELEMETRY_URL.
        provider = build_provider(resource, ratio=sample_ratio() if ratio is None else ratio, endpoint=endpoint)
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
