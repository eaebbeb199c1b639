"""The kit's ASGI middleware, one class per module, composed in one place: :func:`kit_middleware`."""

from __future__ import annotations

import importlib
from typing import Any

from starlette.middleware import Middleware

from baton.kit.middleware.access_log import AccessLogMiddleware
from baton.kit.middleware.correlation import CorrelationIdMiddleware
from baton.kit.middleware.errors import ProblemMiddleware
from baton.kit.middleware.red import RedMetricsMiddleware
from baton.kit.middleware.telemetry import TelemetryMiddleware
from baton.kit.middleware.tracing import TracingMiddleware
from baton.telemetry.metrics import HttpServerMetrics

__all__ = [
    "AccessLogMiddleware",
    "CorrelationIdMiddleware",
    "ProblemMiddleware",
    "RedMetricsMiddleware",
    "TelemetryMiddleware",
    "TracingMiddleware",
    "kit_middleware",
]


def _deadline_middleware() -> Any:
    # The resilience package owns the deadline; the kit runs without it when it is absent.
    try:
        module = importlib.import_module("baton.resilience.deadline")
    except ImportError:
        return None
    return getattr(module, "DeadlineMiddleware", None)


def kit_middleware(*, metrics: HttpServerMetrics) -> list[Middleware]:
    """The kit's middleware, outermost first. The order is the design:

    1. correlation id — first, so every later layer (span attributes, metrics exemplars, log lines, error
       bodies) sees the request's id, including requests rejected further in;
    2. telemetry (:class:`TelemetryMiddleware`, one layer doing what ``TracingMiddleware``,
       ``RedMetricsMiddleware`` and ``AccessLogMiddleware`` do, in that order): the server span encloses
       everything measured and logged so their lines carry its ids; RED metrics measure what the client
       experiences, errors and deadline rejections included; one access-log line per request, with the final
       status;
    3. deadline (``baton.resilience.deadline``) — rejects or cancels work past the caller's
       ``X-Request-Deadline``; inside the layers above so a 504 is traced, counted and logged;
    4. problem+json — innermost, turning unhandled exceptions into a 500 problem before any layer above
       sees the response, so they all record the 500 the client really got.
    """
    chain = [
        Middleware(CorrelationIdMiddleware),
        Middleware(TelemetryMiddleware, metrics=metrics),
    ]
    deadline = _deadline_middleware()
    if deadline is not None:
        chain.append(Middleware(deadline))
    chain.append(Middleware(ProblemMiddleware))
    return chain
