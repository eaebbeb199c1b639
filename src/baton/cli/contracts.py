"""``baton contracts``: the contract store's matrix, and ``can-i-deploy`` — the gate before promotion.

::

    baton contracts list                                          # pacts and their verification results
    baton contracts can-i-deploy order --version 1.1.0 --to production
    baton contracts record-deployment order --version 1.1.0 --env production

The store is ``$BATON_CONTRACTS_DIR`` or ``.baton/contracts`` beside the manifest (``--store`` overrides).
``can-i-deploy`` exits 0 for yes and 1 for no, with one line per pact looked at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, fail, print_json
from baton.control.home import resolve_home
from baton.delivery.contracts import ContractStore, can_i_deploy

app = typer.Typer(help="Consumer-driven contracts: the pact matrix and can-i-deploy.", no_args_is_help=True)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Contract store folder (default: $BATON_CONTRACTS_DIR or .baton/contracts)."),
]


def store_for(manifest: Path, store: Path | None) -> ContractStore:
    """The contract store of the system described by ``manifest``."""
    if store is not None:
        return ContractStore(store.resolve())
    return ContractStore.from_env(resolve_home(manifest) / "contracts")


@app.command("list")
@command
def list_pacts(file: ManifestOption = DEFAULT_MANIFEST, store: StoreOption = None, json: JsonOption = False) -> None:
    """Every stored pact with the provider versions that verified (✓) or broke (✗) it."""
    contracts = store_for(file, store)
    rows: list[dict[str, Any]] = []
    for pact in contracts.pacts():
        verdicts = [v for v in contracts.verifications() if v.sha == pact.sha and v.provider == pact.provider]
        rows.append(
            {
                "consumer": pact.consumer,
                "consumer_version": pact.consumer_version,
                "provider": pact.provider,
                "verified_by": {v.provider_version: v.success for v in verdicts},
            }
        )
    if json:
        print_json(rows)
        return
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("CONSUMER", "VERSION", "PROVIDER", "VERIFIED BY"):
        table.add_column(column)
    for row in rows:
        marks = ", ".join(f"{'✓' if ok else '✗'} {v}" for v, ok in row["verified_by"].items()) or "[yellow]never[/]"
        table.add_row(row["consumer"], row["consumer_version"], row["provider"], marks)
    console.print(table if rows else f"no pacts in {contracts.root}")


@app.command("can-i-deploy")
@command
def can_i_deploy_command(
    service: Annotated[str, typer.Argument(help="The service to deploy.")],
    version: Annotated[str, typer.Option("--version", help="Its version.")],
    to: Annotated[str, typer.Option("--to", help="Target environment (staging, production).")],
    file: ManifestOption = DEFAULT_MANIFEST,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """Answer yes or no, with reasons, from the verification matrix and what is deployed in the environment."""
    decision = can_i_deploy(store_for(file, store), service, version, to)
    if json:
        print_json(decision.as_dict())
    else:
        verdict = "[bold green]yes[/]" if decision.ok else "[bold red]no[/]"
        console.print(f"can {service} {version} go to {to}? {verdict}")
        for reason in decision.reasons:
            console.print(f"  {reason}", soft_wrap=True)
    if not decision.ok:
        if json:
            raise typer.Exit(1)
        fail(f"{service} {version} cannot be deployed to {to}", hint="verify the pacts above, or fix the break")


@app.command("record-deployment")
@command
def record_deployment(
    service: Annotated[str, typer.Argument(help="The deployed service.")],
    version: Annotated[str, typer.Option("--version", help="Its version.")],
    env: Annotated[str, typer.Option("--env", help="The environment it now runs in.")],
    file: ManifestOption = DEFAULT_MANIFEST,
    store: StoreOption = None,
) -> None:
    """Record that SERVICE runs VERSION in ENV (the pipeline does it after each deploy)."""
    store_for(file, store).record_deployment(env, service, version)
    console.print(f"recorded {service} {version} in {env}")
