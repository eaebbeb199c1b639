"""``baton logs``: the instances' JSON log lines, pretty-printed, merged, filtered, optionally followed.

Logs are read from ``.baton/logs/<instance>.log`` directly, so they stay readable when the control plane is
down. A JSON line is shown as ``time level instance message [correlation]``; other lines are shown as they
are, prefixed with their instance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from baton.cli.lifecycle import EnvOption, target_for
from baton.cli.render import DEFAULT_MANIFEST, command, console, fail, print_json
from baton.cli.target import Target
from baton.control.logtail import tail_lines

LEVEL_STYLES = {
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}
_SKIP_KEYS = {
    "timestamp",
    "level",
    "event",
    "message",
    "logger",
    "instance",
    "service",
    "correlation_id",
    "trace_id",
    "span_id",
}
"""Keys shown in their own column (or not at all); the others are printed as ``key=value`` after the message."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of one instance's log."""

    instance: str
    text: str
    record: dict[str, Any] | None
    """The decoded JSON object, when the line is one."""

    @classmethod
    def parse(cls, instance: str, text: str) -> LogLine:
        """Decode ``text`` if it is a JSON object."""
        record = None
        if text.startswith("{"):
            try:
                decoded = json.loads(text)
                record = decoded if isinstance(decoded, dict) else None
            except ValueError:
                record = None
        return cls(instance, text, record)

    @property
    def timestamp(self) -> str:
        """ISO timestamp of the record (empty when unknown)."""
        return str((self.record or {}).get("timestamp", ""))

    @property
    def correlation_id(self) -> str | None:
        """The correlation id carried by the record."""
        value = (self.record or {}).get("correlation_id")
        return str(value) if value else None

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form (``--json``)."""
        return {"instance": self.instance, **(self.record or {"message": self.text})}


def render(line: LogLine) -> str:
    """Rich markup for ``line``: time, coloured level, instance, message, short correlation id, extras."""
    if line.record is None:
        return f"[cyan]{escape(line.instance):<12}[/] {escape(line.text)}"
    record = line.record
    level = str(record.get("level", "info")).lower()
    clock = line.timestamp[11:23] if len(line.timestamp) >= 23 else line.timestamp
    extras = " ".join(f"[dim]{escape(str(k))}=[/]{escape(str(v))}" for k, v in record.items() if k not in _SKIP_KEYS)
    corr = f" [magenta]({line.correlation_id[:8]})[/]" if line.correlation_id else ""
    message = escape(str(record.get("event", record.get("message", ""))))
    style = LEVEL_STYLES.get(level, "white")
    return (
        f"[dim]{clock}[/] [{style}]{level[:4].upper():<4}[/] [cyan]{escape(line.instance):<12}[/] "
        f"{message}{corr}{' ' + extras if extras else ''}"
    )


def log_files(target: Target, services: Iterable[str]) -> dict[str, Path]:
    """Log files by instance id, limited to ``services`` (instance ids or service names) when given."""
    wanted = list(services)
    files = {}
    for path in sorted(target.home.logs.glob("*.log")):
        instance = path.stem
        if wanted and not any(instance == w or instance.rsplit("-", 1)[0] == w for w in wanted):
            continue
        files[instance] = path
    return files


def matches(line: LogLine, correlation: str | None) -> bool:
    """Whether ``line`` belongs to the correlation id (prefix match, so the short form works too)."""
    return correlation is None or (line.correlation_id or "").startswith(correlation)


def recent(files: dict[str, Path], count: int) -> list[LogLine]:
    """The last ``count`` lines of each file, merged in time order (undated lines keep their place)."""
    merged: list[tuple[str, int, LogLine]] = []
    for instance, path in files.items():
        previous = ""
        for n, text in enumerate(tail_lines(path, count)):
            line = LogLine.parse(instance, text)
            previous = line.timestamp or previous
            merged.append((previous, n, line))
    merged.sort(key=lambda item: (item[0], item[2].instance, item[1]))
    return [line for _, _, line in merged]


def follow(target: Target, services: list[str], *, poll: float = 0.2) -> Iterator[LogLine]:
    """Yield new lines as instances write them (new instances' files are picked up too). Endless."""
    offsets = {instance: path.stat().st_size for instance, path in log_files(target, services).items()}
    partial: dict[str, bytes] = {}
    while True:
        for instance, path in log_files(target, services).items():
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            start = offsets.get(instance, 0)
            if size < start:  # truncated or replaced: read from the beginning
                start = 0
            if size == start:
                continue
            with open(path, "rb") as handle:
                handle.seek(start)
                data = partial.pop(instance, b"") + handle.read(size - start)
            offsets[instance] = size
            *complete, rest = data.split(b"\n")
            if rest:
                partial[instance] = rest
            for raw in complete:
                yield LogLine.parse(instance, raw.decode("utf-8", errors="replace"))
        time.sleep(poll)


@command
def logs(
    services: Annotated[list[str] | None, typer.Argument(help="Services or instance ids (default: all).")] = None,
    file: Annotated[
        Path, typer.Option("--file", help="The system manifest (-f means --follow here).", envvar="BATON_MANIFEST")
    ] = DEFAULT_MANIFEST,
    follow_: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines.")] = False,
    tail: Annotated[int, typer.Option("-n", "--tail", help="Lines per instance to show first.")] = 50,
    correlation: Annotated[
        str | None, typer.Option("--correlation", "-c", help="Only lines with this correlation id.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON objects, one per line.")] = False,
    env: EnvOption = "production",
) -> None:
    """Show instance logs, pretty-printed; filter by service or correlation id; -f to follow."""
    target = target_for(file, env)
    names = services or []
    files = log_files(target, names)
    if not files and not follow_:
        fail(f"no logs under {target.home.logs}" + (f" for {', '.join(names)}" if names else ""))
    lines = [line for line in recent(files, max(tail, 0)) if matches(line, correlation)] if tail > 0 else []
    if json and not follow_:
        print_json([line.to_json() for line in lines])
        return
    emit = _emitter(json=json)
    for line in lines:
        emit(line)
    if follow_:
        try:
            for line in follow(target, names):
                if matches(line, correlation):
                    emit(line)
        except KeyboardInterrupt:
            return


def _emitter(*, json: bool) -> Callable[[LogLine], None]:
    import json as jsonlib

    def emit(line: LogLine) -> None:
        if json:
            print(jsonlib.dumps(line.to_json(), default=str), flush=True)
        else:
            console.print(render(line), soft_wrap=True)

    return emit
