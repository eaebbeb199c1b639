"""The manifest's system-wide sections: backends, routes, events, sagas, SLOs and rollouts.

These shapes are what the gateway, event runtime, saga engine, telemetry and rollout controller read. They are
typed (so a typo is caught with its line) and carry sensible defaults; each building block deepens its own.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from baton.control.manifest.types import Duration, Name, Section


class Backends(Section):
    """Which engines the system runs on: embedded defaults on one machine, real clusters at scale."""

    bus: str = "embedded"
    """``embedded`` (a NATS JetStream server started by the control plane) or a ``nats://`` URL."""
    db: str = "sqlite"
    """``sqlite`` (one file per service under ``.baton/data``) or a ``postgresql://`` URL."""
    discovery: Literal["nats_kv", "static", "dns"] = "nats_kv"
    """Discovery backend the instances and the control plane register with."""

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str) -> str:
        if value == "embedded" or value.startswith(("nats://", "tls://")):
            return value
        raise ValueError("must be 'embedded' or a nats:// URL")

    @field_validator("db")
    @classmethod
    def _db(cls, value: str) -> str:
        if value == "sqlite" or value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            return value
        raise ValueError("must be 'sqlite' or a postgresql:// URL")


class RouteSpec(Section):
    """One gateway route: a path prefix (and API version) served by a service."""

    prefix: str = Field(pattern=r"^/")
    """Path prefix, e.g. ``/api/catalog``."""
    service: Name
    """Service receiving the traffic."""
    version: str | None = None
    """API version segment, e.g. ``v1``."""
    methods: list[str] = Field(default_factory=list)
    """Allowed methods; empty means all."""
    strip_prefix: bool = False
    """Remove ``prefix`` before forwarding."""
    auth: Literal["none", "jwt"] = "none"
    """Authentication required at the edge."""
    scopes: list[str] = Field(default_factory=list)
    """Scopes the token must carry."""
    roles: list[str] = Field(default_factory=list)
    """Roles the token must carry (any of)."""
    rate_limit: str | None = None
    """Rate limit in ``limits`` notation, e.g. ``100/minute``."""
    cache: bool = False
    """Cache GET answers with ETag."""
    timeout: Duration | None = None
    """Upstream deadline for the route."""
    split: dict[str, int] = Field(default_factory=dict)
    """Weighted split by service version (``{v1: 90, v2: 10}``); empty means no split."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Further gateway policy options, validated by the gateway."""


_JWKS_URL = re.compile(r"^(https?://[^/\s]+(/\S*)?|baton://[a-z][a-z0-9-]*/\S*)$")


