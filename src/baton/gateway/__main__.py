"""``python -m baton.gateway --config <file or manifest> [--host H] [--port P] [--registry URL]``.

Serves until SIGTERM/SIGINT, then drains (readiness off, in-flight requests finish, quota counts written).
The config file is watched and hot-reloaded on change.
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

        nats_client = await nats.connect(os.environ.get("BATON_NATS_URL", "nats://127.0.0.1:7722"))
    return registry_from_url(url, nats=nats_client), nats_client


async def run(args: argparse.Namespace) -> int:
    """Serve until a termination signal arrives."""
    config = load_config(args.config)
    port = args.port if args.port is not None else int(os.environ.get("BATON_PORT", config.port))
    if args.no_access_log:
        config = replace(config, access_log=False)
    registry, nats_client = await _registry(args.registry)
    # OverlayGateway: the route table plus the control plane's rollout weights (baton.gateway.overlay).
    gateway = OverlayGateway(config, registry=registry, config_path=args.config, balancer=args.balancer)
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
        return asyncio.run(run(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
