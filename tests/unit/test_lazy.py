"""Importing less: a library's optional extras stay out of the processes that never use them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton._lazy import import_without

_LIBRARY = """
try:
    import fancy_extra
except ImportError:
    fancy_extra = None
"""


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module ``plain_lib`` that imports ``fancy_extra`` when it is installed (both are)."""
    (tmp_path / "plain_lib.py").write_text(_LIBRARY)
    (tmp_path / "fancy_extra.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "plain_lib"
    for name in ("plain_lib", "fancy_extra"):
        sys.modules.pop(name, None)


def test_the_library_is_imported_as_if_the_extra_were_not_installed(library: str):
    import_without(library, "fancy_extra")
    assert sys.modules[library].fancy_extra is None
    assert "fancy_extra" not in sys.modules


def test_the_extra_stays_importable_for_whoever_needs_it(library: str):
    import_without(library, "fancy_extra")
    import fancy_extra  # type: ignore[import-not-found]

    assert fancy_extra.LOADED is True
    assert sys.modules[library].fancy_extra is None


def test_an_extra_already_loaded_is_used_as_usual(library: str):
    import fancy_extra  # type: ignore[import-not-found]

    import_without(library, "fancy_extra")
    assert sys.modules[library].fancy_extra is fancy_extra


def test_an_instance_loads_none_of_the_extras_it_never_uses():
    # A fresh interpreter: what `python -m baton.kit.serve` and the zygote import, Alembic included.
    script = (
        "import sys\n"
        "import baton.kit.serve, baton.kit.migrator\n"
        "baton.kit.migrator.load_alembic()\n"
        "print(sorted(m for m in ('rich', 'pygments', 'watchfiles', 'psutil', 'aiohttp') if m in sys.modules))\n"
        "print('alembic.script' in sys.modules, 'structlog' in sys.modules, 'uvicorn' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["[]", "True True True"], run.stderr
