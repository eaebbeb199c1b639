"""``python -m baton.control``: run the control plane daemon in the foreground (``baton up`` detaches it)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from baton.control.daemon import Daemon, DaemonOptions
from baton.control.home import DEFAULT_CONTROL_PORT, DEFAULT_PORT_BASE, resolve_home
from baton.errors import BatonError
from baton.events.server import DEFAULT_MONITOR_PORT, DEFAULT_PORT


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_options(argv: list[str] | None = None) -> DaemonOptions:
    """Daemon options from the command line, then ``BATON_*`` environment variables, then defaults."""
    parser = argparse.ArgumentParser(prog="python -m baton.control", description=__doc__)
    parser.add_argument("-f", "--file", default="baton.yaml", help="the system manifest")
    parser.add_argument("--home", default=None, help="data directory (default: .baton beside the manifest)")
    parser.add_argument("--control-port", type=int, default=_env_int("BATON_CONTROL_PORT", DEFAULT_CONTROL_PORT))
    parser.add_argument("--port-base", type=int, default=_env_int("BATON_PORT_BASE", DEFAULT_PORT_BASE))
    parser.add_argument("--nats-port", type=int, default=_env_int("BATON_NATS_PORT", DEFAULT_PORT))
    parser.add_argument(
        "--nats-monitor-port",
        type=int,
        default=_env_int("BATON_NATS_MONITOR_PORT", DEFAULT_MONITOR_PORT),
        help="0 disables NATS monitoring",
    )
    parser.add_argument("--environment", default=os.environ.get("BATON_ENVIRONMENT", "local"))
    args = parser.parse_args(argv)
    manifest = Path(args.file)
    return DaemonOptions(
        manifest=manifest,
        home=Path(args.home) if args.home else resolve_home(manifest),
        control_port=args.control_port,
        port_base=args.port_base,
        nats_port=args.nats_port,
        nats_monitor_port=args.nats_monitor_port or None,
        environment=args.environment,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the daemon until it is shut down or signalled; exit status 1 on a Baton error."""
    options = parse_options(argv)
    from baton.telemetry.logging import configure_logging

    configure_logging(service="control", instance="control")
    try:
        daemon = Daemon(options)
        asyncio.run(daemon.run())
    except BatonError as exc:
        print(f"baton control plane: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
