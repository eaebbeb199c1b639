"""The inventory service's own settings (``INVENTORY_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class InventorySettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    seed: bool = Field(
        default=True, description="At start, give every demo catalog product (p-espresso, ...) stock if it has none."
    )
    seed_on_hand: int = Field(default=1_000, ge=0, description="Units on hand the seed gives each demo product.")
    sweep_interval: float = Field(
        default=1.0, gt=0, description="Seconds between two sweeps releasing expired reservations."
    )
    sweep_batch: int = Field(
        default=100, ge=1, description="Most reservations one sweep expires (the next sweep follows at once)."
    )
