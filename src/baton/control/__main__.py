"""``python -m baton.control``: run the control plane daemon in the foreground (``baton up`` detaches it)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from baton.control.home import DEFAULT_CONTROL_PORT, DEFAULT_PORT_BASE, Home, resolve_home
from baton.control.zygote import ForkServer, fork_enabled, start_fork_server
from baton.errors import BatonError
from baton.events.server import DEFAULT_MONITOR_PORT, DEFAULT_PORT

if TYPE_CHECKING:
    from baton.control.daemon import DaemonOptions


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
    from baton.control.daemon import DaemonOptions

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
    """Run the daemon until it is shut down or signalled; exit status 1 on a Baton error.

    The zygote is started before the daemon's own imports (about 0.6 CPU-second), so its preload runs beside them
    on another core instead of after them; the daemon closes it if the manifest has no ``module:`` service.
    """
    zygote = _early_zygote(argv)
    try:
        from baton.control.daemon import Daemon
        from baton.telemetry.logging import configure_logging

        options = parse_options(argv)
        configure_logging(service="control", instance="control")
        daemon = Daemon(options, zygote=zygote)
        zygote = None  # the daemon's now
        asyncio.run(daemon.run())
    except BatonError as exc:
        print(f"baton control plane: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if zygote is not None:
            zygote.close()
    return 0


def _early_zygote(argv: list[str] | None) -> ForkServer | None:
    """A zygote for the daemon's home, started now; ``None`` when forking is off or the arguments are bad."""
    if not fork_enabled():
        return None
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-f", "--file", default="baton.yaml")
    parser.add_argument("--home", default=None)
    known, _ = parser.parse_known_args(argv)
    manifest = Path(known.file).resolve()
    if not manifest.is_file():
        return None  # the daemon reports it
    home = Home(Path(known.home).resolve() if known.home else resolve_home(manifest))
    return start_fork_server(home.root, home.log_file("zygote"))


if __name__ == "__main__":
    sys.exit(main())
