"""The incident log hook: warning and error lines of the incident's services, from the instances' log files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from baton.control.home import Home
from baton.control.logtail import tail_lines
from baton.telemetry.incidents import Finder, Incident

__all__ = ["incident_logs"]

_LEVELS = frozenset({"warning", "error", "critical"})


def _notable(line: str) -> tuple[str, str] | None:
    """``(timestamp, line)`` when ``line`` is a JSON record at warning level or above, or a traceback line."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict) and str(record.get("level", "")).lower() in _LEVELS:
            return str(record.get("timestamp", "")), line
        return None
    # Plain lines are a crashing process's stderr (tracebacks): always worth showing, with no time to sort by.
    return ("", line) if line.strip() else None


def incident_logs(
    home: Home, instances: Callable[[], Iterable[Mapping[str, Any]]], *, tail: int = 400, keep: int = 50
) -> Finder:
    """A log hook: the last ``keep`` notable lines of the last ``tail`` lines of each of the incident's
    services' instances, oldest first, each prefixed with its instance."""

    async def find(incident: Incident) -> list[str]:
        services = set(incident.services)
        found: list[tuple[str, str]] = []
        for view in instances():
            if view.get("service") not in services:
                continue
            path = home.log_file(str(view["id"]))
            if not path.exists():
                continue
            for line in tail_lines(path, tail):
                notable = _notable(line)
                if notable is not None:
                    found.append((notable[0], f"{view['id']}: {notable[1]}"))
        found.sort(key=lambda item: item[0])
        return [line for _, line in found[-keep:]]

    return find
