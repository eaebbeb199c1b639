"""``baton cert``: certificates for people. Instances serve mutual TLS only, so opening one's ``/docs`` in a
browser (or calling it with curl) needs a Baton client certificate::

    baton cert operator                      # writes .baton/operator/: cert.pem, key.pem, bundle.pem, operator.p12
    baton cert operator --out ~/baton-cert --hours 2 --json
    baton cert operator --env staging        # from the staging system's CA

The certificate is an ``operator`` leaf from the running control plane's CA (asked with the admin token in
``.baton/admin-token``), valid 12 hours by default. ``operator.p12`` is for a browser's certificate store; its
password is random, printed once and stored nowhere (import the file, then forget the password).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from baton.cli.config import fail
from baton.cli.lifecycle import EnvOption, target_for
from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, print_json
from baton.cli.target import Target
from baton.errors import ControlError, DeliveryError

app = typer.Typer(name="cert", help="Client certificates for calling instances over mutual TLS.", no_args_is_help=True)


@app.command("operator")
@command
def operator(
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory to write to (default: <home>/operator).", show_default=False)
    ] = None,
    hours: Annotated[float, typer.Option("--hours", help="Validity in hours (at most 24).", min=0.1, max=24)] = 12,
    file: ManifestOption = DEFAULT_MANIFEST,
    env: EnvOption = "production",
    json: JsonOption = False,
) -> None:
    """Export a short-lived operator client certificate (PEM + PKCS#12) to open instances' /docs and call them."""
    from baton.security.operator import export_operator_certificate

    try:
        target = target_for(file, env)
    except DeliveryError as exc:
        fail(exc.message, code=2)
    directory = (out or target.home.root / "operator").expanduser()
    if directory.exists() and not directory.is_dir():
        fail(f"--out {directory} is a file, not a directory", code=2)
    info, token = target.daemon(), target.home.admin_token()
    if info is None or token is None:
        raise ControlError(
            f"no control plane runs for {target.manifest} (home {target.home.root}); start it with `baton up`"
        )
    exported = export_operator_certificate(info.url, token, directory, ttl=timedelta(hours=hours))
    example = _example_url(target)
    curl = f"curl --cert {exported.cert} --key {exported.key} --cacert {exported.ca} {example}"
    if json:
        print_json(
            {
                "spiffe_id": exported.spiffe_id,
                "not_after": exported.not_after.isoformat(),
                "cert": str(exported.cert),
                "key": str(exported.key),
                "ca": str(exported.ca),
                "pkcs12": str(exported.pkcs12),
                "pkcs12_password": exported.password,
                "curl": curl,
            }
        )
        return
    left = exported.not_after - datetime.now(UTC)
    console.print(
        f"[bold green]✓[/] operator certificate ({exported.spiffe_id}) in {directory}, "
        f"valid until {exported.not_after:%Y-%m-%d %H:%M} UTC ({left.total_seconds() / 3600:.0f} h)"
    )
    console.print(f"  cert.pem (leaf + issuer), key.pem, bundle.pem (the CA), {exported.pkcs12.name}")
    console.print(f"\n[bold]curl[/]\n  {curl}", soft_wrap=True)
    console.print(
        f"\n[bold]browser[/]\n  import {exported.pkcs12} into the browser's certificates (password below, shown"
        f" once),\n  and trust {exported.ca} as an authority for websites (or accept the warning), then open {example}"
    )
    console.print(f"  password: [bold]{exported.password}[/]", soft_wrap=True)


def _example_url(target: Target) -> str:
    """One instance's ``/docs`` (any service but the gateway), or a placeholder."""
    client = target.client()
    try:
        services: dict[str, str] = client.get("/v1/system").get("urls", {}).get("services", {})
    finally:
        client.close()
    for _, docs in sorted(services.items()):
        if docs.startswith("https://"):
            return docs
    return "https://127.0.0.1:<instance port>/docs"
