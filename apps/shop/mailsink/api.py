"""The mail sink's HTTP side: ``GET /v1/messages`` (JSON, staff only) and ``GET /`` (a page listing the messages).

The messages hold customers' addresses and order details, so the JSON API, which the gateway routes, needs a
staff (or admin) access token like the notification log. The page has no gateway route: it is read inside the
system (an instance's own address), as a development tool.
"""

from __future__ import annotations

import html
import time

from fastapi import Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from apps.shop.common.access import require_staff
from apps.shop.common.users import install
from apps.shop.mailsink.service import Mail, count_messages, list_messages, service
from baton.kit import SessionDep

users = install(service)
"""Who may list the messages: staff (:data:`~apps.shop.common.access.require_staff`)."""


class MessageOut(BaseModel):
    """A received message."""

    id: int
    message_id: str
    mail_from: str
    to: list[str]
    subject: str
    body: str
    received_at: float

    @classmethod
    def of(cls, mail: Mail) -> MessageOut:
        """Encode a kept message."""
        return cls(
            id=mail.id,
            message_id=mail.message_id,
            mail_from=mail.mail_from,
            to=list(mail.rcpt_to),
            subject=mail.subject,
            body=mail.body,
            received_at=mail.received_at,
        )


class MessageList(BaseModel):
    """The newest messages first, and how many the sink holds in all."""

    items: list[MessageOut]
    total: int


@service.get("/v1/messages", dependencies=[Depends(require_staff)])
async def get_messages(
    session: SessionDep,
    to: str | None = Query(default=None, max_length=320, description="Only messages to this address."),
    limit: int = Query(default=50, ge=1, le=1000),
) -> MessageList:
    """List received messages, newest first (staff)."""
    mails = await list_messages(session, to=to, limit=limit)
    return MessageList(items=[MessageOut.of(m) for m in mails], total=await count_messages(session))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail sink</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
article {{ border: 1px solid #ddd; border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; }}
h2 {{ font-size: 1.05rem; margin: 0 0 .25rem; }}
.meta {{ color: #666; font-size: .85rem; }}
pre {{ white-space: pre-wrap; margin: .5rem 0 0; }}
</style></head>
<body><h1>Mail sink</h1>
<p class="meta">{count} message(s) received; newest first.
JSON: <a href="/v1/messages">/v1/messages</a></p>
{articles}
</body></html>"""

_ARTICLE = """<article><h2>{subject}</h2>
<div class="meta">from {sender} to {to} &middot; {when} &middot; {message_id}</div>
<pre>{body}</pre></article>"""


def render_page(mails: list[Mail], *, total: int) -> str:
    """The HTML page for ``mails`` (every value escaped)."""
    articles = "\n".join(
        _ARTICLE.format(
            subject=html.escape(m.subject or "(no subject)"),
            sender=html.escape(m.mail_from),
            to=html.escape(", ".join(m.rcpt_to)),
            when=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.received_at)),
            message_id=html.escape(m.message_id),
            body=html.escape(m.body),
        )
        for m in mails
    )
    return _PAGE.format(count=total, articles=articles or "<p>No messages yet.</p>")


@service.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(session: SessionDep, limit: int = Query(default=100, ge=1, le=1000)) -> HTMLResponse:
    """A readable page of the newest messages."""
    mails = await list_messages(session, limit=limit)
    return HTMLResponse(render_page(mails, total=await count_messages(session)))
