"""Text templates kept as hub entries, so publishing a template changes the next message with no deploy.

An ``email-template`` entry is ``{name, subject, body}``; :class:`ContentTemplates` reads it in the wanted
locale (falling back to the default) through the cached :class:`~baton.content.client.ContentClient` and
returns it as ``"Subject: ...\\n\\n<body>"`` — the format of the notification service's template files — so
it is a drop-in sibling of a file backend. :meth:`ContentTemplates.snapshot` gives a synchronous source for
code that renders synchronously (fetch first, render after).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from baton.content.client import ContentClient
from baton.errors import ConfigError

__all__ = ["ContentTemplates", "TemplateSnapshot"]


def _hyphens(name: str) -> str:
    return name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class TemplateSnapshot:
    """Templates fetched beforehand, served synchronously (``source(name) -> str``)."""

    texts: Mapping[str, str]

    def source(self, name: str) -> str:
        """The text of template ``name``.

        Raises:
            ConfigError: it was not fetched (or does not exist in the hub).
        """
        try:
            return self.texts[name]
        except KeyError:
            raise ConfigError(f"template {name!r} is not in the content hub") from None


class ContentTemplates:
    """Templates read from the content hub's ``email-templates`` (or another type with name/subject/body)."""

    def __init__(
        self,
        client: ContentClient,
        *,
        api_id: str = "email-templates",
        locale: str | None = None,
        fallbacks: Iterable[str] = ("en",),
        name_of: Callable[[str], str] = _hyphens,
    ) -> None:
        """Args:
        locale: the locale to read (``None``: the hub's default).
        fallbacks: locales tried in turn when a template has no version in ``locale``.
        name_of: maps the caller's template names to entry names (``order_confirmed`` → ``order-confirmed``).
        """
        self.client = client
        self.api_id = api_id
        self.locale = locale
        self.fallbacks = tuple(fallbacks)
        self.name_of = name_of

    async def text(self, name: str, *, locale: str | None = None) -> str:
        """``"Subject: <subject>\\n\\n<body>"`` of the published template ``name``.

        Raises:
            ConfigError: the hub has no such published template.
        """
        entry = await self.client.localized(
            self.api_id,
            filters={"name": {"$eq": self.name_of(name)}},
            locale=locale or self.locale,
            fallbacks=self.fallbacks,
        )
        if entry is None:
            raise ConfigError(f"template {name!r} is not published in the content hub")
        return f"Subject: {entry.get('subject', '')}\n\n{entry.get('body', '')}"

    async def snapshot(self, names: Iterable[str], *, locale: str | None = None) -> TemplateSnapshot:
        """Fetch ``names`` now; serve them synchronously afterwards."""
        return TemplateSnapshot({name: await self.text(name, locale=locale) for name in names})
