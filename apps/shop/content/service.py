"""The content hub service: a headless CMS compatible with Strapi v5, run as a Baton service.

Run it with ``python -m baton.kit.serve apps.shop.content.service:service``. Content types are Strapi
``schema.json`` files (:mod:`apps.shop.content.schema`); the REST API (:mod:`apps.shop.content.api`) and GraphQL
(:mod:`apps.shop.content.graphql`) serve them with Strapi's query language; every change becomes a CloudEvent
through the outbox and a Strapi-shaped webhook (:mod:`apps.shop.content.changes`,
:mod:`apps.shop.content.delivery`).
"""

from __future__ import annotations

from pathlib import Path

from apps.shop.content.delivery import DeliveryPolicy, WebhookDispatcher
from apps.shop.content.hub import ContentHub
from apps.shop.content.models import metadata
from apps.shop.content.problems import ContentApiError, strapi_error_response
from apps.shop.content.settings import ContentSettings
from baton.kit import Service

__all__ = ["dispatcher", "hub", "service"]

service = Service(
    "content",
    settings=ContentSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
service.app.add_exception_handler(ContentApiError, strapi_error_response)

hub = ContentHub(service)
service.add_component(hub)


def _delivery_policy() -> DeliveryPolicy:
    settings: ContentSettings = service.settings
    return DeliveryPolicy(
        max_attempts=settings.webhook_max_attempts,
        initial_backoff=settings.webhook_backoff,
        max_backoff=settings.webhook_max_backoff,
        timeout=settings.webhook_timeout,
        poll_interval=settings.webhook_poll_interval,
        lease=max(30.0, settings.webhook_timeout * 3),
        secret=settings.webhook_secret,
    )


dispatcher = WebhookDispatcher(_delivery_policy)
service.add_component(dispatcher)

# Registers the HTTP routes on ``service``; last, because they use the hub above.
from apps.shop.content import admin_api, api, graphql_api, media_api  # noqa: E402, F401
