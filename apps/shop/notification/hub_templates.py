"""E-mail templates from the content hub, so publishing a template changes the next e-mail with no deploy.

The hub's ``email-templates`` entries (``order-confirmed``, ``order-cancelled``) are read through a cached
:class:`~baton.content.ContentClient`; a publish in the hub reaches the client as a content event on the bus and
drops the cached answer, so the next e-mail composed uses the new text. The plain files in ``templates/`` stay the
fallback: when the hub is down, slow, not configured, or has no such published template, the e-mail is composed
from the file (an owed e-mail is never held back by the CMS).

The handler runs inside the inbox transaction, which holds SQLite's write lock: a cached template costs nothing,
a miss one hub read, and ``NOTIFICATION_CONTENT_TIMEOUT`` bounds the worst case (then the breaker fails fast).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from apps.shop.notification.settings import NotificationSettings
from apps.shop.notification.templates import TemplateSource
from baton.content import ContentClient, ContentTemplates
from baton.errors import CallError, ConfigError
from baton.kit.component import InstanceContext
from baton.telemetry.logging import get_logger

__all__ = ["HubTemplates"]

_log = get_logger("shop.notification.templates")


class HubTemplates:
    """A :class:`~baton.kit.component.Component` fetching template snapshots from the content hub."""

    name = "hub_templates"

    def __init__(
        self, settings: Callable[[], NotificationSettings], *, templates: ContentTemplates | None = None
    ) -> None:
        """Args:
        settings: the service's settings, read at start (token, timeout, cache TTL, on/off).
        templates: ready hub templates instead of a client built from the settings (tests).
        """
        self._settings = settings
        self._given = templates
        self.templates: ContentTemplates | None = templates
        self._client: ContentClient | None = None
        self._timeout = 2.0
        self._started = asyncio.Event()

    @property
    def client(self) -> ContentClient | None:
        """The content client this component built (``None`` when disabled or given templates)."""
        return self._client

    async def start(self, ctx: InstanceContext) -> None:
        """Build and start the content client unless the hub is switched off (``NOTIFICATION_CONTENT_TEMPLATES``)."""
        settings = self._settings()
        self._timeout = settings.content_timeout
        if self._given is None and settings.content_templates:
            # optional: alone (or in unit tests) the service runs on its file templates.
            self._client = ContentClient.for_reader(settings)
            await self._client.start(ctx)
            if self._client.http is not None:  # else no hub to be found (the client logged it once)
                self.templates = ContentTemplates(self._client)
        self._started.set()

    async def snapshot(self, names: Iterable[str]) -> TemplateSource | None:
        """The hub's published versions of ``names``, or ``None`` when the files must do (reason logged)."""
        wanted = list(names)
        if not self._started.is_set():
            # The event runtime starts before the service's components: a backlog handled in that moment
            # waits for the client rather than silently using the files.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await self._started.wait()
        if self.templates is None:
            return None  # switched off, or no hub to be found
        try:
            return await self.templates.snapshot(wanted)
        except ConfigError as exc:
            _log.info("template not in the content hub; using the file", templates=wanted, reason=str(exc))
        except CallError as exc:
            _log.warning("content hub unavailable; using the file templates", templates=wanted, reason=str(exc))
        return None

    async def check(self) -> None:
        """Always ready: the file templates cover for the hub."""

    async def drain(self) -> None:
        """Stop listening to content events."""
        if self._client is not None:
            await self._client.drain()

    async def stop(self) -> None:
        """Close the content client."""
        self._started.clear()
        if self._client is not None:
            await self._client.stop()
            self._client = None
        self.templates = self._given
