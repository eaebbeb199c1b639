"""The kit's telemetry in one ASGI layer: the SERVER span, the RED metrics and the access-log line of a request.

It does what :class:`~baton.kit.middleware.tracing.TracingMiddleware`, :class:`~baton.kit.middleware.red.
RedMetricsMiddleware` and :class:`~baton.kit.middleware.access_log.AccessLogMiddleware` do in that order, with one
``send`` wrapper, one clock reading and one route lookup instead of three — this path runs for every request.

The span. With a provider built by :func:`baton.telemetry.export.build_provider` (the kit's) the span is not an
SDK ``Span``: the head decision is taken here (the caller's sampled flag, or the provider's ratio on the trace id,
as ``TraceIdRatioBased`` would), the request runs under a ``NonRecordingSpan`` carrying the span's ids (so logs,
outgoing calls and child spans see them), and at the end:

* sampled — a ``ReadableSpan`` is built once and handed to the exporting processor;
* not sampled, 5xx — the same, through the error tail (:meth:`~baton.telemetry.sampling.ErrorTailProcessor.keep`),
  with the child spans it buffered for the trace: errors are always kept;
* not sampled, anything else — nothing is built; the tail drops what it buffered for the trace.

Head sampling only (``BATON_TRACE_KEEP_ERRORS=0``) takes the same path without the error tail: a sampled request
builds its span, an unsampled one nothing, whatever its status.

The access-log line is written by :class:`~baton.telemetry.logging.RequestLogger` with the span's ids at hand (no
lookup of the current span), its fixed part rendered once and no masking pass (no key of it looks secret). Both
paths end a request the same way (:meth:`TelemetryMiddleware._finish`: duration, RED metrics, access line).

The SDK ``Span`` (locks, bounded attributes, processor callbacks on start and end) costs several times more than
this for the same exported data. The price: code that reaches for the current span to set attributes on the
server span (``trace.get_current_span().set_attribute``) sets nothing — start a child span instead. With any
other provider (tests, a user's SDK set-up) the SDK is used as is.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from contextvars import ContextVar
from time import perf_counter, time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation import set_span_in_context
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, TraceState
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.access_log import PROBE_PATHS
from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.context import extract
from baton.telemetry.logging import request_logger
from baton.telemetry.metrics import ActiveRequests, HttpServerMetrics
from baton.telemetry.sampling import Tail, tail_of

__all__ = ["TelemetryMiddleware"]

_ERROR = Status(StatusCode.ERROR)
_UNSET = Status(StatusCode.UNSET)
_NO_PARENT = Context()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_NO_STATE = DEFAULT_TRACE_STATE
_LOW_64 = (1 << 64) - 1
# The module-level generator, not a private ``random.Random()``: Python reseeds it in a forked child, and the
# control plane forks instances from a zygote — private generators would hand every instance the same ids.
_getrandbits = random.getrandbits
_new_span_context = tuple.__new__


def _runtime_context_var() -> ContextVar[Context] | None:
    """The context variable holding OpenTelemetry's current ``Context`` when the default runtime context is in use
    (``OTEL_PYTHON_CONTEXT`` may name another: then ``None``, and the API's ``attach``/``detach`` are used)."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None) if isinstance(runtime, ContextVarsRuntimeContext) else None
    return variable if isinstance(variable, ContextVar) else None


_CURRENT = _runtime_context_var()
# The key the API stores the current span under, found through the API rather than imported (it is private).
(_SPAN_KEY,) = set_span_in_context(INVALID_SPAN, Context())


def _parse_traceparent(value: str) -> tuple[int, int, bool] | None:
    """``(trace_id, parent_span_id, sampled)`` of a valid version-00-compatible ``traceparent``."""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    if parts[0] == "ff" or (parts[0] == "00" and len(parts) != 4):
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, bool(flags & 1)


class TelemetryMiddleware:
    """Trace, measure and log every request but the probes (``/livez``, ``/readyz``, ``/metrics``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpServerMetrics,
        quiet_paths: Iterable[str] = PROBE_PATHS,
        tracer_name: str = "baton.kit",
        logger_name: str = "baton.access",
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.quiet_paths = frozenset(quiet_paths)
        self.tracer_name = tracer_name
        self.log = request_logger(logger_name)
        self._scope = InstrumentationScope(tracer_name)
        self._provider: object = None
        self._tracer: trace.Tracer | None = None
        self._tail: Tail | None = None

    def _refresh(self, provider: trace.TracerProvider) -> None:
        self._tracer = provider.get_tracer(self.tracer_name)
        self._tail = tail_of(provider)
        self._provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope["path"] in self.quiet_paths:
            await self.app(scope, receive, send)
            return
        # Re-read per request (a plain global read) so a provider installed after the app was built is used.
        provider = trace.get_tracer_provider()
        if provider is not self._provider:
            self._refresh(provider)
        traceparent: str | None = None
        tracestate: str | None = None
        for key, value in scope["headers"]:
            if key == b"traceparent":
                traceparent = value.decode("latin-1")
            elif key == b"tracestate":
                tracestate = value.decode("latin-1")
        tail = self._tail
        if tail is None:
            await self._sdk_request(scope, receive, send, traceparent, tracestate)
            return
        # The light path (see the module docstring), in this frame: one coroutine less per request.
        parsed = _parse_traceparent(traceparent) if traceparent else None
        parent: SpanContext | None = None
        if parsed is not None:
            trace_id, parent_id, sampled = parsed
            state = TraceState.from_header([tracestate]) if tracestate else None
            parent = SpanContext(trace_id, parent_id, is_remote=True, trace_flags=_flags(sampled), trace_state=state)
        else:
            trace_id = _getrandbits(128) or 1
            sampled = (trace_id & _LOW_64) < tail.bound
        span_id = _getrandbits(64) or 1
        # SpanContext(trace_id, span_id, False, flags, state) without its Python-level ``__new__``: both ids are
        # valid by construction (non-zero, in range), so ``is_valid`` is True (test_telemetry_middleware pins it).
        own = _new_span_context(
            SpanContext,
            (
                trace_id,
                span_id,
                False,
                _SAMPLED if sampled else _NOT_SAMPLED,
                parent.trace_state if parent is not None else _NO_STATE,
                True,
            ),
        )
        span: trace.Span = NonRecordingSpan(own)
        if _CURRENT is not None:
            # What otel_context.attach(set_span_in_context(span)) does, without its four calls and the copy of an
            # empty context (the usual one here: nothing above this layer attaches one).
            current = _CURRENT.get()
            token = _CURRENT.set(set_span_in_context(span, current) if current else Context({_SPAN_KEY: span}))
        else:
            token = otel_context.attach(set_span_in_context(span))
        method = scope["method"]
        status = StatusRecorder(send)
        active = self.metrics.active_child(method)
        active.inc()
        start_ns = time_ns()
        started = perf_counter()
        try:
            await self.app(scope, receive, status)
        finally:
            route, code, seconds = self._finish(scope, method, status, started, active, (trace_id, span_id))
            if _CURRENT is not None:
                _CURRENT.reset(token)
            else:
                otel_context.detach(token)
            errors = tail.errors
            if sampled or (code >= 500 and errors is not None):
                finished = ReadableSpan(
                    name=f"{method} {route}" if route is not None else method,
                    context=own,
                    parent=parent,
                    resource=tail.resource,
                    attributes=_attributes(scope, method, route, code),
                    kind=SpanKind.SERVER,
                    status=_ERROR if code >= 500 else _UNSET,
                    start_time=start_ns,
                    end_time=start_ns + int(seconds * 1e9),
                    instrumentation_scope=self._scope,
                )
                if sampled:
                    tail.processor.on_end(finished)
                elif errors is not None:
                    errors.keep(finished)
            elif errors is not None:
                errors.discard(trace_id)

    async def _sdk_request(
        self, scope: Scope, receive: Receive, send: Send, traceparent: str | None, tracestate: str | None
    ) -> None:
        assert self._tracer is not None
        carrier = {}
        if traceparent is not None:
            carrier["traceparent"] = traceparent
        if tracestate is not None:
            carrier["tracestate"] = tracestate
        method = scope["method"]
        status = StatusRecorder(send)
        with self._tracer.start_as_current_span(
            method,
            context=extract(carrier) if carrier else _NO_PARENT,
            kind=SpanKind.SERVER,
            attributes=_request_attributes(scope, method),
        ) as span:
            active = self.metrics.active_child(method)
            active.inc()
            started = perf_counter()
            try:
                await self.app(scope, receive, status)
            finally:
                route, code, _ = self._finish(scope, method, status, started, active, None)
                if span.is_recording():
                    if route is not None:
                        span.set_attribute("http.route", route)
                        span.update_name(f"{method} {route}")
                    span.set_attribute("http.response.status_code", code)
                # Semantic conventions: only 5xx marks a server span as an error; 4xx is the client's.
                if code >= 500:
                    span.set_status(_ERROR)

    def _finish(
        self,
        scope: Scope,
        method: str,
        status: StatusRecorder,
        started: float,
        active: ActiveRequests,
        ids: tuple[int, int] | None,
    ) -> tuple[str | None, int, float]:
        """Measure and log a request that ended (both paths): ``(route, status code, seconds)``.

        The duration ends when the last body chunk was handed to the server (:attr:`StatusRecorder.ended`), or now
        when none was (the app raised, or answered nothing).
        """
        seconds = (status.ended or perf_counter()) - started
        active.dec()
        code = status.code
        route = route_template(scope)
        self.metrics.observe(route=route, method=method, status=code, seconds=seconds)
        client = scope.get("client")
        self.log.request(method, scope["path"], route, code, seconds, client[0] if client else None, ids)
        return route, code, seconds


def _flags(sampled: bool) -> TraceFlags:
    return _SAMPLED if sampled else _NOT_SAMPLED


def _attributes(scope: Scope, method: str, route: str | None, code: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "http.response.status_code": code,
    }
    if route is not None:
        attributes["http.route"] = route
    return attributes


def _request_attributes(scope: Scope, method: str) -> dict[str, Any]:
    return {"http.request.method": method, "url.path": scope["path"], "url.scheme": scope.get("scheme", "http")}
