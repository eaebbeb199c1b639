"""The hello service's own settings (``HELLO_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class HelloSettings(ServiceSettings):
    """What an operator can tune without touching the code."""

    model_config = SettingsConfigDict(env_prefix="HELLO_", extra="ignore")

    greeting: str = Field(default="Hello", description="The word greetings start with.")
    max_delay_ms: int = Field(
        default=10_000, description="Longest artificial delay /v1/hello accepts (used to show graceful drain)."
    )
    fault_error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of /v1/hello answered 500 (a bad release, for rollout demos)."
    )
    fault_delay_ms: int = Field(default=0, ge=0, description="Milliseconds added to every /v1/hello (a slow release).")
    maintenance_file: str | None = Field(
        default=None,
        description="While this file exists the instance reports not ready (readiness check 'maintenance'): how an "
        "operator takes one instance out of rotation without stopping it.",
    )
