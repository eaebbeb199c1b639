"""The order service's own settings (``ORDER_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class OrderSettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    reservation_ttl_seconds: int = Field(
        default=120, ge=1, le=86_400, description="How long inventory holds stock for a checkout (seconds)."
    )
    orphan_after_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A PENDING order this old without a checkout saga (placed before an order and its saga were "
        "written in one transaction) gets its saga started by the orphan sweeper (seconds).",
    )
    orphan_sweep_interval: float = Field(default=5.0, gt=0, description="Seconds between orphan sweeps.")
    backfill_page_size: int = Field(default=100, ge=1, le=100, description="Products per catalog page in a backfill.")
    backfill_max_backoff: float = Field(
        default=5.0, gt=0, description="Longest wait between backfill attempts while the catalog does not answer (s)."
    )
