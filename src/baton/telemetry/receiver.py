"""The control plane's OTLP/HTTP trace receiver and trace query API, as a FastAPI router.

::

    store = SqliteSpanStore(default_span_db(home))
    app.include_router(telemetry_router(store))

Routes:

``POST /v1/traces``
    OTLP/HTTP export (``application/x-protobuf`` or ``application/json``, optionally gzip-encoded), as any
    OpenTelemetry exporter sends it when its endpoint is the control plane's base URL.
``GET /v1/telemetry/traces/{trace_id}``
    Every stored span of one trace (``baton trace <id>`` draws them as a waterfall).
``GET /v1/telemetry/traces?service=&operation=&min_duration_ms=&error=&lookback_s=&limit=``
    Recent traces with a span matching the criteria, newest first.
"""

from __future__ import annotations

import dataclasses
import gzip
import time
import zlib
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import Response

from baton.errors import TelemetryError
from baton.telemetry.otlp import decode_json, decode_protobuf, empty_response
from baton.telemetry.spans import SpanRecord, SpanStore, TraceQuery

__all__ = ["MAX_BODY_BYTES", "span_json", "telemetry_router"]

#: Largest (decompressed) export accepted; the SDK's default batch of 512 spans is far below it.
MAX_BODY_BYTES = 16 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"


def span_json(span: SpanRecord) -> dict[str, Any]:
    """A span as the JSON the query API answers with (``duration_ns`` included)."""
    data = dataclasses.asdict(span)
    data["duration_ns"] = span.duration_ns
    return data


def telemetry_router(store: SpanStore, *, max_body_bytes: int = MAX_BODY_BYTES) -> APIRouter:
    """A router receiving OTLP/HTTP traces into ``store`` and answering trace queries from it."""
    router = APIRouter(tags=["telemetry"])

    @router.post("/v1/traces", include_in_schema=False)
    async def receive_traces(request: Request) -> Response:
        is_json = request.headers.get("content-type", _PROTOBUF).split(";")[0].strip().lower() == _JSON
        body = _decompress(await request.body(), request.headers.get("content-encoding", ""), max_body_bytes)
        try:
            spans = decode_json(body) if is_json else decode_protobuf(body)
        except TelemetryError as exc:
            raise HTTPException(status_code=400, detail=exc.message) from exc
        await store.add(spans)
        return Response(empty_response(json=is_json), media_type=_JSON if is_json else _PROTOBUF)

    @router.get("/v1/telemetry/traces/{trace_id}")
    async def get_trace(trace_id: str) -> dict[str, Any]:
        """Every stored span of one trace, by start time."""
        spans = await store.trace(trace_id)
        if not spans:
            raise HTTPException(status_code=404, detail=f"trace {trace_id} is not stored (not sampled, or dropped)")
        return {"trace_id": trace_id.lower(), "spans": [span_json(s) for s in spans]}

    @router.get("/v1/telemetry/traces")
    async def search_traces(
        service: str | None = None,
        operation: str | None = None,
        min_duration_ms: float = Query(default=0.0, ge=0),
        error: bool | None = None,
        lookback_s: float | None = Query(default=None, gt=0, description="Only spans from the last N seconds."),
        limit: int = Query(default=20, ge=1, le=100),
    ) -> list[dict[str, Any]]:
        """Recent traces with a span matching the criteria, newest first."""
        since = None if lookback_s is None else time.time_ns() - int(lookback_s * 1e9)
        query = TraceQuery(
            service=service,
            operation=operation,
            min_duration_ns=int(min_duration_ms * 1e6),
            error=error,
            since_ns=since,
            limit=limit,
        )
        return [dataclasses.asdict(summary) for summary in await store.search(query)]

    return router


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if len(body) > limit:
        raise HTTPException(status_code=413, detail=f"export larger than {limit} bytes")
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise HTTPException(status_code=415, detail=f"unsupported content-encoding {encoding!r}")
    # Bounded inflation: a small gzip bomb must not exhaust the control plane's memory.
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise HTTPException(status_code=400, detail=f"invalid {encoding} body: {exc}") from exc
    if len(data) > limit:
        raise HTTPException(status_code=413, detail=f"export larger than {limit} bytes once decompressed")
    return data
