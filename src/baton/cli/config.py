"""``baton config``: read and change central configuration through the control plane API.

::

    baton config set catalog.page_size 25      # running catalog instances apply it within a second
    baton config get catalog.page_size
    baton config list [--service catalog] [--json]
    baton config rm catalog.page_size

The API lives at ``$BATON_CONTROL_URL`` (else the address in ``$BATON_HOME/daemon.json``, else
``http://127.0.0.1:7700``) behind the admin token in ``$BATON_HOME/admin-token`` (``BATON_HOME`` defaults to
``.baton``). Exit codes: 0 ok, 1 failure, 2 usage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from baton.control.config import ConfigKey
from baton.errors import ConfigError

DEFAULT_CONTROL_URL = "http://127.0.0.1:7700"

app = typer.Typer(name="config", help="Central configuration, applied live to running services.", no_args_is_help=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print a one-line error and exit with ``code`` (1 failure, 2 usage)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _home() -> Path:
    return Path(os.environ.get("BATON_HOME") or ".baton")


def control_url() -> str:
    """Base URL of the control plane API."""
    explicit = os.environ.get("BATON_CONTROL_URL")
    if explicit:
        return explicit.rstrip("/")
    try:
        port = json.loads((_home() / "daemon.json").read_text())["control_port"]
        return f"http://127.0.0.1:{int(port)}"
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CONTROL_URL


def api_call(
    method: str, path: str, *, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
) -> httpx.Response:
    """One authenticated request to the control plane; exits with a one-line error on any failure.

    Returns only 2xx responses, and 404 ones (callers decide what "not found" means).
    """
    headers = {}
    try:
        token = (_home() / "admin-token").read_text().strip()
        headers["Authorization"] = f"Bearer {token}"
    except OSError:
        pass  # the API answers 401 and the message below says what to do
    url = control_url()
    try:
        with httpx.Client(base_url=url, timeout=10.0, headers=headers) as client:
            response = client.request(method, path, json=body, params=params)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the control plane at {url} ({type(exc).__name__}); is `baton up` running?")
    if response.status_code in (401, 403):
        fail(f"the control plane refused the admin token ({response.status_code}); check {_home()}/admin-token")
    if response.is_success or response.status_code == 404:
        return response
    fail(_detail(response))


def print_items(items: list[Any], *, as_json: bool, empty: str, rows: list[tuple[str, str]]) -> None:
    """Print a listing: ``items`` as JSON with ``--json``, else ``rows`` as aligned columns."""
    if as_json:
        typer.echo(json.dumps(items, indent=2))
    elif not rows:
        typer.echo(empty)
    else:
        width = max(len(name) for name, _ in rows)
        for name, rest in rows:
            typer.echo(f"{name:<{width}}  {rest}")


def _detail(response: httpx.Response) -> str:
    try:
        problem = response.json()
        return str(problem.get("detail") or problem.get("title") or response.status_code)
    except ValueError:
        return f"control plane answered {response.status_code}"


def _key(text: str) -> str:
    try:
        return str(ConfigKey.parse(text))
    except ConfigError as exc:
        fail(exc.message, code=2)


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="<service>.<name> or _global.<name>")],
    value: Annotated[str, typer.Argument(help="The value (a string; JSON for lists and objects).")],
) -> None:
    """Set a key; running instances of the service apply it within a second."""
    response = api_call("PUT", f"/v1/config/{_key(key)}", body={"value": value})
    typer.echo(f"{key} = {value}  (revision {response.json().get('revision')})")


@app.command("get")
def get(key: Annotated[str, typer.Argument(help="<service>.<name> or _global.<name>")]) -> None:
    """Print a key's value."""
    response = api_call("GET", f"/v1/config/{_key(key)}")
    if response.status_code == 404:
        fail(f"{key} is not set")
    typer.echo(response.json()["value"])


@app.command("list")
def list_(
    service: Annotated[str | None, typer.Option(help="Only this service's keys (and the global ones).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys and values."""
    items = api_call("GET", "/v1/config", params={"service": service} if service else None).json()["items"]
    print_items(items, as_json=as_json, empty="no configuration set", rows=[(i["key"], i["value"]) for i in items])


@app.command("rm")
def rm(key: Annotated[str, typer.Argument(help="<service>.<name> or _global.<name>")]) -> None:
    """Remove a key; instances go back to their own value for it."""
    if api_call("DELETE", f"/v1/config/{_key(key)}").status_code == 404:
        fail(f"{key} is not set")
    typer.echo(f"removed {key}")


if __name__ == "__main__":
    app()
