"""The sender: claims owed e-mails, hands them to the mail server, marks them sent (a component).

It works like the outbox relay: the state to act on is in the database, the loop polls it, and a failure only
delays the work. Retries back off exponentially up to ``NOTIFICATION_RETRY_MAX`` seconds and never stop: a
confirmed order's customer must get the e-mail once the mail server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from apps.shop.notification.mailer import Mailer, SmtpMailer
from apps.shop.notification.service import Notification, claim_due, email_of, mark_failed, mark_sent, service
from apps.shop.notification.settings import NotificationSettings
from baton.errors import EventError, StoreError
from baton.kit.component import InstanceContext
from baton.telemetry.context import context_of

log = logging.getLogger(__name__)

# Anything shaped like an address: a mail server's refusal quotes the recipient (SMTPRecipientsRefused).
_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")


def scrubbed(error: str) -> str:
    """``error`` without e-mail addresses: it goes to the log, the span and the stored ``last_error``.

    A recipient is personal data; the notification and order ids say which message failed.
    """
    return _ADDRESS.sub("<recipient>", error)


def retry_delay(attempts: int, *, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4 … capped at ``cap``."""
    return float(min(cap, 2.0 ** max(attempts - 1, 0)))


def _smtp_span(notification: Notification, settings: NotificationSettings) -> trace.Span:
    """An ``smtp send`` CLIENT span for one e-mail, in the trace of the event that owed it.

    It lasts the batch the message went out in (one SMTP connection for the batch).
    """
    return trace.get_tracer("apps.shop.notification").start_span(
        "smtp send",
        context=context_of(notification.traceparent),
        kind=SpanKind.CLIENT,
        attributes={
            "server.address": settings.smtp_host,
            "server.port": settings.smtp_port,
            "network.protocol.name": "smtp",
            "shop.order_id": notification.order_id,
            "shop.notification.id": notification.id,
            "shop.notification.kind": notification.kind,
        },
    )


class MailSender:
    """A :class:`~baton.kit.component.Component` owning the send loop."""

    name = "mail_sender"

    def __init__(self, mailer: Mailer | None = None) -> None:
        """``mailer`` defaults to SMTP at ``NOTIFICATION_SMTP_HOST:NOTIFICATION_SMTP_PORT``."""
        self._given = mailer
        self.mailer: Mailer | None = mailer
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self, ctx: InstanceContext) -> None:
        """Start the send loop."""
        settings: NotificationSettings = service.settings
        if self._given is None:
            self.mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(settings), name="notification-sender")

    async def send_due(self, settings: NotificationSettings, *, now: float | None = None) -> int:
        """Send one batch of due notifications; returns how many the mail server accepted."""
        assert self.mailer is not None
        now = time.time() if now is None else now
        async with service.transaction() as session:
            claimed = await claim_due(session, now=now, limit=settings.batch, lease=settings.lease)
        if not claimed:
            return 0
        spans = [_smtp_span(n, settings) for n in claimed]
        try:
            results = await self.mailer.send([email_of(n, from_address=settings.sender) for n in claimed])
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.end()
            raise
        results = [None if error is None else scrubbed(error) for error in results]
        for span, error in zip(spans, results, strict=True):
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error[:200]))
            span.end()
        sent = [n.id for n, error in zip(claimed, results, strict=True) if error is None]
        async with service.transaction() as session:
            await mark_sent(session, sent, now=time.time())
            for notification, error in zip(claimed, results, strict=True):
                if error is not None:
                    log.warning(
                        "notification %s (order %s, %s) not sent: %s",
                        notification.id,
                        notification.order_id,
                        notification.kind,
                        error,
                    )
                    delay = retry_delay(notification.attempts, cap=settings.retry_max)
                    await mark_failed(session, notification.id, error=error, retry_at=time.time() + delay)
        return len(sent)

    async def _run(self, settings: NotificationSettings) -> None:
        while not self._stopping.is_set():
            try:
                # A full batch means more may be waiting: go again at once.
                if await self.send_due(settings) >= settings.batch:
                    continue
            except StoreError as exc:
                log.warning("notification sender: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.poll_interval):
                    await self._stopping.wait()

    async def check(self) -> None:
        """Ready while the send loop runs."""
        if self._task is None or self._task.done():
            raise EventError("the notification sender is not running")

    async def drain(self) -> None:
        """Stop claiming new work; the batch in hand finishes."""
        self._stopping.set()

    async def stop(self) -> None:
        """Wait briefly for the batch in hand, then cancel (an unmarked claim is re-sent after its lease)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            async with asyncio.timeout(5.0):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


sender = MailSender()
service.add_component(sender)
