"""``baton scale`` and ``baton restart``: change a running system without stopping it."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, print_json
from baton.cli.status import instances_table
from baton.cli.target import Target

OPERATION_TIMEOUT = 300.0
"""Seconds the CLI waits for a scale or rolling restart (new replicas must become ready)."""


def parse_scale(pairs: list[str]) -> dict[str, int]:
    """``["web=3", "api=0"]`` → ``{"web": 3, "api": 0}``.

    Raises:
        typer.BadParameter: a pair is not ``service=N`` with ``N`` ≥ 0 (usage error, exit status 2).
    """
    wanted: dict[str, int] = {}
    for pair in pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name or not count.isdigit():
            raise typer.BadParameter(f"expected service=N, got {pair!r}", param_hint="SERVICE=N")
        wanted[name] = int(count)
    return wanted


@command
def scale(
    pairs: Annotated[list[str], typer.Argument(metavar="SERVICE=N...", help="Replica counts, e.g. web=3.")],
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Scale services live: new replicas are ready before old ones stop; the others are untouched."""
    wanted = parse_scale(pairs)
    client = Target.of(file).client(timeout=OPERATION_TIMEOUT)
    results = []
    try:
        for service, replicas in wanted.items():
            answer = client.post(f"/v1/services/{service}/scale", {"replicas": replicas})
            results.append(answer)
            if not json:
                console.print(f"[bold]{service}[/] scaled to {replicas}")
                if answer["instances"]:
                    console.print(instances_table(answer["instances"]))
    finally:
        client.close()
    if json:
        print_json(results)


@command
def restart(
    services: Annotated[list[str], typer.Argument(help="Services to restart, one replica at a time.")],
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Rolling restart: start a new replica, wait until it is ready, then drain and stop an old one."""
    client = Target.of(file).client(timeout=OPERATION_TIMEOUT)
    results = []
    try:
        for service in services:
            answer = client.post(f"/v1/services/{service}/restart")
            results.append(answer)
            if not json:
                console.print(f"[bold]{service}[/] restarted")
                console.print(instances_table(answer["instances"]))
    finally:
        client.close()
    if json:
        print_json(results)
