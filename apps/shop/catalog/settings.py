"""The catalog service's own settings (``CATALOG_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.content import ContentReaderSettings
from baton.kit import ServiceSettings


class CatalogSettings(ServiceSettings, ContentReaderSettings):
    """What an operator can tune without touching the code (``CATALOG_CONTENT_*``: how product pages read the hub)."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    seed: bool = Field(
        default=True,
        description="Insert the demo catalog (3 categories, 12 products with fixed ids such as 'p-espresso') "
        "at start when its products are missing, announcing each with product.created.",
    )
    content_fallbacks: str = Field(
        default="en", description="Comma-separated locales tried when the shopper's have no blurb."
    )
