"""How an instance is started: its command line, working directory and environment.

The environment is the contract with the service kit (:class:`baton.kit.settings.InstanceSettings`):
``BATON_SERVICE/INSTANCE/VERSION/HOST/PORT/HOME/NATS_URL/DB_URL/ENVIRONMENT`` plus ``BATON_DRAIN_DELAY``,
and — with the control plane's CA (:mod:`baton.security.plane`) — ``BATON_TLS_DIR`` (the instance's first leaf,
issued just before the spawn), ``BATON_CONTROL_TLS_URL`` and ``BATON_ALLOW`` (the service's ``allow:``),
on top of the service's ``env`` from the manifest and its secrets (secrets win over ``env``, so a secret is
never shadowed by a plain-text value in ``baton.yaml``; the control plane's variables win over both, so an
instance always runs on the port and identity it was given).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from baton.control.manifest import Manifest, ServiceSpec

log = logging.getLogger("baton.control.launch")

SecretsSource = Callable[[str], Mapping[str, str]]
"""Returns the secret environment variables of a service."""

PYTHON_PLACEHOLDER = "{python}"
"""In a ``command:``, replaced by the interpreter running Baton (so the command uses the same venv)."""


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """System-wide facts every instance's environment is built from."""

    manifest: Manifest
    manifest_dir: Path
    home: Path
    nats_url: str | None
    environment: str = "local"
    host: str = "127.0.0.1"
    control_url: str | None = None
    telemetry_url: str | None = None
    """Where instances export spans (the control plane's receiver), as ``BATON_TELEMETRY_URL``."""
    credentials: Callable[[str, str], Path] | None = None
    """``(service, instance) -> directory``: issues the instance's leaf before its spawn (``BATON_TLS_DIR``);
    ``None``: no mutual TLS (plain HTTP and NATS)."""
    control_tls_url: str | None = None
    """The control plane's mutual-TLS listener (renewals, service tokens), as ``BATON_CONTROL_TLS_URL``."""
    nats_tls: bool = False
    """The NATS server requires Baton certificates (the embedded one does): ``BATON_NATS_TLS=1``. An external
    NATS is reached as configured."""


CONTROLLED = frozenset(
    {
        "BATON_SYSTEM", "BATON_SERVICE", "BATON_INSTANCE", "BATON_VERSION", "BATON_HOST", "BATON_PORT",
        "BATON_HOME", "BATON_NATS_URL", "BATON_DB_URL", "BATON_ENVIRONMENT", "BATON_DRAIN_DELAY",
        "BATON_DISCOVERY", "BATON_CONTROL_URL", "BATON_TELEMETRY_URL", "BATON_POLICIES",
        # Identity: only the control plane hands out credentials and the rules of who may call.
        "BATON_TLS_DIR", "BATON_CONTROL_TLS_URL", "BATON_ALLOW", "BATON_NATS_TLS",
        # Secrets are injected one by one; the key that decrypts all of them never reaches an instance.
        "BATON_MASTER_KEY",
        # The daemon's own options: meaningless (or misleading) inside an instance.
        "BATON_CONTROL_PORT", "BATON_PORT_BASE", "BATON_NATS_PORT", "BATON_NATS_MONITOR_PORT", "BATON_MANIFEST",
    }
)  # fmt: skip
"""``BATON_*`` variables the control plane decides per instance; the operator's other ones pass through."""


def argv_for(spec: ServiceSpec) -> list[str]:
    """The command line of an instance of ``spec``."""
    if spec.module is not None:
        return [sys.executable, "-m", "baton.kit.serve", spec.module]
    assert spec.command is not None  # the manifest guarantees exactly one of module/command
    return [sys.executable if part == PYTHON_PLACEHOLDER else part for part in spec.command]


def cwd_for(spec: ServiceSpec, ctx: LaunchContext) -> Path:
    """Working directory: ``cwd`` relative to the manifest, else the manifest's directory."""
    return (ctx.manifest_dir / spec.cwd).resolve() if spec.cwd else ctx.manifest_dir


def import_root(module: str, start: Path) -> Path | None:
    """The nearest directory at or above ``start`` from which ``module``'s top package can be imported.

    ``apps/hello/baton.yaml`` names ``apps.hello.service:service``; the repository root, two levels up, is
    what must be on ``sys.path``.
    """
    top = module.split(":", 1)[0].split(".", 1)[0]
    for folder in [start, *start.parents]:
        if (folder / top).is_dir() or (folder / f"{top}.py").is_file():
            return folder
    return None


