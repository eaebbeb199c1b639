"""The analytics service's own settings (``ANALYTICS_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    cents_per_point: int = Field(
        default=100, ge=1, description="A confirmed order earns one loyalty point per this many cents (1 per EUR)."
    )
