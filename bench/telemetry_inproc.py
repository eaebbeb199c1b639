"""In-process telemetry harness: the kit's per-request Python with telemetry off and on, without sockets.

The hello service of ``bench/telemetry.py`` (a kit ``Service`` answering ``GET /v1/hello``) is driven through its
ASGI app directly — no uvicorn, kernel or load generator — so the CPU time measured is the service's own Python per
request, and what telemetry adds to it shows without the loopback's noise. Modes, as in ``bench/telemetry.py``:
``off`` (the telemetry middleware removed, logging not configured), ``on-10%`` / ``on-100%`` (head ratio 0.1 or
1.0, errors kept, one JSON access line per request into a discarded stream) and ``on-10%-head-only``. Spans go to a
batching processor whose exporter drops them (the exporter's thread and encoding are ``bench/telemetry.py``'s).

Each mode runs in its own process, rounds alternate between modes, and the median of ``time.process_time`` per
request counts. ``--profile MODE`` prints a cProfile of one mode instead.

    .venv/bin/python bench/telemetry_inproc.py [--requests N] [--rounds R] [--profile on-10%]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = {"off": None, "on-10%": "0.1", "on-100%": "1.0", "on-10%-head-only": "0.1:head"}
TICK = 32
"""Requests run concurrently per batch (``bench/telemetry.py`` keeps 32 in flight)."""


def build_app(mode: str, home: str) -> Any:
    """The hello service's ASGI app in ``mode`` (a key of :data:`MODES`)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from baton.kit import InstanceSettings, Service
    from baton.kit.middleware import TelemetryMiddleware
    from baton.telemetry.logging import configure_logging
    from baton.telemetry.sampling import ErrorTailProcessor, keep_errors_sampler, register_tail

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    service = Service("hello")

    @service.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    service.configure(InstanceSettings(service="hello", instance="hello-1", home=Path(home), port=1))
    setting = MODES[mode]
    if setting is None:
        service.app.user_middleware = [m for m in service.app.user_middleware if m.cls is not TelemetryMiddleware]
    else:
        configure_logging(service="hello", instance="hello-1", stream=io.StringIO())
        ratio_text, _, head_only = setting.partition(":")
        ratio = float(ratio_text)
        resource = Resource.create({"service.name": "hello", "service.instance.id": "hello-1"})
        batch = BatchSpanProcessor(Dropped())
        processor = batch if head_only else ErrorTailProcessor(batch)
        sampler = ParentBased(TraceIdRatioBased(ratio)) if head_only else keep_errors_sampler(ratio)
        provider = TracerProvider(resource=resource, sampler=sampler)
        provider.add_span_processor(processor)
        register_tail(provider, ratio=ratio, processor=processor)
        trace.set_tracer_provider(provider)
    return service.app


async def drive(app: Any, requests: int) -> None:
    """Answer ``requests`` GETs of ``/v1/hello``, :data:`TICK` at a time."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/hello",
        "raw_path": b"/v1/hello",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope_base), receive, send)
        if status != 200:
            raise SystemExit(f"unexpected status {status}")

    for _ in range(requests // TICK):
        await asyncio.gather(*(one() for _ in range(TICK)))


def run_mode(mode: str, requests: int, profile: bool) -> float:
    """CPU microseconds per request of ``mode`` (after a warm-up), in this process."""
    with tempfile.TemporaryDirectory(prefix="baton-bench-telemetry-") as home:
        app = build_app(mode, home)

        async def main() -> float:
            # The app's lifespan is not run: routing and the middleware stack build on the first request.
            await drive(app, 2000)
            gc.collect()
            if profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                await drive(app, requests)
                profiler.disable()
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(40)
                return 0.0
            started = time.process_time()
            await drive(app, requests)
            return (time.process_time() - started) / (requests // TICK * TICK) * 1e6

        import uvloop

        return uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", metavar="MODE", choices=list(MODES))
    parser.add_argument("--one", metavar="MODE", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        run_mode(args.profile, args.requests, profile=True)
        return
    if args.one:
        print(json.dumps(run_mode(args.one, args.requests, profile=False)))
        return
    figures: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            output = subprocess.run(
                [sys.executable, __file__, "--one", mode, "--requests", str(args.requests)],
                check=True,
                capture_output=True,
                text=True,
                env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
            ).stdout
            figures[mode].append(float(output.strip().splitlines()[-1]))
    median = {mode: statistics.median(values) for mode, values in figures.items()}
    for mode, value in median.items():
        extra = value - median["off"]
        print(f"{mode:18s} {value:7.1f} us CPU/request  (+{extra:5.1f} us, {value / median['off']:.2f}x)")
    print(json.dumps({"bench": "telemetry_inproc", "us_per_request": {k: round(v, 2) for k, v in median.items()}}))


if __name__ == "__main__":
    main()
