"""The settings a service adds to its own to read the content hub, stated once for every reader.

::

    class CatalogSettings(ServiceSettings, ContentReaderSettings):
        model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    client = ContentClient.for_reader(service.settings)     # CATALOG_CONTENT_TOKEN, CATALOG_CONTENT_TIMEOUT, ...

The fields take the service's prefix (``CATALOG_CONTENT_TOKEN``), so each reader gets its own secret.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["ContentReaderSettings"]


class ContentReaderSettings(BaseModel):
    """Mixin for a service's settings class: how it reads the content hub."""

    content_token: SecretStr | None = Field(
        default=None,
        description="Read-only API token of the content hub (a secret); unset reads as the hub's public role.",
    )
    content_timeout: float = Field(
        default=0.5,
        gt=0,
        description="Seconds one content read may take, retries included, before the service goes without it.",
    )
    content_cache_ttl: float = Field(
        default=60.0,
        ge=0,
        description="Seconds an answer is served from cache; a publish in the hub refreshes it sooner.",
    )
