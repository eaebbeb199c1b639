"""The gateway's typed configuration, parsed from a plain mapping (a YAML file or the manifest's sections).

Every block is a frozen dataclass with documented defaults; :func:`parse_config` turns a mapping into a
:class:`GatewayConfig` and reports mistakes as :class:`~baton.errors.ConfigError` naming the field
(``routes[2].rate_limit.consumer``). A route accepts the manifest's short forms too (``auth: jwt``,
``rate_limit: 100/minute``, ``cache: true``, ``split: {v1: 90, v2: 10}``, ``options: {...}``), so the control
plane can hand its ``routes:`` section over unchanged. See ``docs/gateway.md`` for a complete example.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from baton.errors import ConfigError
from baton.resilience.policies import RetryPolicy

DEFAULT_PORT = 7780
MiB = 1024 * 1024

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": MiB, "mb": 10**6, "mib": MiB}
_SIZE_UNITS |= {"g": 1024 * MiB, "gb": 10**9, "gib": 1024 * MiB}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/|per)\s*(\d*)\s*([a-z]+)\s*(?:burst\s*(\d+))?\s*$", re.IGNORECASE)
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_RATE_UNITS |= {"h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_JWKS_URL = re.compile(r"^(https?://[^/\s]+(/\S*)?|baton://[a-z][a-z0-9-]{0,62}/\S*)$")


def parse_size(value: Any) -> int:
    """``1048576``, ``"64KiB"``, ``"1MiB"``, ``"10mb"`` → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 65536, '64KiB' or '1MiB', got {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2) and match.group(2).lower()])


