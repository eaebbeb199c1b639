"""Where a process's spans go: OTLP/HTTP to a collector and/or to the control plane's receiver.

Configuration (environment):

``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
    Full URL of a collector's trace endpoint (used as is), per the OpenTelemetry spec.
``BATON_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
    Base URL of an OTLP/HTTP collector (Jaeger, Tempo, an OTel Collector); spans go to ``<base>/v1/traces``.
``BATON_TELEMETRY_URL``
    Base URL of the control plane (``http://127.0.0.1:7700``), whose receiver stores spans for the dashboard and
    ``baton trace``. The control plane sets it for every instance it starts. Spans go there as OTLP JSON through
    :class:`~baton.telemetry.otlp_json.JsonSpanExporter`; collectors get the reference protobuf exporter.
``BATON_TRACE_KEEP_ERRORS``
    ``1`` (default): traces the head sampler dropped are still exported when a span fails
    (see :mod:`baton.telemetry.sampling`); ``0``: pure head sampling, slightly cheaper.

The kit's :func:`baton.telemetry.tracing.configure_tracing` builds its provider with :func:`build_provider`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from baton.telemetry.sampling import ErrorTailProcessor, keep_errors_sampler, register_tail

__all__ = ["build_provider", "export_urls", "exporters_from_env", "keep_errors", "span_processor"]


def export_urls(*, endpoint: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The OTLP/HTTP trace URLs spans should be sent to (deduplicated, in a stable order).

    Args:
        endpoint: an explicit collector base URL, taking the place of the environment's.
    """
    env = os.environ if environ is None else environ
    urls: list[str] = []
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = endpoint or env.get("BATON_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint is None and full:
        urls.append(full)
    elif base:
        urls.append(_traces_url(base))
    control = env.get("BATON_TELEMETRY_URL")
    if control:
        urls.append(_traces_url(control))
    return list(dict.fromkeys(urls))


def exporters_from_env(*, endpoint: str | None = None, environ: Mapping[str, str] | None = None) -> list[SpanExporter]:
    """One OTLP/HTTP exporter per URL of :func:`export_urls` (empty when nothing is configured)."""
    urls = export_urls(endpoint=endpoint, environ=environ)
    env = os.environ if environ is None else environ
    control = env.get("BATON_TELEMETRY_URL")
    receiver = _traces_url(control) if control else None
    exporters: list[SpanExporter] = []
    for url in urls:
        if url == receiver:
            # The control plane's receiver reads OTLP JSON: a standard-library exporter, no protobuf or requests.
            from baton.telemetry.otlp_json import JsonSpanExporter

            exporters.append(JsonSpanExporter(url))
        else:
            # Imported lazily: the reference exporter pulls in protobuf and requests (~8 MB per process).
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter(endpoint=url))
    return exporters


def keep_errors(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``BATON_TRACE_KEEP_ERRORS`` (default on) asks for errors to be kept past head sampling."""
    env = os.environ if environ is None else environ
    return env.get("BATON_TRACE_KEEP_ERRORS", "1").strip().lower() not in ("0", "false", "no", "off")


def span_processor(exporters: list[SpanExporter], *, errors: bool = True) -> SpanProcessor:
    """One batching processor per exporter (a slow collector never delays the other), behind the error tail
    processor when ``errors`` is set."""
    processors: list[SpanProcessor] = [BatchSpanProcessor(exporter) for exporter in exporters]
    if len(processors) == 1:
        combined = processors[0]
    else:
        multi = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
        for processor in processors:
            multi.add_span_processor(processor)
        combined = multi
    return ErrorTailProcessor(combined) if errors else combined


def build_provider(
    resource: Resource,
    *,
    ratio: float,
    endpoint: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TracerProvider:
    """A TracerProvider with the sampler and exporters the environment asks for.

    Without any exporter the plain parent-based ratio sampler is used: nothing would be exported, so recording
    unsampled spans for the error tail would only cost CPU.
    """
    exporters = exporters_from_env(endpoint=endpoint, environ=environ)
    errors = bool(exporters) and keep_errors(environ)
    sampler: Sampler = keep_errors_sampler(ratio) if errors else ParentBased(TraceIdRatioBased(ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporters:
        processor = span_processor(exporters, errors=errors)
        provider.add_span_processor(processor)
        # The kit's telemetry middleware takes the head decision itself for providers registered here, in both
        # modes: with the error tail, and head sampling only.
        register_tail(provider, ratio=ratio, processor=processor)
    return provider


def _traces_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"
