"""``baton export prometheus|grafana``: the manifest's SLOs and services as files for the engines at scale.

* ``prometheus``: recording and burn-rate alert rules (``baton-slo-rules.yml``) and their ``promtool test rules``
  cases (``baton-slo-rules.test.yml``), see :mod:`baton.deploy.prometheus`;
* ``grafana``: one RED dashboard per service (``baton-<service>.json``), see :mod:`baton.deploy.grafana`.

No control plane is needed: everything comes from ``baton.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, fail, print_json
from baton.control.manifest import load_manifest
from baton.telemetry.slo import slos_from_mapping

app = typer.Typer(help="Render Prometheus rules and Grafana dashboards from baton.yaml.", no_args_is_help=True)

OutputOption = Annotated[
    Path, typer.Option("-o", "--output", help="Directory to write into (created if missing).", file_okay=False)
]


def _report(paths: list[Path], *, json: bool) -> None:
    if json:
        print_json({"files": [str(p) for p in paths]})
        return
    for path in paths:
        console.print(f"wrote {path}")


@app.command("prometheus")
@command
def prometheus(
    output: OutputOption = Path("."), file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False
) -> None:
    """SLO recording + alert rules and their promtool unit tests."""
    from baton.deploy.prometheus import write_prometheus

    manifest = load_manifest(file)
    slos = slos_from_mapping(manifest.slos)
    if not slos:
        fail(f"{file} declares no SLOs", hint="add a `slos:` section (see docs/observability.md)")
    output.mkdir(parents=True, exist_ok=True)
    paths = write_prometheus(slos, output)
    _report(paths, json=json)
    if not json:
        console.print(
            f"[dim]check: promtool check rules {paths[0]} && promtool test rules {paths[-1]}[/]", soft_wrap=True
        )


@app.command("grafana")
@command
def grafana(
    output: OutputOption = Path("."), file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False
) -> None:
    """One RED dashboard per service (with its SLOs' error budgets), as Grafana JSON."""
    from baton.deploy.grafana import write_grafana

    manifest = load_manifest(file)
    output.mkdir(parents=True, exist_ok=True)
    paths = write_grafana(list(manifest.services), output, slos=slos_from_mapping(manifest.slos))
    _report(paths, json=json)