class IssuerSpec(Section):
    """A user-token issuer the gateway trusts (``auth: jwt`` routes verify its tokens before proxying)."""

    name: Name
    """Short name, used by a route's ``options: {auth: {issuers: [name]}}``."""
    issuer: str = Field(min_length=1)
    """Required ``iss`` claim, compared exactly."""
    audience: str | list[str]
    """Accepted ``aud`` value(s)."""
    jwks_url: str | None = Field(default=None, json_schema_extra={"pattern": _JWKS_URL.pattern})
    """The issuer's keys: a fixed ``https://`` URL, or ``baton://<service>/<path>`` for a service of the system
    (found through discovery, reached over mutual TLS with a service token), e.g.
    ``baton://identity/.well-known/jwks.json``."""
    secret_env: str | None = None
    """Environment variable holding a shared HS256 secret, instead of a JWKS (never the secret itself here)."""
    algorithms: list[Literal["EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "HS256"]] = Field(
        default_factory=list
    )
    """Fixed algorithm list; default ``RS256, ES256, EdDSA`` with a JWKS, ``HS256`` with a secret."""
    leeway: Duration = Field(default=30.0, le=60)
    """Clock skew tolerated on ``exp``/``nbf`` (at most 60 s)."""
    jwks_refresh: Duration = 300.0
    """Scheduled JWKS refresh; an unknown ``kid`` triggers an early one at most every 10 s."""

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        if value is not None and not _JWKS_URL.match(value):
            raise ValueError("must be https://host/path or baton://<service>/<path>")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> IssuerSpec:
        if (self.jwks_url is None) == (self.secret_env is None):
            raise ValueError("set exactly one of jwks_url or secret_env")
        return self


class GatewaySpec(Section):
    """The gateway's own settings in the manifest (its routes are the top-level ``routes:``)."""

    issuers: list[IssuerSpec] = Field(default_factory=list)
    """Token issuers the gateway trusts for ``auth: jwt`` routes."""


class EventStreamSpec(Section):
    """One JetStream stream (one per bounded context) and who publishes and subscribes to it."""

    subjects: list[str] = Field(min_length=1)
    """Subjects captured by the stream, e.g. ``shop.catalog.>``."""
    publisher: Name | None = None
    """The service owning the stream."""
    subscribers: list[Name] = Field(default_factory=list)
    """Services with a durable consumer on the stream."""
    max_deliver: int = Field(default=5, ge=1)
    """Deliveries before a message goes to the dead-letter stream."""
    max_age: Duration = 7 * 86400.0
    """How long messages are kept."""


class SagaStepSpec(Section):
    """One saga step: an action on a service and the compensation that undoes it."""

    name: str
    service: Name
    action: str | None = None
    compensation: str | None = None


class SagaSpec(Section):
    """A saga declared in the manifest (its code lives in the orchestrating service)."""

    orchestrator: Name
    """Service running the orchestrator."""
    steps: list[SagaStepSpec] = Field(default_factory=list)
    timeout: Duration = 300.0
    """Seconds before a running saga is compensated."""


class SloSpec(Section):
    """A service level objective, evaluated with multi-window multi-burn-rate alerts."""

    name: str
    service: Name
    sli: Literal["availability", "latency"] = "availability"
    objective: float = Field(default=99.9, gt=0, lt=100)
    """Target percentage of good events."""
    threshold: Duration | None = None
    """Latency SLIs: a request is good when faster than this."""
    route: str | None = None
    """Restrict the SLI to one route."""
    window: Duration = 30 * 86400.0
    """Compliance window."""
    runbook: str | None = None
    """Link shown on incidents."""


class AlertingSpec(Section):
    """Where incidents opened by SLO alerts are announced, and how they close."""

    webhook: str | None = Field(default=None, pattern=r"^https?://")
    """URL receiving ``{"event", "incident", "sent_at"}`` on every incident change (opened, resolved...)."""
    resolve_hold: Duration = 0.0
    """Seconds with every alert cleared before an incident is resolved (0: at once)."""


class RolloutSpec(Section):
    """How new versions of a service are delivered (read by :mod:`baton.delivery`; see ``docs/delivery.md``)."""

    strategy: Literal["rolling", "canary", "blue_green"] = "rolling"
    steps: list[int] = Field(default_factory=lambda: [5, 10, 25, 50, 100])
    """Canary traffic percentages."""
    interval: Duration = 30.0
    """Seconds each canary step is analysed (and the pause before the next step)."""
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    """Canary error rate (5xx share) above the stable version's by more than this is rolled back."""
    max_p99_ratio: float = Field(default=1.5, gt=0)
    """Canary p99 / baseline p99 above which it is rolled back (when also ``p99_slack`` slower)."""
    max_p99: Duration = 0.5
    """Canary p99 in seconds above which it is rolled back, whatever the baseline (Flagger's 500 ms)."""
    p99_slack: Duration = 0.05
    """Seconds a canary p99 may exceed the baseline's before the ratio counts (fast services are noisy)."""
    max_burn_rate: float = Field(default=14.4, gt=0)
    """SLO burn rate of the canary's traffic above which it is rolled back (14.4 = the fast-burn page rule)."""
    min_requests: int = Field(default=20, ge=1)
    """Canary requests an interval needs before its analysis counts; fewer holds the step."""
    max_holds: int = Field(default=2, ge=0)
    """Intervals a step may be extended for lack of traffic before the rollout gives up and rolls back."""
    keep_warm: Duration = 300.0
    """Blue-green: seconds the previous version keeps running after the switch, for an instant undo."""
    auto_promote: bool = True
    """Blue-green: switch once the preview is verified; ``false`` waits for ``baton rollout promote``."""
    webhooks: list[str] = Field(default_factory=list)
    """URLs receiving every rollout event as JSON (started, step, promoted, rolled_back...)."""

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(not 0 < step <= 100 for step in value) or value != sorted(set(value)):
            raise ValueError("steps must be increasing percentages between 1 and 100")
        return value
