"""Webhook signatures: HMAC-SHA256 over the timestamp and the raw body, checked in constant time.

The sender adds::

    X-Webhook-Timestamp: 1767225600
    X-Webhook-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>

Binding the timestamp into the MAC makes a captured request useless after the tolerance window (the receiver
also remembers signatures it accepted inside the window, so it cannot be replayed within it either). Several
secrets may be accepted at once, so a secret can be rotated without dropping deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from baton.errors import SecurityError

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookSignatureError", "sign", "signed_headers", "verify"]

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
_SCHEME = "sha256="


class WebhookSignatureError(SecurityError):
    """Raised when a webhook's signature is missing, wrong, or its timestamp is outside the tolerance."""

    title = "Invalid webhook signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _SCHEME + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers for sending ``body`` now."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secrets: Sequence[str],
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    tolerance: float = 300.0,
    now: float | None = None,
) -> int:
    """Check a webhook's signature against any of ``secrets``; return its timestamp.

    Raises:
        WebhookSignatureError: a header is missing, the timestamp is not within ``tolerance`` seconds of
            ``now`` (either way: clocks drift), or no secret produces the signature.
    """
    if not signature or not timestamp:
        raise WebhookSignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is not a Unix timestamp") from None
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        raise WebhookSignatureError(
            f"webhook timestamp is {int(current - sent)} s away from now (tolerance {tolerance:g} s)"
        )
    for secret in secrets:
        if hmac.compare_digest(sign(secret, sent, body), signature):
            return sent
    raise WebhookSignatureError("webhook signature does not match")
