"""``baton secret``: store secrets for services, through the control plane API.

::

    baton secret set catalog/DB_PASSWORD            # prompts (hidden input, asked twice)
    printf %s "$PW" | baton secret set catalog/DB_PASSWORD --from-stdin
    baton secret list [--json]                      # names and metadata only
    baton secret rm catalog/DB_PASSWORD

A value is never taken from the command line (it would show in ``ps`` and in shell history) and never
printed. ``<service>/<NAME>`` is injected as ``NAME`` into that service's instances when they start;
``_global/<NAME>`` into every service's.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from baton.cli.config import api_call, fail, print_items
from baton.errors import ConfigError
from baton.security.secrets import SecretName

app = typer.Typer(name="secret", help="Secrets injected into service instances at start.", no_args_is_help=True)


def _name(text: str) -> str:
    try:
        return str(SecretName.parse(text))
    except ConfigError as exc:
        fail(exc.message, code=2)


def _read_value(name: str, *, from_stdin: bool) -> str:
    if from_stdin:
        # One trailing newline is what `echo` adds, not part of the secret.
        value = sys.stdin.read().removesuffix("\n")
    elif sys.stdin.isatty():
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        fail("no terminal to prompt on: pipe the value in with --from-stdin", code=2)
    if not value:
        fail("the value is empty", code=2)
    return value


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="<service>/<ENV_NAME> or _global/<ENV_NAME>")],
    from_stdin: Annotated[bool, typer.Option("--from-stdin", help="Read the value from standard input.")] = False,
) -> None:
    """Store a secret (prompted for, hidden; or --from-stdin). The value is never printed."""
    key = _name(name)
    value = _read_value(key, from_stdin=from_stdin)
    api_call("PUT", f"/v1/secrets/{key}", body={"value": value})
    typer.echo(f"stored {key}; instances get it at their next start")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List secret names and when they changed (never values)."""
    items = api_call("GET", "/v1/secrets").json()["items"]
    rows = [(i["name"], f"v{i.get('version') or '?'}  {i.get('updated_at') or ''}") for i in items]
    print_items(items, as_json=as_json, empty="no secrets stored", rows=rows)


@app.command("rm")
def rm(name: Annotated[str, typer.Argument(help="<service>/<ENV_NAME> or _global/<ENV_NAME>")]) -> None:
    """Remove a secret; running instances keep theirs until they restart."""
    key = _name(name)
    if api_call("DELETE", f"/v1/secrets/{key}").status_code == 404:
        fail(f"{key} does not exist")
    typer.echo(f"removed {key}")


if __name__ == "__main__":
    app()