def database_url(ctx: LaunchContext, service: str, spec: ServiceSpec) -> str | None:
    """``BATON_DB_URL`` for ``service``; ``None`` lets the kit use its SQLite file under ``<home>/data``."""
    if spec.database and "://" in spec.database:
        return spec.database
    backend = ctx.manifest.backends.db
    if backend == "sqlite":
        if spec.database:
            return f"sqlite+aiosqlite:///{(ctx.home / 'data' / f'{spec.database}.db').resolve()}"
        return None
    parts = urlsplit(backend)
    scheme = "postgresql+asyncpg"
    path = f"/{spec.database}" if spec.database else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


def environment_for(
    ctx: LaunchContext,
    *,
    service: str,
    instance: str,
    port: int,
    spec: ServiceSpec,
    secrets: SecretsSource | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment of one instance."""
    # The operator's own settings (BATON_LOG_LEVEL, BATON_OTLP_ENDPOINT...) pass through; identity, ports and
    # addresses never leak from the daemon's environment into an instance.
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in CONTROLLED}
    env.update(spec.env)
    if secrets is not None:
        try:
            env.update(secrets(service))
        except Exception as exc:  # the secret store is another engineer's backend; never crash supervision
            log.error("cannot read the secrets of %s: %s", service, exc)
    # The control plane's own variables go last: a manifest `env` cannot move an instance off its port.
    env.update(
        {
            "BATON_SYSTEM": ctx.manifest.name,
            "BATON_SERVICE": service,
            "BATON_INSTANCE": instance,
            "BATON_VERSION": spec.version,
            "BATON_HOST": ctx.host,
            "BATON_PORT": str(port),
            "BATON_HOME": str(ctx.home),
            "BATON_ENVIRONMENT": ctx.environment,
            "BATON_DRAIN_DELAY": f"{spec.drain_delay:g}",
            "BATON_DISCOVERY": ctx.manifest.backends.discovery,
            "PYTHONUNBUFFERED": "1",
        }
    )
    policies = policies_for(ctx.manifest.policies, spec)
    if policies:
        env["BATON_POLICIES"] = json.dumps(policies, separators=(",", ":"))
    if ctx.nats_url:
        env["BATON_NATS_URL"] = ctx.nats_url
    if ctx.control_url:
        env["BATON_CONTROL_URL"] = ctx.control_url
    if ctx.telemetry_url:
        env["BATON_TELEMETRY_URL"] = ctx.telemetry_url
    if ctx.credentials is not None:
        env["BATON_TLS_DIR"] = str(ctx.credentials(service, instance))
        if ctx.control_tls_url:
            env["BATON_CONTROL_TLS_URL"] = ctx.control_tls_url
        if ctx.nats_tls:
            env["BATON_NATS_TLS"] = "1"
        if spec.allow is not None:
            env["BATON_ALLOW"] = json.dumps(spec.allow, separators=(",", ":"))
    db_url = database_url(ctx, service, spec)
    if db_url:
        env["BATON_DB_URL"] = db_url
    if spec.module is not None:
        root = import_root(spec.module, cwd_for(spec, ctx))
        if root is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


_tls_enabled = False


def enable_tls(enabled: bool = True) -> None:
    """Record that this process (the control plane) gives its instances credentials, so their URLs are
    ``https`` (:attr:`baton.control.instance.InstanceSlot.url`)."""
    global _tls_enabled
    _tls_enabled = enabled


def tls_enabled() -> bool:
    """Whether :func:`enable_tls` was called in this process."""
    return _tls_enabled


def serves_tls(spec: ServiceSpec) -> bool:
    """Whether instances of ``spec`` serve mutual TLS when given credentials: kit services do; a ``command``
    does only when it runs the kit (``baton.kit.serve``). Others (the gateway's public listener) stay HTTP and
    use their credentials as clients."""
    if spec.module is not None:
        return True
    return spec.command is not None and "baton.kit.serve" in spec.command


def policies_for(section: Mapping[str, Any], spec: ServiceSpec) -> dict[str, Any]:
    """The resilience policies of one instance: the manifest's section, with the service's first named policy
    as the default of its outgoing calls."""
    policies = dict(section)
    own = [name for name in spec.policies if name not in ("default", "none")]
    if own:
        policies["default"] = own[0]
    return policies


def local_secrets(home: Path) -> SecretsSource | None:
    """Secrets from the local encrypted store of ``home`` when one exists (``baton secret set`` creates it)."""
    try:
        from baton.security import secrets as store
    except ImportError:
        return None
    if not (home / store.SECRETS_FILE).exists():
        return None

    def read(service: str) -> Mapping[str, str]:
        return store.secrets_env(service, store.LocalSecretStore.open(home))

    return read
