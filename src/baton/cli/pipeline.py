"""``baton pipeline``: ship one service through build, tests, contracts, staging, can-i-deploy and promotion.

::

    baton pipeline run order                       # every stage, shown live with timings
    baton pipeline run order --skip promote        # stop before production
    baton pipeline up --env staging                # the staging environment on its own ports and data
    baton pipeline down --env staging
    baton pipeline ci order > .github/workflows/order.yml

A failing stage stops the pipeline; its log is printed and kept under ``.baton/pipelines/<service>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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
from baton.delivery.ci import render_workflow
from baton.delivery.environments import down as env_down
from baton.delivery.environments import environment, running
from baton.delivery.environments import up as env_up
from baton.delivery.pipeline import STAGES, Pipeline, PipelineContext, StageResult, default_stages

app = typer.Typer(help="Per-service pipelines and their environments.", no_args_is_help=True)

_STYLE = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "passed": ("✔", "green"),
    "failed": ("✖", "bold red"),
    "skipped": ("–", "yellow"),
}
STAGE_NAMES = [stage.name for stage in STAGES]


def stages_table(results: list[StageResult]) -> Table:
    """One row per stage: mark, name, time, what happened."""
    table = Table(box=None, pad_edge=False, show_header=False)
    for result in results:
        mark, style = _STYLE.get(result.status, ("?", "white"))
        took = f"{result.seconds:5.1f}s" if result.status not in ("pending", "running") else "     "
        table.add_row(f"[{style}]{mark}[/]", f"[{style}]{result.name}[/]", took, Text(result.detail))
    return table


@app.command("run")
@command
def run(
    service: Annotated[str, typer.Argument(help="The service to ship.")],
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help=f"Stages to leave out: {', '.join(STAGE_NAMES)}.")
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these stages.")] = None,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Run SERVICE's pipeline; exit 1 at the first failing stage (its log is printed)."""
    unknown = sorted(set(skip or []) | set(only or []) - set(STAGE_NAMES))
    if unknown:
        raise typer.BadParameter(f"unknown stage(s) {unknown}; stages are {', '.join(STAGE_NAMES)}")
    left_out = set(skip or []) | ({name for name in STAGE_NAMES if name not in (only or [])} if only else set())
    ctx = PipelineContext.build(file, service)
    pipeline = Pipeline(ctx, default_stages(skip=sorted(left_out)))
    if not json:
        err_console.print(f"[bold]{service}[/] {ctx.version} — pipeline of {ctx.manifest_path}")
    with Live(console=err_console, auto_refresh=False, transient=False) as live:
        if not json:
            pipeline.on_change = lambda results: live.update(stages_table(results), refresh=True)
        results = pipeline.run()
    if json:
        print_json([{**vars(r), "log": str(r.log) if r.log else None} for r in results])
    failed = next((r for r in results if r.status == "failed"), None)
    if failed is None:
        if not json:
            console.print(f"[bold green]✓[/] {service} {ctx.version} shipped ({sum(r.seconds for r in results):.1f}s)")
        return
    if failed.log is not None and failed.log.exists() and not json:
        err_console.print(f"[dim]— {failed.log} (last lines) —[/]")
        for line in failed.log.read_text(errors="replace").splitlines()[-40:]:
            err_console.print(Text(line, style="dim"), soft_wrap=True)
    fail(f"stage {failed.name} failed: {failed.detail}", hint=f"logs in {ctx.logs}")


EnvOption = Annotated[str, typer.Option("--env", help="staging or production.")]


@app.command("up")
@command
def up(env: EnvOption = "staging", file: ManifestOption = DEFAULT_MANIFEST) -> None:
    """Start an environment of the system (its own control plane, NATS, data and ports)."""
    target = environment(file, env)
    if running(target):
        console.print(f"{env} already runs at {target.control_url}")
        return
    env_up(target)
    console.print(f"[bold green]✓[/] {env} ready — control plane {target.control_url} (home {target.home.root})")


@app.command("down")
@command
def down(env: EnvOption = "staging", file: ManifestOption = DEFAULT_MANIFEST) -> None:
    """Stop an environment of the system."""
    stopped = env_down(environment(file, env))
    console.print(f"stopped {stopped} instance(s) of {env}")


@app.command("ci")
@command
def ci(
    service: Annotated[str, typer.Argument(help="The service the workflow ships.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
    file: ManifestOption = DEFAULT_MANIFEST,
) -> None:
    """Print (or write) a GitHub Actions workflow running SERVICE's pipeline, with path filters."""
    text = render_workflow(file, service)
    if output is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")
