"""Settings every service instance receives from its environment (12-factor, ``BATON_*``).

The control plane (or a developer running one service by hand) sets these; a service's own settings are a
separate pydantic-settings class with its own prefix (``CATALOG_*``), see :class:`ServiceSettings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InstanceSettings(BaseSettings):
    """Where and how this instance runs. Read from ``BATON_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BATON_", extra="ignore")

    service: str = Field(default="service", description="Service name, e.g. 'catalog'.")
    instance: str = Field(default="", description="Instance id, e.g. 'catalog-1'; defaults to '<service>-<pid>'.")
    version: str = Field(default="dev", description="The service version being run.")
    environment: str = Field(default="local", description="Environment name: local, staging, production.")
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(default=7800, description="HTTP port of this instance.")
    home: Path = Field(default=Path(".baton"), description="Data directory (state, SQLite files, logs, certs).")
    nats_url: str | None = Field(default=None, description="NATS URL; unset means: no event bus for this instance.")
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<home>/data/<service>.db.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")
    shutdown_grace: float = Field(default=10.0, description="Seconds in-flight requests get to finish on SIGTERM.")
    keep_alive: float = Field(
        default=75.0,
        description="Seconds an idle keep-alive connection stays open. Longer than clients keep idle connections "
        "pooled (the kit's client 15 s, httpx 5 s, the gateway 4 s), so no client sends a request on a connection "
        "the server is closing at that moment (uvicorn's own default, 5 s, races httpx's).",
    )
    drain_delay: float = Field(
        default=0.0,
        description="Seconds between readiness turning 503 and the server closing its listener on SIGTERM "
        "(time for load balancers and discovery to notice).",
    )

    discovery: str = Field(
        default="nats_kv",
        description="Where the instance announces itself while ready: nats_kv (needs BATON_NATS_URL), or off "
        "(any other backend, e.g. dns, registers instances by other means).",
    )

    def instance_id(self) -> str:
        """The instance id, defaulting to ``<service>-<pid>``."""
        import os

        return self.instance or f"{self.service}-{os.getpid()}"

    def database_url(self) -> str:
        """The database URL of this service (SQLite file under ``<home>/data`` unless ``BATON_DB_URL`` is set)."""
        if self.db_url:
            return self.db_url
        return f"sqlite+aiosqlite:///{(self.home / 'data' / f'{self.service}.db').resolve()}"


class ServiceSettings(BaseSettings):
    """Base for a service's own settings; subclasses set ``model_config = SettingsConfigDict(env_prefix=...)``."""

    model_config = SettingsConfigDict(extra="ignore")
