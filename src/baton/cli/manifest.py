"""``baton schema`` and ``baton validate``: the manifest's JSON Schema, and checking a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, print_json
from baton.control.manifest import load_manifest, manifest_schema_json


@command
def schema(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Print the JSON Schema of baton.yaml (point your editor's YAML plugin at it)."""
    text = manifest_schema_json()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"wrote {output}")


@command
def validate(file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False) -> None:
    """Check the manifest: the first problem is reported with file:line, field and a hint (exit 1)."""
    manifest = load_manifest(file)
    if json:
        print_json({"valid": True, "name": manifest.name, "services": sorted(manifest.services)})
        return
    console.print(f"[green]✓[/] {file}: {manifest.name}, {len(manifest.services)} service(s)")
