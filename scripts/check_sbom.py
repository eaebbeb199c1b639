"""Check a CycloneDX SBOM written by ``make sbom``: it parses, is CycloneDX JSON, and names every runtime
dependency of pyproject.toml (so an empty or wrong-environment SBOM fails the build).

Usage: ``python scripts/check_sbom.py build/sbom.cdx.json pyproject.toml``; exit status 1 with one line saying
what is wrong.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def problems(sbom: dict[str, object], pyproject: dict[str, object]) -> list[str]:
    """What is wrong with ``sbom`` (empty when nothing)."""
    if sbom.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX document (bomFormat)"]
    components = sbom.get("components")
    if not isinstance(components, list) or not components:
        return ["no components"]
    named = {_normalise(str(c.get("name", ""))) for c in components if isinstance(c, dict)}
    project = pyproject.get("project")
    wanted = project.get("dependencies", []) if isinstance(project, dict) else []
    missing = []
    for requirement in wanted:
        name = _normalise(re.split(r"[\s\[<>=!~;]", str(requirement), maxsplit=1)[0])
        if name not in named:
            missing.append(name)
    return [f"dependencies missing from the SBOM: {', '.join(sorted(missing))}"] if missing else []


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: check_sbom.py <sbom.cdx.json> <pyproject.toml>", file=sys.stderr)
        return 2
    sbom_path, pyproject_path = Path(argv[0]), Path(argv[1])
    try:
        sbom = json.loads(sbom_path.read_text())
        pyproject = tomllib.loads(pyproject_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"{sbom_path}: cannot read: {exc}", file=sys.stderr)
        return 1
    found = problems(sbom, pyproject)
    if found:
        print(f"{sbom_path}: {'; '.join(found)}", file=sys.stderr)
        return 1
    print(f"{sbom_path}: CycloneDX {sbom.get('specVersion')}, {len(sbom['components'])} components")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
