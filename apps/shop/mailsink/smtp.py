"""The SMTP side of the sink: an aiosmtpd server on the instance's own event loop, as a component.

aiosmtpd's ``Controller`` runs the server in a thread with a loop of its own; here the ``SMTP`` protocol is
served by ``loop.create_server`` on the service's loop instead, so received messages go straight into the
service's database sessions and the server starts and stops with the instance like any component.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from apps.shop.mailsink.service import service, store_message
from apps.shop.mailsink.settings import MailsinkSettings
from baton.errors import ConfigError, StoreError
from baton.kit.component import InstanceContext

log = logging.getLogger(__name__)


class _StoreHandler:
    """aiosmtpd handler: keep each message, answer 451 (try again later) when the database fails."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            async with service.transaction() as db:
                stored = await store_message(
                    db, raw=raw, envelope_from=str(envelope.mail_from or ""), envelope_to=list(envelope.rcpt_tos)
                )
        except StoreError as exc:
            log.warning("mailsink: could not store a message: %s", exc)
            return "451 Requested action aborted: local error in processing"
        # A duplicate Message-ID is still a success for the sender: the message is here, once.
        return "250 Message accepted" if stored else "250 Message already received"


class SmtpSink:
    """A :class:`~baton.kit.component.Component` serving SMTP on ``MAILSINK_SMTP_HOST:MAILSINK_SMTP_PORT``."""

    name = "smtp"

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.port: int | None = None
        """The bound port (useful when the configured port is 0)."""

    async def start(self, ctx: InstanceContext) -> None:
        """Bind the SMTP listener.

        Raises:
            ConfigError: the port cannot be bound.
        """
        settings: MailsinkSettings = service.settings
        handler = _StoreHandler()
        size = settings.max_message_bytes

        def protocol() -> Any:
            return SMTP(handler, data_size_limit=size, hostname="mailsink", ident="Baton mailsink")

        try:
            self._server = await asyncio.get_running_loop().create_server(
                protocol, host=settings.smtp_host, port=settings.smtp_port
            )
        except OSError as exc:
            raise ConfigError(f"mailsink cannot listen on {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        ctx.extras["smtp_port"] = self.port
        log.info("mailsink: SMTP on %s:%d", settings.smtp_host, self.port)

    async def check(self) -> None:
        """Ready while the listener is open."""
        if self._server is None or not self._server.is_serving():
            raise ConfigError("the SMTP listener is not serving")

    async def drain(self) -> None:
        """Stop accepting connections; sessions in progress finish."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        """Close the listener (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # Bounded: an idle client connection must not hold the instance's shutdown.
            try:
                async with asyncio.timeout(2.0):
                    await server.wait_closed()
            except TimeoutError:
                log.info("mailsink: SMTP sessions still open at shutdown")


sink = SmtpSink()
service.add_component(sink)
