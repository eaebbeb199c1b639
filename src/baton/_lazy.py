"""Import less: lazy package exports, and imports that leave a library's optional extras out.

:func:`lazy_exports` (PEP 562): a package names where each public name lives, and loads it on first use.
Importing ``baton.kit`` then costs only the package itself; FastAPI, SQLAlchemy or nats load when a name that
needs them is first touched. Each package's ``__init__`` does::

    __getattr__, __dir__ = lazy_exports(__name__, __all__, {"Service": "service", ...})

:func:`import_without`: several libraries import an optional extra eagerly when it is installed (structlog
loads rich and pygments for console tracebacks, nats-py loads aiohttp for ``ws://``), and every process that
imports them pays for it in memory and start-up time even though it never uses the extra.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["import_without", "lazy_exports"]


def lazy_exports(
    package: str, public: Sequence[str], homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package``, which finds ``name`` in ``package.homes[name]``."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        vars(sys.modules[package])[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__


def import_without(module: str, *optional: str) -> None:
    """Import ``module`` as if the modules ``optional`` were not installed (each must be an extra ``module``
    guards with ``try: import ... except ImportError``).

    Only the first import decides: when ``module`` or one of ``optional`` is loaded already, ``module`` is imported
    as usual. ``optional`` stays importable afterwards for whoever needs it; only ``module``'s use of it stays off.
    """
    if module in sys.modules or any(name in sys.modules for name in optional):
        importlib.import_module(module)
        return
    for name in optional:
        sys.modules[name] = None  # type: ignore[assignment]  # makes ``import name`` raise ImportError
    try:
        importlib.import_module(module)
    finally:
        for name in optional:
            del sys.modules[name]
