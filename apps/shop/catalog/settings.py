"""The catalog service's own settings (``CATALOG_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class CatalogSettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    seed: bool = Field(
        default=True,
        description="Insert the demo catalog (3 categories, 12 products with fixed ids such as 'p-espresso') "
        "at start when its products are missing, announcing each with product.created.",
    )
    content_token: SecretStr | None = Field(
        default=None,
        description="Read-only API token of the content hub (a secret); unset reads as the hub's public role.",
    )
    content_timeout: float = Field(
        default=0.5,
        gt=0,
        description="Seconds a product page waits for its blurb (retries included) before going without.",
    )
    content_cache_ttl: float = Field(
        default=60.0,
        ge=0,
        description="Seconds a blurb is served from cache; a publish in the hub refreshes it sooner.",
    )
    content_fallbacks: str = Field(
        default="en", description="Comma-separated locales tried when the shopper's have no blurb."
    )