def parse_duration(value: Any) -> float:
    """``2``, ``"250ms"``, ``"30s"``, ``"5m"`` → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as 2, '250ms', '30s' or '5m', got {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class RateSpec:
    """A token bucket: ``rate`` tokens per second refill, at most ``burst`` stored."""

    rate: float
    """Tokens added per second."""
    burst: int
    """Bucket capacity: the largest burst let through at once (``RateLimit-Limit``)."""
    window: float = 1.0
    """Seconds of the written form (``100/minute`` → 60), reported in ``RateLimit-Policy``."""

    @classmethod
    def parse(cls, value: Any) -> RateSpec:
        """``"100/s"``, ``"1000/minute"``, ``"10/s burst 50"``, ``{rate: 10, per: 1s, burst: 50}``."""
        if isinstance(value, RateSpec):
            return value
        if isinstance(value, Mapping):
            per = parse_duration(value.get("per", 1.0))
            count = float(value["rate"])
            burst = int(value.get("burst", max(1, round(count))))
            return cls(rate=count / per, burst=burst, window=per)
        match = _RATE.match(str(value))
        unit = match and _RATE_UNITS.get(match.group(3).lower())
        if not match or unit is None:
            raise ValueError(f"expected a rate such as '100/s', '1000/minute' or '10/s burst 50', got {value!r}")
        count = float(match.group(1))
        per = float(match.group(2) or 1) * unit
        burst = int(match.group(4)) if match.group(4) else max(1, round(count))
        return cls(rate=count / per, burst=burst, window=per)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """A token issuer the gateway trusts: JWKS URL (asymmetric keys) or a shared HS256 secret."""

    name: str
    issuer: str
    """Required ``iss`` claim."""
    audience: tuple[str, ...]
    """Accepted ``aud`` values (one must be present in the token)."""
    jwks_url: str | None = None
    """``https://…`` (or ``http://``) fixed address, or ``baton://<service>/<path>``: an instance of the service
    found through the gateway's discovery registry, reached over mutual TLS with a service token under the
    control plane (``baton://identity/.well-known/jwks.json``)."""
    secret: str | None = None
    """Shared HS256 secret (until the security building block's JWKS lands). Prefer ``secret_env``."""
    secret_env: str | None = None
    """Environment variable holding the shared secret."""
    algorithms: tuple[str, ...] = ()
    """Fixed algorithm list; default ``RS256, ES256, EdDSA`` with a JWKS URL, ``HS256`` with a secret."""
    leeway: float = 30.0
    """Seconds of clock skew tolerated on ``exp``/``nbf`` (at most 60)."""
    jwks_refresh: float = 300.0
    """Seconds between JWKS refreshes (an unknown ``kid`` triggers an early one, at most every 10 s)."""

    def __post_init__(self) -> None:
        if not 0 <= self.leeway <= 60:
            raise ValueError("leeway must be between 0 and 60 seconds")
        if (self.jwks_url is None) == (self.shared_secret() is None):
            raise ValueError("set exactly one of jwks_url or secret/secret_env")
        if self.jwks_url is not None and not _JWKS_URL.match(self.jwks_url):
            raise ValueError(f"jwks_url must be http(s)://host/path or baton://<service>/<path>, got {self.jwks_url!r}")
        if "none" in {a.lower() for a in self.allowed_algorithms()}:
            raise ValueError("the 'none' algorithm is never accepted")

    def shared_secret(self) -> str | None:
        """The HS256 secret, from ``secret`` or the ``secret_env`` variable."""
        if self.secret is not None:
            return self.secret
        return os.environ.get(self.secret_env) if self.secret_env else None

    def allowed_algorithms(self) -> tuple[str, ...]:
        """The algorithm list enforced on this issuer's tokens."""
        if self.algorithms:
            return self.algorithms
        return ("RS256", "ES256", "EdDSA") if self.jwks_url else ("HS256",)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class ApiKeyConfig:
    """A machine client's API key. Give ``key_sha256`` (hex) to keep the key itself out of the file."""

    consumer: str
    key: str | None = None
    key_sha256: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("set exactly one of key or key_sha256")

    def digest(self) -> str:
        """SHA-256 hex digest of the key (what the gateway compares)."""
        if self.key_sha256 is not None:
            return self.key_sha256.lower()
        assert self.key is not None
        return hashlib.sha256(self.key.encode()).hexdigest()


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Authentication on a route: which credentials count and whether one is required."""

    required: bool = True
    jwt: bool = True
    api_keys: bool = True
    issuers: tuple[str, ...] = ()
    """Issuer names accepted here; empty means every configured issuer."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Token buckets on a route; each is optional. Exceeding any answers 429 with ``Retry-After``."""

    consumer: RateSpec | None = None
    """Per consumer (the authenticated subject or API-key consumer; anonymous callers count per IP)."""
    ip: RateSpec | None = None
    """Per client IP (after trusted-proxy resolution)."""
    route: RateSpec | None = None
    """For the whole route, all callers together."""
    headers: bool = True
    """Send ``RateLimit-*`` headers on successful answers too (always on 429)."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class QuotaConfig:
    """Requests per consumer per UTC day, persisted (SQLite under BATON_HOME, or Redis for several replicas)."""

    per_day: int
    name: str | None = None
    """Quota bucket shared by routes with the same name; default: the route's name."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """Request validation. Only ``max_body`` (always enforced) needs no buffering of the body."""

    max_body: int | None = None
    """Bytes; default: the gateway's ``max_body``. Checked against Content-Length and the bytes actually sent."""
    content_types: tuple[str, ...] = ()
    """Media types accepted for requests with a body (415 otherwise); empty accepts any."""
    json_depth: int | None = None
    """Maximum nesting of JSON bodies (400 beyond); buffers JSON bodies."""
    openapi: bool | str = False
    """Validate JSON bodies against the upstream's OpenAPI (``true``: ``<instance>/openapi.json``; or a URL)."""

    @property
    def needs_body(self) -> bool:
        """Whether the body must be buffered before the request goes upstream."""
        return self.json_depth is not None or bool(self.openapi)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Response filtering: keys stripped from JSON answers wherever they appear."""

    internal_fields: frozenset[str] = frozenset()
    """Field names marked internal (``x-internal: true`` in the upstream's OpenAPI adds to them)."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Caching of GET answers (200 only, honouring ``Cache-Control: no-store/private``) with ETag."""

    ttl: float = 30.0
    max_entries: int = 1024
    max_body: int = MiB
    vary: tuple[str, ...] = ("accept",)
    """Request headers that are part of the cache key."""
    shared: bool = False
    """When false the consumer is part of the key, so one consumer never sees another's answer."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class BackendConfig:
    """One weighted destination of a route: a service (optionally one version of it) or fixed URLs."""

    service: str | None = None
    version: str | None = None
    """Only instances whose version equals this (the hook for canary and blue-green)."""
    weight: int = 100
    urls: tuple[str, ...] = ()
    """Fixed instances (``http://host:port``) instead of discovery."""

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError("weight must be >= 0")
        if not self.service and not self.urls:
            raise ValueError("a backend needs a service or urls")


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Extra conditions on a route: header and cookie values (``"*"`` means "present")."""

    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


def _default_retry() -> RetryPolicy:
    # Connection failures and gateway-class answers are retried once for idempotent methods, under the budget.
    return RetryPolicy(max_attempts=2, retryable_statuses=frozenset({502, 503, 504}))


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One route: what it matches, where it goes and the policies on the way."""

    prefix: str
    """Path prefix, matched on segment boundaries (``/catalog`` matches ``/catalog/x``, not ``/catalogue``)."""
    backends: tuple[BackendConfig, ...]
    name: str = ""
    """Used in metrics and logs; default derived from version, prefix and match."""
    version: str | None = None
    """API version: the route matches ``/<version><prefix>...``."""
    methods: frozenset[str] = frozenset()
    """Allowed methods (405 otherwise); empty allows all."""
    match: MatchConfig = field(default_factory=MatchConfig)
    strip_prefix: bool = False
    """Forward ``/<version><rest>`` instead of the full path."""
    timeout: float = 30.0
    """Seconds until the upstream's answer headers (and the longest silence while streaming): 504 after."""
    connect_timeout: float = 5.0
    retry: RetryPolicy | None = field(default_factory=_default_retry)
    """Retries for idempotent requests whose body is buffered; ``None`` disables them."""
    private: bool = False
    """Default deny: authentication required and access only through ``scopes``, ``roles`` or ``consumers``."""
    allow: tuple[str, ...] = ()
    """Client CIDRs allowed (403 otherwise); empty allows every address."""
    auth: AuthConfig | None = None
    scopes: frozenset[str] = frozenset()
    """Scopes the caller must all hold."""
    roles: frozenset[str] = frozenset()
    """Roles of which the caller must hold one."""
    consumers: frozenset[str] = frozenset()
    """Consumers allowed by name (grants access on private routes)."""
    rate_limit: RateLimitConfig | None = None
    quota: QuotaConfig | None = None
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    filter: FilterConfig | None = None
    cache: CacheConfig | None = None

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/"):
            raise ValueError("prefix must start with '/'")
        if not self.backends:
            raise ValueError("a route needs a service or at least one backend")
        if sum(b.weight for b in self.backends) <= 0:
            raise ValueError("backend weights must not all be zero")
        for cidr in self.allow:
            ipaddress.ip_network(cidr, strict=False)
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be > 0")


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole gateway: listener, trust, identities, limits and the route table."""

    routes: tuple[RouteConfig, ...] = ()
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: str | None = None
    """PEM certificate (chain) for HTTPS on the listener; with ``tls_key``."""
    tls_key: str | None = None
    upstream_ca: str | None = None
    """CA bundle for ``https`` upstreams (default: the system's)."""
    trusted_proxies: tuple[str, ...] = ()
    """CIDRs whose ``X-Forwarded-For`` is believed; from anyone else it is ignored (and overwritten)."""
    issuers: tuple[IssuerConfig, ...] = ()
    api_keys: tuple[ApiKeyConfig, ...] = ()
    api_key_header: str = "x-api-key"
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Static instances by service name (``http://host:port``), used when no registry is given."""
    max_body: int = MiB
    """Default request body limit in bytes."""
    max_response_buffer: int = 8 * MiB
    """Largest answer buffered for filtering, sanitising or caching (502 beyond)."""
    keepalive_timeout: float = 75.0
    """Seconds an idle client connection is kept open."""
    client_timeout: float = 30.0
    """Seconds a client may take to send a request's headers and body (408 after)."""
    upstream_idle: float = 4.0
    """Seconds an idle upstream connection is kept in the pool (below common servers' 5 s keep-alive)."""
    token_cache_size: int = 10_000
    """Verified tokens remembered until their expiry (LRU bound)."""
    access_log: bool = True
    """One JSON line per request on stdout (buffered, flushed every 100 ms)."""
    quota_db: str | None = None
    """SQLite file for quotas; default ``$BATON_HOME/gateway/quotas.db``."""
    redis_url: str | None = None
    """Shared quota backend for several replicas (also ``BATON_GATEWAY_REDIS_URL``)."""
    reload_interval: float = 1.0
    """Seconds between checks of the config file for changes."""
    jwks_ready_timeout: float = 30.0
    """Seconds from start during which ``/readyz`` answers 503 until every issuer's JWKS has loaded once; after
    that an issuer still without keys is only reported (a down identity service never keeps the edge out)."""

    def __post_init__(self) -> None:
        for cidr in self.trusted_proxies:
            ipaddress.ip_network(cidr, strict=False)
        names = [r.name for r in self.routes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"route names must be unique; repeated: {', '.join(dupes)}")
        issuer_names = {i.name for i in self.issuers}
        for route in self.routes:
            unknown = set(route.auth.issuers if route.auth else ()) - issuer_names
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown issuers {sorted(unknown)}")
            if route.auth and route.auth.jwt and not self.issuers and not self.api_keys:
                raise ValueError(f"route {route.name!r} needs authentication but no issuers or api_keys are set")


_ADAPTER: TypeAdapter[GatewayConfig] = TypeAdapter(GatewayConfig)
_ROUTE_SHORT_FORMS = ("service", "split", "options")


def _route_name(route: Mapping[str, Any]) -> str:
    parts = [route.get("version") or "", str(route.get("prefix", "")).strip("/").replace("/", "-") or "root"]
    match = route.get("match") or {}
    for kind in ("headers", "cookies"):
        parts += [f"{k}={v}" for k, v in sorted((match.get(kind) or {}).items())]
    return "-".join(p for p in parts if p).lower()


def normalize_route(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Expand a route's short forms (the manifest's ``RouteSpec`` shape) into the full mapping."""
    route = dict(raw)
    route.update(route.pop("options", None) or {})
    service, split = route.pop("service", None), route.pop("split", None) or {}
    if "backends" not in route and service:
        if split:
            route["backends"] = [{"service": service, "version": v, "weight": w} for v, w in split.items()]
        else:
            route["backends"] = [{"service": service}]
    auth = route.get("auth")
    if auth == "none" or auth is False:
        route["auth"] = None
    elif auth in ("jwt", True):
        route["auth"] = {"required": True}
    elif auth == "optional":
        route["auth"] = {"required": False}
    if isinstance(route.get("rate_limit"), str):
        route["rate_limit"] = {"consumer": route["rate_limit"]}
    if route.get("cache") is True:
        route["cache"] = {}
    elif route.get("cache") is False:
        route["cache"] = None
    for key in ("timeout", "connect_timeout"):
        if key in route and route[key] is not None:
            route[key] = parse_duration(route[key])
    if isinstance(route.get("retry"), Mapping):
        retry = dict(route["retry"])
        if "attempts" in retry:
            retry["max_attempts"] = retry.pop("attempts")
        route["retry"] = retry
    elif route.get("retry") is False:
        route["retry"] = None
    if isinstance(route.get("rate_limit"), Mapping):
        route["rate_limit"] = {
            k: (RateSpec.parse(v) if k in ("consumer", "ip", "route") and v is not None else v)
            for k, v in route["rate_limit"].items()
        }
    for block, keys in (("validation", ("max_body",)), ("cache", ("max_body",))):
        if isinstance(route.get(block), Mapping):
            route[block] = {k: (parse_size(v) if k in keys and v is not None else v) for k, v in route[block].items()}
    if isinstance(route.get("cache"), Mapping) and "ttl" in route["cache"]:
        route["cache"]["ttl"] = parse_duration(route["cache"]["ttl"])
    if isinstance(route.get("match"), Mapping):
        match = route["match"]
        route["match"] = {
            "headers": {str(k).lower(): str(v) for k, v in (match.get("headers") or {}).items()},
            "cookies": {str(k): str(v) for k, v in (match.get("cookies") or {}).items()},
        }
    if isinstance(route.get("methods"), list | tuple):
        route["methods"] = [str(m).upper() for m in route["methods"]]
    if isinstance(route.get("scopes"), str):
        route["scopes"] = route["scopes"].split()
    route.setdefault("name", _route_name(route))
    return route


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_config(mapping: Mapping[str, Any], *, source: str = "<config>") -> GatewayConfig:
    """Validate a gateway mapping and return the typed config.

    Raises:
        ConfigError: a field is missing, unknown or invalid; the message names it.
    """
    data = dict(mapping)
    try:
        data["routes"] = [normalize_route(r) for r in data.get("routes") or ()]
        for key in ("max_body", "max_response_buffer"):
            if key in data:
                data[key] = parse_size(data[key])
        for key in ("keepalive_timeout", "client_timeout", "upstream_idle", "reload_interval", "jwks_ready_timeout"):
            if key in data:
                data[key] = parse_duration(data[key])
        if isinstance(data.get("issuers"), list):
            data["issuers"] = [
                {**i, "audience": [i["audience"]] if isinstance(i.get("audience"), str) else i.get("audience")}
                for i in data["issuers"]
            ]
        if not data.get("redis_url") and os.environ.get("BATON_GATEWAY_REDIS_URL"):
            data["redis_url"] = os.environ["BATON_GATEWAY_REDIS_URL"]
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()[:5])
        raise ConfigError(f"{source}: invalid gateway config: {problems}", source=source) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{source}: invalid gateway config: {exc}", source=source) from exc


def extract_gateway_section(document: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway mapping inside a document: a ``gateway:`` section (manifest) or the document itself.

    A manifest's top-level ``routes:`` are used when the ``gateway:`` section has none of its own.
    """
    if "gateway" in document and isinstance(document["gateway"], Mapping):
        section = dict(document["gateway"])
        if "routes" not in section and "routes" in document:
            section["routes"] = document["routes"]
        return section
    services = document.get("services")
    if (
        "routes" in document
        and isinstance(services, Mapping)
        and any(isinstance(v, Mapping) for v in services.values())
    ):
        # A manifest without a gateway section: its services' map is not ours, only its routes are.
        return {"routes": document["routes"]}
    return dict(document)


def load_config(path: str | Path) -> GatewayConfig:
    """Read a gateway YAML file (or a ``baton.yaml`` manifest) and parse its gateway section.

    Raises:
        ConfigError: the file is missing, not YAML, or its content is invalid.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read gateway config: {exc}", source=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", source=str(path)) from exc
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level", source=str(path))
    return parse_config(extract_gateway_section(document), source=str(path))
