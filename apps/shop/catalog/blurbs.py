"""Product pages' marketing copy from the content hub, in the shopper's language, within the same request.

The copy lives in the hub's ``product-blurbs`` (``productId`` = the catalog id, localized), so marketing edits it
without a catalog deploy. The catalog reads it through a cached :class:`~baton.content.ContentClient`: a page
costs no hub round trip once its blurb is cached, and a publish in the hub drops the cached answer (content
events on the bus), so the next page shows it. The page never depends on the hub: when it is down, slow or not
configured, the blurb is ``null`` and the product is served as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from apps.shop.catalog.settings import CatalogSettings
from baton.content import ContentClient
from baton.errors import CallError, UpstreamRejected
from baton.kit.component import InstanceContext
from baton.telemetry.logging import get_logger

__all__ = ["BLURBS", "Blurb", "ContentReader", "ProductBlurbs"]

BLURBS = "product-blurbs"
"""The hub's API id of the product blurbs."""

_log = get_logger("shop.catalog.blurbs")


@dataclass(frozen=True, slots=True)
class Blurb:
    """A product's marketing copy in one locale."""

    headline: str
    blurb: str
    locale: str


class ContentReader(Protocol):
    """What the blurbs need of a content client (:class:`~baton.content.ContentClient` is one)."""

    async def localized(
        self, api_id: str, *, filters: Mapping[str, Any], locale: str | None, fallbacks: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """The first entry matching ``filters`` in ``locale``, else in each fallback; ``None`` if none."""


class ProductBlurbs:
    """A :class:`~baton.kit.component.Component` serving product blurbs (it owns the content client)."""

    name = "blurbs"

    def __init__(self, settings: Callable[[], CatalogSettings], *, reader: ContentReader | None = None) -> None:
        """Args:
        settings: the catalog's settings, read when the instance starts (token, timeout, cache TTL, fallback).
        reader: a ready reader instead of a :class:`ContentClient` built from the settings (tests).
        """
        self._settings = settings
        self._given = reader
        self.reader: ContentReader | None = reader
        self._client: ContentClient | None = None
        self._fallbacks: tuple[str, ...] = ()

    async def start(self, ctx: InstanceContext) -> None:
        """Build the content client from the settings (unless a reader was given) and start it."""
        settings = self._settings()
        self._fallbacks = tuple(p.strip() for p in settings.content_fallbacks.split(",") if p.strip())
        if self._given is not None:
            return
        # optional: a catalog started without a hub (alone, in unit tests) serves pages without blurbs.
        self._client = ContentClient.for_reader(settings)
        await self._client.start(ctx)
        self.reader = self._client

    @property
    def client(self) -> ContentClient | None:
        """The content client this component built (``None`` with a given reader)."""
        return self._client

    async def blurb(self, product_id: str, *, locales: Sequence[str]) -> Blurb | None:
        """The blurb of ``product_id`` in the first of ``locales`` the hub has it in, else in the fallback locales.

        ``None`` when there is none, or when the hub cannot answer in time (the page goes on without it).
        """
        if self.reader is None:
            return None
        wanted = list(dict.fromkeys([*locales, *self._fallbacks]))
        try:
            entry = await self.reader.localized(
                BLURBS,
                filters={"productId": {"$eq": product_id}},
                locale=wanted[0] if wanted else None,
                fallbacks=wanted[1:],
            )
        except UpstreamRejected as exc:
            # The hub refused us (a wrong token, a renamed type): a configuration problem worth a warning.
            _log.warning("content hub refused the blurb read", product_id=product_id, error=str(exc))
            return None
        except CallError as exc:
            # Down, slow or not configured: the breaker and the client's metrics report it, not every page.
            _log.debug("product blurb unavailable", product_id=product_id, error=str(exc))
            return None
        if entry is None:
            return None
        return Blurb(
            headline=str(entry.get("headline") or ""),
            blurb=str(entry.get("blurb") or ""),
            locale=str(entry.get("locale") or ""),
        )

    async def check(self) -> None:
        """Always ready: a page without its blurb is still a page."""

    async def drain(self) -> None:
        """Stop listening to content events."""
        if self._client is not None:
            await self._client.drain()

    async def stop(self) -> None:
        """Close the content client."""
        if self._client is not None:
            await self._client.stop()
            self._client = None
            self.reader = self._given
