"""The mail sink's own settings (``MAILSINK_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.kit import ServiceSettings


class MailsinkSettings(ServiceSettings):
    """Where the SMTP side listens and how much it keeps."""

    model_config = SettingsConfigDict(env_prefix="MAILSINK_", extra="ignore")

    smtp_host: str = Field(default="127.0.0.1", description="Interface the SMTP server binds.")
    smtp_port: int = Field(default=7725, description="SMTP port (0 picks a free one; tests read it back).")
    max_message_bytes: int = Field(default=1_048_576, description="Largest message accepted, in bytes.")
