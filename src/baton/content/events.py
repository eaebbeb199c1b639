"""Content changes as CloudEvents: one mapping shared by the hub and by the Strapi webhook receiver.

Strapi's webhook events become versioned event types under a context prefix (``shop.content`` by default)::

    entry.create     → shop.content.entry.created.v1         media.create → shop.content.media.created.v1
    entry.update     → shop.content.entry.updated.v1         media.update → shop.content.media.updated.v1
    entry.delete     → shop.content.entry.deleted.v1         media.delete → shop.content.media.deleted.v1
    entry.publish    → shop.content.entry.published.v1
    entry.unpublish  → shop.content.entry.unpublished.v1

The data keeps Strapi's names: ``{event, model, uid, documentId, locale, entry}`` (``media`` instead of
``entry`` for media events), so a consumer reads the same event whether the Baton hub or a real Strapi (through
:mod:`baton.content.receiver`) made the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.errors import EventError

__all__ = [
    "DEFAULT_PREFIX",
    "ENTRY_EVENTS",
    "MEDIA_EVENTS",
    "event_data",
    "event_type",
    "strapi_event_of",
    "subject_pattern",
]

DEFAULT_PREFIX = "shop.content"
"""``<system>.<context>`` of content events: the stream is ``SHOP_CONTENT``."""

_FACTS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "publish": "published",
    "unpublish": "unpublished",
}
#: Strapi's entry events, in the order a document lives through them.
ENTRY_EVENTS = ("entry.create", "entry.update", "entry.delete", "entry.publish", "entry.unpublish")
#: Strapi's media library events.
MEDIA_EVENTS = ("media.create", "media.update", "media.delete")


def event_type(strapi_event: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The CloudEvent type of a Strapi webhook event (``entry.publish`` → ``shop.content.entry.published.v1``).

    Raises:
        EventError: not one of Strapi's entry or media events.
    """
    kind, _, action = strapi_event.partition(".")
    if strapi_event not in ENTRY_EVENTS + MEDIA_EVENTS:
        raise EventError(f"{strapi_event!r} is not a Strapi entry.* or media.* webhook event")
    return f"{prefix}.{kind}.{_FACTS[action]}.v1"


def strapi_event_of(type_: str) -> str:
    """The Strapi event name of a content event type (the inverse of :func:`event_type`).

    Raises:
        EventError: not a content event type.
    """
    parts = type_.split(".")
    reverse = {fact: action for action, fact in _FACTS.items()}
    if len(parts) < 4 or parts[-3] not in ("entry", "media") or parts[-2] not in reverse:
        raise EventError(f"{type_!r} is not a content event type")
    return f"{parts[-3]}.{reverse[parts[-2]]}"


def subject_pattern(prefix: str = DEFAULT_PREFIX) -> str:
    """The NATS subject pattern every content event is published on (``shop.content.>``)."""
    return f"{prefix}.>"


def event_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent ``data`` of a Strapi webhook payload ``{event, createdAt, model, uid, entry|media}``.

    Raises:
        EventError: the payload lacks ``event`` or its entry/media object.
    """
    event = payload.get("event")
    if not isinstance(event, str):
        raise EventError('webhook payload has no "event"')
    if event.startswith("media."):
        item = payload.get("media")
        if not isinstance(item, Mapping):
            raise EventError(f'{event} payload has no "media" object')
        return {"event": event, "createdAt": payload.get("createdAt"), "media": dict(item)}
    entry = payload.get("entry")
    if not isinstance(entry, Mapping):
        raise EventError(f'{event} payload has no "entry" object')
    return {
        "event": event,
        "createdAt": payload.get("createdAt"),
        "model": payload.get("model"),
        "uid": payload.get("uid"),
        "documentId": entry.get("documentId"),
        "locale": entry.get("locale"),
        "entry": dict(entry),
    }
