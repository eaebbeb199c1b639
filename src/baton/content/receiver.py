"""Receiving Strapi webhooks in any Baton service: verify, then re-emit them as content CloudEvents.

::

    service.include_router(webhook_router(service, policy=ReceiverPolicy(secrets=("s3cret",))))
    # a real Strapi's webhook → POST /webhooks/strapi → shop.content.entry.published.v1 on the bus (outbox)

A request is accepted when it carries a valid ``X-Webhook-Signature`` for its ``X-Webhook-Timestamp`` (what the
Baton hub sends), or — for a real Strapi, which does not sign — the configured static ``Authorization`` token
(Strapi's webhook "headers" setting). Within the tolerance window a signature is accepted once; after it the
timestamp fails. The CloudEvent's id derives from ``X-Webhook-Id`` (or the body), so a redelivered webhook
becomes the *same* event: the stream's duplicate window and consumers' inboxes absorb it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import JSONResponse, Response

from baton.content.events import DEFAULT_PREFIX, event_data, event_type
from baton.content.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSignatureError, verify
from baton.errors import EventError

if TYPE_CHECKING:
    from baton.kit import Service

__all__ = ["ReceiverPolicy", "WebhookReceiver", "webhook_router"]

_NAMESPACE = uuid.UUID("6f1c2f4e-3d1b-4c55-9a57-2b0f7c3e9d10")


@dataclass(frozen=True, slots=True)
class ReceiverPolicy:
    """What the receiver accepts."""

    secrets: tuple[str, ...] = ()
    """HMAC secrets accepted for ``X-Webhook-Signature`` (several during a rotation)."""
    tokens: tuple[str, ...] = ()
    """Static bearer tokens a real Strapi is configured to send in ``Authorization`` (it does not sign)."""
    tolerance: float = 300.0
    """Seconds a signed request's timestamp may be away from now."""
    prefix: str = DEFAULT_PREFIX
    """``<system>.<context>`` of the emitted CloudEvents."""
    source: str = "strapi"
    """The ``source`` of the emitted CloudEvents."""


class WebhookReceiver:
    """Verifies webhooks and turns them into CloudEvents in the service's outbox."""

    def __init__(self, service: Service, policy: ReceiverPolicy, *, clock: Any = time.time) -> None:
        self.service = service
        self.policy = policy
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def authenticate(self, headers: Any, body: bytes) -> None:
        """Accept a correctly signed request or one with a configured static token.

        Raises:
            WebhookSignatureError: neither, or a signature already used (a replay).
        """
        signature = headers.get(SIGNATURE_HEADER)
        if signature is not None or not self.policy.tokens:
            verify(
                self.policy.secrets,
                signature=signature,
                timestamp=headers.get(TIMESTAMP_HEADER),
                body=body,
                tolerance=self.policy.tolerance,
                now=self.clock(),
            )
            self._remember(str(signature))
            return
        scheme, _, token = str(headers.get("authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not any(
            hmac.compare_digest(token.encode(), t.encode()) for t in self.policy.tokens
        ):
            raise WebhookSignatureError("missing or invalid webhook token")

    def _remember(self, signature: str) -> None:
        now = self.clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise WebhookSignatureError("webhook signature already used (replay)")
        self._seen[signature] = now + 2 * self.policy.tolerance

    def event_id(self, headers: Any, body: bytes) -> str:
        """A stable event id: from the delivery id when the sender gives one, else from the body."""
        delivery = headers.get("x-webhook-id")
        seed = f"delivery:{delivery}" if delivery else "body:" + hashlib.sha256(body).hexdigest()
        return str(uuid.uuid5(_NAMESPACE, seed))

    async def receive(self, request: Request) -> Response:
        """Handle one webhook request."""
        from baton.events import CloudEvent, enqueue

        body = await request.body()
        try:
            self.authenticate(request.headers, body)
        except WebhookSignatureError as exc:
            return JSONResponse({"error": exc.message}, status_code=401)
        try:
            payload = orjson.loads(body)
            if not isinstance(payload, dict):
                raise EventError("webhook body is not a JSON object")
            kind = event_type(str(payload.get("event")), prefix=self.policy.prefix)
            data = event_data(payload)
        except (orjson.JSONDecodeError, EventError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        subject = data.get("documentId") or (data.get("media") or {}).get("documentId")
        event = CloudEvent.create(
            type=kind, source=self.policy.source, data=data, subject=subject, id=self.event_id(request.headers, body)
        )
        try:
            async with self.service.transaction() as session:
                await enqueue(session, event)
        except IntegrityError:
            return JSONResponse({"id": event.id, "duplicate": True})
        return JSONResponse({"id": event.id, "type": event.type}, status_code=202)


def webhook_router(service: Service, *, policy: ReceiverPolicy, path: str = "/webhooks/strapi") -> APIRouter:
    """A router with ``POST <path>`` receiving webhooks into ``service``'s outbox."""
    receiver = WebhookReceiver(service, policy)
    router = APIRouter()
    router.add_api_route(path, receiver.receive, methods=["POST"], include_in_schema=False)
    return router
