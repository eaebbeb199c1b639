"""``baton rollout``: release a new version with the service's strategy and watch it like Argo Rollouts.

::

    baton rollout start catalog --wait      # release what baton.yaml now says; follow until it ends
    baton rollout status [catalog] [--watch]
    baton rollout promote catalog [--full]  # skip the current step / switch now / stop the warm old version
    baton rollout abort catalog             # all traffic back on the stable version
    baton rollout undo catalog              # blue-green: switch back at once (the old version is still warm)
    baton rollout preview catalog           # the tester headers that reach the new version through the gateway

``start --wait`` exits 1 when the release ends rolled back or aborted.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from baton.cli.render import (
    DEFAULT_MANIFEST,
    JsonOption,
    ManifestOption,
    command,
    console,
    err_console,
    fail,
    print_json,
)
from baton.cli.target import Target
from baton.control.client import ControlClient

app = typer.Typer(help="Progressive delivery: start, watch, promote, abort and undo releases.", no_args_is_help=True)

ServiceArg = Annotated[str, typer.Argument(help="The service being released.")]
TERMINAL = ("healthy", "rolled_back", "aborted")
_PHASE_STYLE = {
    "progressing": "cyan",
    "paused": "yellow",
    "switched": "magenta",
    "healthy": "bold green",
    "rolled_back": "bold red",
    "aborted": "dim",
}


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 1000:.0f}ms"


def rollout_view(view: dict[str, Any]) -> Group:
    """A rollout as Argo's ``kubectl argo rollouts get`` shows it: versions, weight, steps, analysis."""
    phase = view["phase"]
    style = _PHASE_STYLE.get(phase, "white")
    weight = int(view["weight"])
    bar = "█" * (weight // 5) + "░" * (20 - weight // 5)
    header = Text.from_markup(
        f"[bold]{view['service']}[/] {view['strategy']}  [{style}]{phase}[/]  "
        f"{view['stable_version']} → [bold]{view['new_version']}[/]\n"
        f"weight {bar} {weight}% on {view['new_version']}   {view['message']}"
    )
    steps = Table(box=None, pad_edge=False, show_header=False)
    done = phase == "healthy"
    for i, step in enumerate(view.get("steps") or []):
        if done or i < view["step"]:
            mark = "[green]✔[/]"
        elif i == view["step"] and phase in ("progressing", "paused", "switched"):
            mark = "[cyan]▶[/]"
        elif i == view["step"] and phase in ("rolled_back", "aborted"):
            mark = "[red]✖[/]"
        else:
            mark = "[dim]·[/]"
        steps.add_row(mark, f"setWeight {step}%", "analysis")
    parts: list[Any] = [header, steps]
    analysis = view.get("analysis")
    if analysis:
        checks = Table(header_style="bold", box=None, pad_edge=False)
        for column in ("CHECK", "VALUE", "THRESHOLD", "RESULT"):
            checks.add_column(column)
        for check in analysis["checks"]:
            fmt = _pct if check["name"] == "error_rate" else _ms if check["name"] == "p99" else _times
            result = "[green]pass[/]" if check["ok"] else "[red]fail[/]" if check["ok"] is False else "[dim]n/a[/]"
            checks.add_row(check["name"], fmt(check["value"]), fmt(check["threshold"]), result)
        canary, stable = analysis["canary"], analysis["stable"]
        parts.append(
            Text(
                f"analysis {analysis['verdict']} over {analysis['window']:.0f}s — new {canary['requests']:.0f} req "
                f"{_pct(canary['error_rate'])} 5xx p99 {_ms(canary['p99'])}; stable {stable['requests']:.0f} req "
                f"{_pct(stable['error_rate'])} 5xx p99 {_ms(stable['p99'])}"
            )
        )
        parts.append(checks)
    return Group(*parts)


def _times(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}x"


def _follow(client: ControlClient, service: str, *, timeout: float, show: bool) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with Live(console=err_console, auto_refresh=False, transient=False) as live:
        while True:
            view = client.get(f"/v1/rollouts/{service}")
            if show:
                live.update(rollout_view(view), refresh=True)
            if view["phase"] in TERMINAL:
                return dict(view)
            if time.monotonic() > deadline:
                return dict(view)
            time.sleep(0.5)


@app.command("start")
@command
def start(
    service: ServiceArg,
    strategy: Annotated[str | None, typer.Option(help="rolling, canary or blue_green (default: baton.yaml's).")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Follow the release until it ends.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait follows the release.")] = 1800.0,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Release what baton.yaml now says for SERVICE, with its rollout strategy."""
    client = Target.of(file).client(timeout=120)
    try:
        view = client.post(f"/v1/rollouts/{service}", {"strategy": strategy} if strategy else {})
        if wait:
            view = _follow(client, service, timeout=timeout, show=not json)
    finally:
        client.close()
    if json:
        print_json(view)
    elif not wait:
        console.print(rollout_view(view))
    if wait and view["phase"] in ("rolled_back", "aborted"):
        fail(f"{service} {view['new_version']} {view['phase'].replace('_', ' ')}: {view['message']}")


@app.command("status")
@command
def status(
    service: Annotated[str | None, typer.Argument(help="One service (default: every rollout).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until the rollout ends.")] = False,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Show the current (or last) rollout: phase, weight, steps, latest analysis."""
    client = Target.of(file).client()
    try:
        if watch and service:
            views = [_follow(client, service, timeout=3600, show=not json)]
        else:
            views = [client.get(f"/v1/rollouts/{service}")] if service else client.get("/v1/rollouts")
    finally:
        client.close()
    if json:
        print_json(views if service is None else views[0])
        return
    if not views:
        console.print("no rollout yet — change a service in baton.yaml, then `baton rollout start <service>`")
    for view in views:
        console.print(rollout_view(view))


def _command(service: str, action: str, file: Any, json: bool, body: Any = None) -> None:
    client = Target.of(file).client(timeout=120)
    try:
        view = client.post(f"/v1/rollouts/{service}/{action}", body)
    finally:
        client.close()
    if json:
        print_json(view)
    else:
        console.print(rollout_view(view))


@app.command("promote")
@command
def promote(
    service: ServiceArg,
    full: Annotated[bool, typer.Option("--full", help="Skip every remaining step.")] = False,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Skip the current step's analysis; blue-green: switch now, or stop the warm old version now."""
    _command(service, "promote", file, json, {"full": full})


@app.command("abort")
@command
def abort(service: ServiceArg, file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False) -> None:
    """Move all traffic back to the stable version and stop the new one."""
    _command(service, "abort", file, json)


@app.command("undo")
@command
def undo(service: ServiceArg, file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False) -> None:
    """Switch back to the previous version (instant while blue-green keeps it warm)."""
    _command(service, "undo", file, json)


@app.command("preview")
@command
def preview(service: ServiceArg, file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False) -> None:
    """Print the headers that reach the new version through the gateway (keep them secret)."""
    client = Target.of(file).client()
    try:
        answer = client.get(f"/v1/rollouts/{service}/preview")
    finally:
        client.close()
    if json:
        print_json(answer)
        return
    args = " ".join(f"-H '{name}: {value}'" for name, value in answer["headers"].items())
    console.print(f"curl {args} http://127.0.0.1:7780/…", soft_wrap=True)
