"""The content hub's own settings (``CONTENT_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings

TYPES = Path(__file__).with_name("types")


class ContentSettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="CONTENT_", extra="ignore")

    types: Path = Field(default=TYPES, description="Directory of the content types' schema.json files.")
    locales: str = Field(default="en,fr", description="Comma-separated locales; the first is the default.")
    default_page_size: int = Field(default=25, description="Entries per page when a query does not say.")
    max_page_size: int = Field(default=100, description="Largest page served (bigger requests are capped).")
    api_tokens: SecretStr = Field(
        default=SecretStr(""),
        description="API tokens as comma-separated '<type>:<token>' pairs; type is read-only or full-access "
        "(a secret: `baton secret set content/CONTENT_API_TOKENS ...`).",
    )
    dev_mode: bool = Field(
        default=False,
        description="Without CONTENT_API_TOKENS, accept the well-known dev tokens (dev-content-read-only, "
        "dev-content-full-access) so a fresh `make up` works. Never in production: anyone may use them.",
    )
    public: str = Field(
        default="product-blurbs,articles,authors",
        description="API ids the public role (no token) may find and findOne, published entries only.",
    )
    webhooks: str = Field(
        default="",
        description='Webhooks to configure at start, JSON: [{"name", "url", "events": [...], "headers": {...}}].',
    )
    webhook_secret: str = Field(default="", description="Secret of the X-Webhook-Signature HMAC (unset: unsigned).")
    webhook_max_attempts: int = Field(default=5, description="Tries of a delivery before its dead-letter record.")
    webhook_backoff: float = Field(default=1.0, description="Seconds before the first retry; doubles per try.")
    webhook_max_backoff: float = Field(default=60.0, description="Longest pause, in seconds, between tries.")
    webhook_timeout: float = Field(default=10.0, description="Seconds one delivery may take.")
    webhook_poll_interval: float = Field(default=0.2, description="Seconds between looks for due deliveries.")
    cache_max_age: int = Field(
        default=0,
        description="Cache-Control max-age (s) of public reads; 0 makes caches revalidate with the ETag each time.",
    )
    event_prefix: str = Field(default="shop.content", description="<system>.<context> of the CloudEvents emitted.")
    seed: bool = Field(default=True, description="Plant the demo content (blurbs, e-mail templates, an article).")
    graphql_max_depth: int = Field(default=8, description="Deepest GraphQL selection accepted.")
    graphql_max_complexity: int = Field(
        default=5000, description="Largest GraphQL query cost (fields, multiplied by page sizes of lists)."
    )

    def locale_list(self) -> tuple[str, ...]:
        """The configured locales, default first."""
        return tuple(part.strip() for part in self.locales.split(",") if part.strip()) or ("en",)
