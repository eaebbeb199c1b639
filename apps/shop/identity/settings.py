"""The identity service's own settings (``IDENTITY_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class IdentitySettings(ServiceSettings):
    """How tokens are signed and who counts as staff."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 signing key, injected by the control plane as a secret (≥ 32 bytes)."
    )
    dev_mode: bool = Field(
        default=False, description="Without a secret, generate a throwaway one (tokens die with the process)."
    )
    issuer: str = Field(default="https://identity.shop", description="The tokens' `iss` claim.")
    audience: str = Field(default="shop", description="The tokens' `aud` claim (what the gateway expects).")
    token_ttl: int = Field(default=3600, ge=60, le=86_400, description="Seconds a token is valid.")
    staff_emails: str = Field(
        default="", description="Comma-separated e-mails that get the `staff` role at sign-up (the demo's staff)."
    )
