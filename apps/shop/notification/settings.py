"""The notification service's own settings (``NOTIFICATION_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.content import ContentReaderSettings
from baton.kit import ServiceSettings

TEMPLATES = Path(__file__).with_name("templates")


class NotificationSettings(ServiceSettings, ContentReaderSettings):
    """Where mail goes, who it is from, how the sender paces itself, and how templates are read from the hub."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    smtp_host: str = Field(default="127.0.0.1", description="SMTP server (the shop's mail sink).")
    smtp_port: int = Field(default=7725, description="SMTP port of the mail sink (MAILSINK_SMTP_PORT).")
    smtp_timeout: float = Field(default=5.0, description="Seconds one SMTP conversation may take.")
    sender: str = Field(default="shop@baton.local", description="The From address of every e-mail.")
    templates: Path = Field(
        default=TEMPLATES, description="Directory of the plain-file templates (*.txt), the content hub's fallback."
    )
    content_templates: bool = Field(
        default=True, description="Read the templates from the content hub first (email-templates entries)."
    )
    poll_interval: float = Field(default=0.2, description="Seconds between looks for e-mails due to be sent.")
    batch: int = Field(default=50, description="Most e-mails sent over one SMTP connection.")
    lease: float = Field(
        default=30.0, description="Seconds a claimed e-mail stays claimed; unsent after that, it is sent again."
    )
    retry_max: float = Field(default=60.0, description="Longest pause, in seconds, before retrying a failed send.")
