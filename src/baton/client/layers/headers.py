"""Headers: what every try carries — trace context, correlation id and the remaining deadline.

The service token (``Authorization``) is added by the chain right after, since the token provider is awaited.
"""

from __future__ import annotations

from multidict import CIMultiDict
from opentelemetry import context as otel_context

from baton.client.base import Request
from baton.resilience.deadline import DEADLINE_HEADER, header_value
from baton.telemetry.context import CORRELATION_HEADER, get_correlation_id, inject


def try_headers(request: Request, left: float | None) -> CIMultiDict[str]:
    """The headers of one try: the caller's, plus propagation headers and ``X-Request-Deadline`` (``left`` s).

    Built fresh for each try: the remaining deadline shrinks between tries.
    """
    # A CIMultiDict is what aiohttp builds from a dict anyway: building it here saves that conversion.
    headers: CIMultiDict[str] = CIMultiDict(request.headers)
    if otel_context.get_current():
        inject(headers)
    else:
        # An empty OpenTelemetry context has no span and no baggage, so the propagators would add nothing;
        # skipping them saves a third of the client's own cost per call. The correlation id still travels.
        correlation = get_correlation_id()
        if correlation:
            headers[CORRELATION_HEADER] = correlation
    if left is not None:
        headers[DEADLINE_HEADER] = header_value(left)
    return headers
