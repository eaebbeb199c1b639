"""Output helpers shared by the commands: one console, JSON output, one-line errors, small formatters."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from baton.errors import BatonError

console = Console(highlight=False)
"""Standard output."""
err_console = Console(stderr=True, highlight=False)
"""Standard error: progress, warnings and errors."""

P = ParamSpec("P")
R = TypeVar("R")

ManifestOption = Annotated[
    Path, typer.Option("-f", "--file", help="The system manifest.", envvar="BATON_MANIFEST", show_default=True)
]
DEFAULT_MANIFEST = Path("baton.yaml")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, *, hint: str | None = None, also: Sequence[str] = ()) -> NoReturn:
    """Print one clear error line (then further problems and a hint) to stderr and exit with status 1."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    for other in also:
        err_console.print(f"[dim]  also: {escape(other)}[/]", soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint: {escape(hint)}[/]", soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a :class:`BatonError` into a one-line error and exit status 1 (never a traceback)."""
    try:
        yield
    except BatonError as exc:
        # A manifest with several problems: the first is the error line, the others follow, dimmed.
        fail(exc.message, also=[other.message for other in getattr(exc, "problems", [])[1:]])


def command(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so Baton errors end it with one line and status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with reporting_errors():
            return func(*args, **kwargs)

    return wrapper


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (machine-readable, no colours)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def duration(seconds: float | None) -> str:
    """``3725`` → ``1h2m``; ``None`` → ``-``."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


STATE_STYLES = {
    "running": "green",
    "starting": "yellow",
    "waiting": "dim",
    "backoff": "yellow",
    "crashloop": "bold red",
    "stopping": "magenta",
    "stopped": "dim",
    "unsupervised": "yellow",
    "dead": "red",
}


def state_text(state: str) -> str:
    """Rich markup for an instance state."""
    return f"[{STATE_STYLES.get(state, 'white')}]{state}[/]"
