"""A stand-in for the control plane API: canned answers per path, recorded calls (CLI unit tests)."""

from __future__ import annotations

from typing import Any

from baton.errors import ControlError


class FakeApi:
    """Answers ``get(path, **params)`` from ``answers``; an unknown path is a 404 like the real API's."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, **params: Any) -> Any:
        self.calls.append((path, params))
        if path not in self.answers:
            raise ControlError(f"no route {path}", status=404)
        return self.answers[path]


def install(monkeypatch, answers: dict[str, Any]) -> FakeApi:
    """Make every ``Target.client()`` return one :class:`FakeApi`."""
    from baton.cli.target import Target

    api = FakeApi(answers)
    monkeypatch.setattr(Target, "client", lambda self, **kw: api)
    return api
