"""CI templates: a GitHub Actions workflow per service, with path filters, running ``baton pipeline`` stages.

The template is ``templates/ci/github-actions.yml`` (``str.format`` placeholders); :func:`render_workflow`
fills it for one service of a manifest. Pull requests run build → integration on an ephemeral staging; ``main``
also runs can-i-deploy and promote on the production machine (a self-hosted runner).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from baton.control.manifest import load_manifest
from baton.errors import DeliveryError

__all__ = ["TEMPLATE", "render_workflow", "template_text"]

TEMPLATE = "github-actions.yml"


def template_text() -> str:
    """The workflow template: ``templates/ci`` of the repository (a source checkout) or the packaged copy."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "templates" / "ci" / TEMPLATE
        if candidate.is_file():
            return candidate.read_text()
    try:
        return resources.files("baton.delivery").joinpath(TEMPLATE).read_text()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise DeliveryError(f"the CI template {TEMPLATE} is not installed") from exc


def render_workflow(manifest: Path, service: str, *, repo: Path | None = None) -> str:
    """The workflow for ``service``; paths are relative to ``repo`` (default: the manifest's git root).

    Raises:
        DeliveryError: unknown service.
    """
    loaded = load_manifest(manifest)
    spec = loaded.services.get(service)
    if spec is None:
        raise DeliveryError(f"unknown service '{service}' in {manifest}")
    source = manifest.resolve()
    root = (repo or _git_root(source.parent)).resolve()
    rel_manifest = os.path.relpath(source, root)
    paths = [rel_manifest, "src/baton/**", "pyproject.toml"]
    if (root / "tests" / "contracts").is_dir():
        # Consumer pacts that live outside any service (the gateway's): a change must re-verify the providers.
        paths.insert(0, "tests/contracts/**")
    if spec.module is not None:
        package = spec.module.split(":", 1)[0].split(".")[:-1]
        if package:
            paths.insert(0, "/".join(package) + "/**")
    home = os.path.relpath(source.parent / ".baton", root)
    return template_text().format(service=service, manifest=rel_manifest, paths=json.dumps(paths), home=home)


def _git_root(start: Path) -> Path:
    for folder in [start, *start.parents]:
        if (folder / ".git").exists():
            return folder
    return start
