"""Content for services: a cached client of a Strapi-compatible hub, its events, and a Strapi webhook receiver.

- :class:`ContentClient` — Strapi v5 REST reads (``find``, ``find_one``, ``localized`` with locale fallbacks)
  through the resilient service client, cached and invalidated by the content events on the bus;
- :class:`ContentTemplates` — text templates (e-mails) kept as hub entries;
- :class:`ContentReaderSettings` — the ``<SERVICE>_CONTENT_*`` settings of a service reading the hub;
- :mod:`baton.content.events` — Strapi's webhook events as CloudEvent types (``shop.content.entry.published.v1``);
- :func:`webhook_router` — a route that verifies webhooks (HMAC signature and timestamp, or a real Strapi's static
  token) and re-emits them as the same CloudEvents, so the Baton hub or a real Strapi feed the same consumers;
- :mod:`baton.content.qs` — Strapi's nested query strings (``filters[title][$eq]=...``);
- :func:`preferred_locales` / :func:`match_locales` — ``Accept-Language`` onto the hub's locales.
"""

from baton.content.cache import CachePolicy, ContentCache
from baton.content.client import ContentClient, plural_of
from baton.content.events import DEFAULT_PREFIX, event_data, event_type, strapi_event_of
from baton.content.locales import match_locales, preferred_locales
from baton.content.receiver import ReceiverPolicy, WebhookReceiver, webhook_router
from baton.content.settings import ContentReaderSettings
from baton.content.signing import WebhookSignatureError, sign, signed_headers, verify
from baton.content.templates import ContentTemplates, TemplateSnapshot

__all__ = [
    "DEFAULT_PREFIX",
    "CachePolicy",
    "ContentCache",
    "ContentClient",
    "ContentReaderSettings",
    "ContentTemplates",
    "ReceiverPolicy",
    "TemplateSnapshot",
    "WebhookReceiver",
    "WebhookSignatureError",
    "event_data",
    "event_type",
    "match_locales",
    "plural_of",
    "preferred_locales",
    "sign",
    "signed_headers",
    "strapi_event_of",
    "verify",
    "webhook_router",
]
