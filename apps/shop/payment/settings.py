"""The payment service's own settings (``PAYMENT_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class PaymentSettings(ServiceSettings):
    """How the simulated provider behaves."""

    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    failure_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of authorizations the simulated issuer declines (0..1). The draw is a hash of the "
        "payment id, so a retried authorize gets the same answer.",
    )
    latency_ms: int = Field(default=0, ge=0, le=60_000, description="Simulated provider latency per operation (ms).")
    decline_seed: str = Field(
        default="", description="Mixed into the per-payment draw; change it to decline a different set of payments."
    )
