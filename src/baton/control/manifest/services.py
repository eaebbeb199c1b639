"""The ``services`` section: what runs, how many, and how the supervisor watches it."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from baton.control.manifest.types import Duration, EnvValue, ModuleRef, Name, Section

RoutePrefix = Annotated[str, StringConstraints(pattern=r"^/[^\s]*$", max_length=200)]
"""A path prefix of an ``allow`` rule: ``/v1/stock`` covers ``/v1/stock`` and ``/v1/stock/42``."""
Caller = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9._-]{0,62})$")]
"""A calling service's name in an ``allow`` rule, or ``*`` (any service of the system)."""


class ProbeSpec(Section):
    """How the supervisor checks an instance (defaults fit services built with the kit)."""

    liveness_path: str = "/livez"
    """Path answering 200 while the process is healthy; repeated failure restarts the instance."""
    readiness_path: str = "/readyz"
    """Path answering 200 when the instance can take traffic; failure takes it out of rotation."""
    interval: Duration = 1.0
    """Seconds between probes once the instance is ready."""
    timeout: Duration = 1.0
    """Seconds one probe may take."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """Consecutive liveness failures before the instance is restarted."""
    start_timeout: Duration = 60.0
    """Seconds a new instance gets to answer its liveness probe before it is restarted."""


class ServiceSpec(Section):
    """One service of the system: how to start it and how many replicas to keep alive."""

    module: ModuleRef | None = None
    """``package.module:service`` of a kit service, run as ``python -m baton.kit.serve <module>``."""
    command: list[str] | None = Field(default=None, min_length=1)
    """A command to run instead of ``module`` (``BATON_PORT`` etc. arrive in its environment)."""
    replicas: int = Field(default=1, ge=0, le=64)
    """Number of instances to keep running."""
    version: str = "dev"
    """Version reported by the instances (``BATON_VERSION``) and shown by ``baton ps``."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Extra environment variables for every instance."""
    depends_on: list[Name] = Field(default_factory=list)
    """Services that must be ready before this one starts."""
    database: str | None = None
    """Database name (PostgreSQL backend) or full SQLAlchemy URL; SQLite file per service by default."""
    policies: list[str] = Field(default_factory=list)
    """Names of resilience policies (top-level ``policies``) this service's outgoing calls use."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Fixed port (e.g. the gateway's 7780); only with one replica. Unset: the next free port from 7800."""
    cwd: str | None = None
    """Working directory of the process, relative to the manifest; the manifest's directory by default."""
    drain_delay: Duration = 0.5
    """``BATON_DRAIN_DELAY``: seconds an instance keeps serving after it leaves discovery, before it stops."""
    stop_timeout: Duration = 10.0
    """Seconds between SIGTERM and SIGKILL when the instance is stopped."""
    probes: ProbeSpec = Field(default_factory=ProbeSpec)
    """Liveness and readiness probing."""
    allow: dict[RoutePrefix, list[Caller]] | None = None
    """Who may call which routes, by the caller's mutual-TLS identity: ``{/v1/reservations: [order]}``; the
    longest matching prefix decides, ``"*"`` is any service of the system, paths no prefix matches stay open
    to every service. Unset: any service of the system on every route. The control plane may always call;
    ``/livez``, ``/readyz`` and ``/metrics`` are open to every certificate holder (``BATON_ALLOW``)."""

    @model_validator(mode="after")
    def _one_way_to_start(self) -> Self:
        if (self.module is None) == (self.command is None):
            raise ValueError("give exactly one of 'module' or 'command'")
        if self.port is not None and self.replicas > 1:
            raise ValueError("a fixed 'port' allows only one replica; drop 'port' to scale")
        return self
