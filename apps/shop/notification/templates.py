"""E-mail templates: a small ``TemplateSource`` protocol and its plain-file backend.

A template is a text file whose first line is ``Subject: ...`` and whose rest, after a blank line, is the body;
both use ``string.Template`` placeholders (``${order_ref}``). The content hub is the sibling backend
(:class:`baton.content.TemplateSnapshot`, the same text format), tried first by
:mod:`apps.shop.notification.hub_templates`; the files are its fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Protocol

from baton.errors import ConfigError

__all__ = ["FileTemplates", "Rendered", "TemplateSource", "render"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template filled in: the e-mail's subject and plain-text body."""

    subject: str
    body: str


class TemplateSource(Protocol):
    """Where templates come from."""

    def source(self, name: str) -> str:
        """The raw text of template ``name`` (e.g. ``order_confirmed``).

        Raises:
            ConfigError: there is no such template.
        """


class FileTemplates:
    """Templates as ``<directory>/<name>.txt`` files, read once and kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, str] = {}

    def source(self, name: str) -> str:
        """The text of ``<directory>/<name>.txt``.

        Raises:
            ConfigError: the file is missing or unreadable.
        """
        text = self._cache.get(name)
        if text is None:
            path = self.directory / f"{name}.txt"
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"e-mail template {name!r} not found at {path}: {exc.strerror}") from exc
            self._cache[name] = text
        return text


def render(templates: TemplateSource, name: str, values: dict[str, str]) -> Rendered:
    """Fill template ``name`` with ``values``.

    Raises:
        ConfigError: the template is missing, lacks its ``Subject:`` line, or names an unknown placeholder.
    """
    text = templates.source(name)
    head, _, body = text.partition("\n")
    if not head.startswith("Subject:"):
        raise ConfigError(f"e-mail template {name!r} must start with a 'Subject: ...' line")
    try:
        subject = Template(head.removeprefix("Subject:").strip()).substitute(values)
        filled = Template(body.lstrip("\n")).substitute(values)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"e-mail template {name!r}: unknown or malformed placeholder {exc}") from exc
    return Rendered(subject=subject, body=filled)
