"""The mail sink: keeps every message received over SMTP, once per Message-ID; transport-free operations.

Run it with ``python -m baton.kit.serve apps.shop.mailsink.service:service``. The SMTP side is a component
(:mod:`apps.shop.mailsink.smtp`) that calls :func:`store_message`; the HTTP side (:mod:`apps.shop.mailsink.api`)
lists what was stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.sql import insert_new
from apps.shop.mailsink.models import messages, metadata
from apps.shop.mailsink.settings import MailsinkSettings
from baton.kit import Service

service = Service(
    "mailsink",
    settings=MailsinkSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)


@dataclass(frozen=True, slots=True)
class Mail:
    """A message as the sink keeps it."""

    id: int
    message_id: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    body: str
    received_at: float


def parse_message(raw: bytes, *, envelope_from: str, envelope_to: list[str]) -> dict[str, str]:
    """The columns of a received message: ids, addresses, subject and the plain-text body.

    A message without a ``Message-ID`` gets one derived from its time, so it is still kept (once).
    """
    parsed = message_from_bytes(raw, policy=policy.default)
    body = ""
    if isinstance(parsed, EmailMessage):
        part = parsed.get_body(preferencelist=("plain", "html"))
        if part is not None and isinstance(part, EmailMessage):
            body = str(part.get_content())
    message_id = str(parsed.get("Message-ID") or f"<sink-{time.time_ns()}@mailsink>").strip()
    return {
        "message_id": message_id[:255],
        "mail_from": envelope_from[:320],
        "rcpt_to": ",".join(a.lower() for a in envelope_to)[:2000],
        "subject": str(parsed.get("Subject") or "")[:500],
        "body": body,
    }


async def store_message(session: AsyncSession, *, raw: bytes, envelope_from: str, envelope_to: list[str]) -> bool:
    """Keep a received message; ``False`` when its Message-ID was kept already (a sender's retry)."""
    values: dict[str, object] = {**parse_message(raw, envelope_from=envelope_from, envelope_to=envelope_to)}
    values["received_at"] = time.time()
    return await insert_new(session, messages, values, unique=["message_id"])


async def list_messages(session: AsyncSession, *, to: str | None = None, limit: int = 50) -> list[Mail]:
    """The newest messages first, optionally only those addressed to ``to``."""
    query = select(messages).order_by(messages.c.id.desc()).limit(limit)
    if to:
        # Recipients are stored comma-joined; wrapping both sides in commas matches whole addresses only.
        wrapped = literal(",") + messages.c.rcpt_to + literal(",")
        query = query.where(wrapped.contains(f",{to.lower()},", autoescape=True))
    rows = (await session.execute(query)).all()
    return [
        Mail(
            id=r.id,
            message_id=r.message_id,
            mail_from=r.mail_from,
            rcpt_to=tuple(a for a in r.rcpt_to.split(",") if a),
            subject=r.subject,
            body=r.body,
            received_at=r.received_at,
        )
        for r in rows
    ]


async def count_messages(session: AsyncSession) -> int:
    """How many distinct messages the sink holds."""
    return int((await session.execute(select(func.count()).select_from(messages))).scalar_one())


# The SMTP side and the HTTP routes register on ``service``; last, because both call the operations above.
from apps.shop.mailsink import api, smtp  # noqa: E402, F401
