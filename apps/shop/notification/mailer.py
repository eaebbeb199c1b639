"""Sending e-mail: a one-method ``Mailer`` protocol, an SMTP backend and an in-memory one for tests."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from email.message import Message
from typing import Protocol

__all__ = ["Mailer", "MemoryMailer", "SmtpMailer"]


class Mailer(Protocol):
    """Hands e-mails to a mail server."""

    async def send(self, messages: Sequence[Message]) -> list[str | None]:
        """Send each message; one entry per message: ``None`` when the server accepted it, else the error."""


class SmtpMailer:
    """Sends over one SMTP connection per batch (stdlib ``smtplib``, in a worker thread)."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def send(self, messages: Sequence[Message]) -> list[str | None]:
        """Send ``messages`` in order; a broken connection fails the message in hand and every later one."""
        if not messages:
            return []
        # smtplib blocks; one thread per batch keeps the event loop free and the connection reused.
        return await asyncio.to_thread(self._send_blocking, list(messages))

    def _send_blocking(self, messages: list[Message]) -> list[str | None]:
        results: list[str | None] = []
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                for message in messages:
                    try:
                        smtp.send_message(message)
                        results.append(None)
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                        results.append(f"refused: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            error = f"SMTP {self.host}:{self.port}: {exc}"
            results.extend([error] * (len(messages) - len(results)))
        return results


class MemoryMailer:
    """Keeps what it is given (unit tests); ``fail_next`` makes the next N sends fail."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.fail_next = 0

    async def send(self, messages: Sequence[Message]) -> list[str | None]:
        """Record ``messages`` (or fail them while ``fail_next`` > 0)."""
        results: list[str | None] = []
        for message in messages:
            if self.fail_next > 0:
                self.fail_next -= 1
                results.append("simulated failure")
            else:
                self.sent.append(message)
                results.append(None)
        return results
