"""``python -m baton.gateway --config <file or manifest> [--host H] [--port P] [--registry URL]``.

Serves until SIGTERM/SIGINT, then drains (readiness off, in-flight requests finish, quota counts written).
The config file is watched and hot-reloaded on change.

Spans: when an export destination is set (``BATON_TELEMETRY_URL`` — the control plane sets it — or an OTLP
endpoint, see :mod:`baton.telemetry.export`) the process's TracerProvider is configured the way the kit does it
(service name ``gateway``, ``BATON_TRACE_SAMPLE``, errors kept), before the gateway is built so its
:class:`~baton.gateway.tracing.EdgeTracer` records real spans. Without one, no SDK is installed and the edge
only mints W3C ids, as before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import replace

from baton.discovery.base import Registry
from baton.errors import ConfigError
from baton.gateway.config import load_config
from baton.gateway.overlay import OverlayGateway
from baton.gateway.policies.jwks import ServiceFetcher, use_service_fetcher


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m baton.gateway", description="Run Baton's API gateway.")
    parser.add_argument("--config", "-c", required=True, help="gateway YAML file or baton.yaml manifest")
    parser.add_argument("--host", default=None, help="interface to bind (default: from config, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: from config, 7780; env BATON_PORT)")
    parser.add_argument("--registry", default=os.environ.get("BATON_GATEWAY_REGISTRY"), help="discovery URL")
    parser.add_argument("--balancer", default="round_robin", help="round_robin, least_outstanding or peak_ewma")
    parser.add_argument("--no-access-log", action="store_true", help="do not write JSON access logs")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds in-flight requests get on shutdown")
    return parser


async def _registry(url: str | None) -> tuple[Registry | None, object | None]:
    if not url:
        return None, None
    from baton.discovery import registry_from_url

    nats_client = None
    if url.startswith(("nats-kv://", "nats_kv://")):
        import nats

        from baton.kit.bus import nats_tls  # NATS requires a Baton certificate under the control plane

        nats_client = await nats.connect(os.environ.get("BATON_NATS_URL", "nats://127.0.0.1:7722"), tls=nats_tls())
    return registry_from_url(url, nats=nats_client), nats_client


def _configure_tracing() -> bool:
    """Install the span exporting TracerProvider when spans have somewhere to go; return whether it did."""
    from baton.telemetry.export import export_urls

    if not export_urls():
        return False
    from baton.telemetry.tracing import configure_tracing

    configure_tracing(
        service="gateway",
        instance=os.environ.get("BATON_INSTANCE") or f"gateway-{os.getpid()}",
        version=os.environ.get("BATON_VERSION", "dev"),
        environment=os.environ.get("BATON_ENVIRONMENT", "local"),
    )
    return True


async def run(args: argparse.Namespace) -> int:
    """Serve until a termination signal arrives."""
    config = load_config(args.config)
    port = args.port if args.port is not None else int(os.environ.get("BATON_PORT", config.port))
    if args.no_access_log:
        config = replace(config, access_log=False)
    from baton.security.wiring import InstanceSecurity

    security = InstanceSecurity.current()  # None without BATON_TLS_DIR: plain HTTP upstreams
    registry, nats_client = await _registry(args.registry)
    # Issuers inside the system (jwks_url: baton://identity/...) are found like upstreams, reached like them.
    use_service_fetcher(ServiceFetcher(registry, security, static=config.services))
    # OverlayGateway: the route table plus the control plane's rollout weights (baton.gateway.overlay).
    gateway = OverlayGateway(
        config,
        registry=registry,
        config_path=args.config,
        balancer=args.balancer,
        freeze_heap=True,
        security=security,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start(args.host or config.host, port)
    print(f"baton gateway listening on {gateway.url}", file=sys.stderr, flush=True)
    await stop.wait()
    await gateway.aclose(grace=args.grace)
    if nats_client is not None:
        with contextlib.suppress(Exception):
            await nats_client.close()  # type: ignore[attr-defined]
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit code 0 on a clean stop, 2 on a bad config."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("BATON_LOG_LEVEL", "INFO"), stream=sys.stderr)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        pass
    try:
        traced = _configure_tracing()
    except ConfigError as exc:  # e.g. a malformed BATON_TRACE_SAMPLE
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if traced:
            from baton.telemetry.tracing import shutdown_tracing

            # Flushes the spans of the last requests before the process exits.
            shutdown_tracing()


if __name__ == "__main__":
    sys.exit(main())
