"""The identity service's own settings (``IDENTITY_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from apps.shop.common.users import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from baton.kit import ServiceSettings


class IdentitySettings(ServiceSettings):
    """How tokens are signed and kept, who counts as staff, and how many failed logins are tolerated."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    keys_secret: SecretStr | None = Field(
        default=None,
        description="AES-256 key(s), base64, active first, comma-separated, sealing the signing keys kept in the "
        "data directory; injected by the control plane as a secret.",
    )
    dev_mode: bool = Field(
        default=False,
        description="Without a secret, seal the signing keys with a key generated into the data directory.",
    )
    issuer: str = Field(default=DEFAULT_ISSUER, description="The tokens' `iss` claim.")
    audience: str = Field(default=DEFAULT_AUDIENCE, description="The access tokens' `aud` claim.")
    access_ttl: int = Field(default=600, ge=60, le=900, description="Seconds an access token is valid (1-15 min).")
    refresh_ttl: int = Field(
        default=14 * 86_400, ge=300, le=90 * 86_400, description="Seconds a refresh token family lives at most."
    )
    staff_emails: str = Field(
        default="", description="Comma-separated e-mails that get the `staff` role at sign-up (the demo's staff)."
    )
    admin_emails: str = Field(default="", description="Comma-separated e-mails that get `staff` and `admin`.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins of one account within the window before it is locked."
    )
    login_max_failures_per_ip: int = Field(
        default=50, ge=1, description="Failed logins from one address within the window before it is locked."
    )
    login_window: float = Field(default=900.0, gt=0, description="Seconds failed logins are counted over.")
    trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        description="Peers whose last X-Forwarded-For entry is taken as the client address (the gateway).",
    )
