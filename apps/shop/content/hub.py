"""The hub component: loads the content types at start and holds what the APIs work with.

Start fails — before the instance reports ready — when a ``schema.json`` is invalid (the error names the file
and attribute), when ``CONTENT_API_TOKENS`` or ``CONTENT_WEBHOOKS`` is malformed. Then the configured webhooks
are upserted and, with ``CONTENT_SEED``, the demo content is planted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from apps.shop.content.access import Tokens
from apps.shop.content.changes import Announcer, configure_webhooks
from apps.shop.content.documents import Documents
from apps.shop.content.problems import ContentNotFound
from apps.shop.content.query import QueryLimits
from apps.shop.content.schema import ContentType, Registry, load_registry
from apps.shop.content.settings import ContentSettings
from baton.errors import ConfigError
from baton.kit.component import InstanceContext
from baton.telemetry.logging import get_logger

if TYPE_CHECKING:
    from baton.kit import Service

__all__ = ["ContentHub"]

_log = get_logger("content.hub")


class ContentHub:
    """A :class:`~baton.kit.component.Component`: the content types, tokens and document service of the hub."""

    name = "hub"

    def __init__(self, service: Service) -> None:
        self.service = service
        self._registry: Registry | None = None
        self._documents: Documents | None = None
        self._tokens: Tokens | None = None
        self.limits = QueryLimits()
        self.announcer: Announcer | None = None
        self.graphql: Any = None
        """The GraphQL schema over the content types (built at start)."""

    @property
    def settings(self) -> ContentSettings:
        """The hub's settings."""
        settings: ContentSettings = self.service.settings
        return settings

    @property
    def registry(self) -> Registry:
        """The content types (available once started)."""
        if self._registry is None:
            raise ConfigError("the content hub is not started")
        return self._registry

    @property
    def documents(self) -> Documents:
        """The document service (available once started)."""
        if self._documents is None:
            raise ConfigError("the content hub is not started")
        return self._documents

    @property
    def tokens(self) -> Tokens:
        """The API tokens and the public role (available once started)."""
        if self._tokens is None:
            raise ConfigError("the content hub is not started")
        return self._tokens

    def content_type(self, api_id: str) -> ContentType:
        """The content type served at ``/api/<api_id>``.

        Raises:
            ContentNotFound: no type has that API id.
        """
        ctype = self.registry.by_api_id(api_id)
        if ctype is None:
            raise ContentNotFound()
        return ctype

    async def start(self, ctx: InstanceContext) -> None:
        """Load and check the content types, tokens and webhooks; seed the demo content."""
        settings = self.settings
        registry = load_registry(settings.types)
        self.limits = QueryLimits(
            locales=settings.locale_list(),
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        )
        raw_tokens = settings.api_tokens.get_secret_value()
        self._tokens = Tokens.from_settings(raw_tokens, public=settings.public, dev_mode=settings.dev_mode)
        if settings.dev_mode and not raw_tokens.strip():
            _log.warning(
                "content hub: CONTENT_DEV_MODE=true, accepting the well-known dev API tokens; set the secret "
                "content/CONTENT_API_TOKENS for anything but a laptop"
            )
        self.announcer = Announcer(self.service.emit, prefix=settings.event_prefix)
        self._documents = Documents(registry, self.limits, announce=self.announcer)
        self._registry = registry
        from apps.shop.content.graphql.schema import build_schema

        self.graphql = build_schema(
            registry, self.limits, max_depth=settings.graphql_max_depth, max_complexity=settings.graphql_max_complexity
        )
        try:
            declared = json.loads(settings.webhooks) if settings.webhooks else []
            async with self.service.transaction() as session:
                await configure_webhooks(session, declared)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"CONTENT_WEBHOOKS: {exc}") from exc
        if settings.seed:
            from apps.shop.content.seed import seed_content

            created = await seed_content(self.service, self.documents, registry)
            if created:
                _log.info("seeded the demo content", documents=created)
        _log.info("content types loaded", types=sorted(t.singular for t in registry.types.values()))

    async def check(self) -> None:
        """Ready once the content types are loaded."""
        if self._registry is None:
            raise ConfigError("content types not loaded")

    async def drain(self) -> None:
        """Nothing to drain: requests finish on their own."""

    async def stop(self) -> None:
        """Forget the loaded state (a test may start the service again with other settings)."""
        self._registry = None
        self._documents = None
        self._tokens = None
        self.graphql = None
