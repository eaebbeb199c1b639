"""``baton pipeline run <service>``: one service from source to production, stage by stage.

============  =====================================================================================================
stage         what it does (a failing stage stops the pipeline; its log is kept)
============  =====================================================================================================
build         byte-compiles the service's package and imports its module (the package check)
unit          ``pytest <service>/tests -m "not integration"`` (contract and staging tests excluded)
contracts     ``pytest <service>/tests/contracts`` into the contract store: consumer pacts published, provider
              verification of every consumer's pact recorded
staging       deploys to the staging environment (started if needed; a rolling update otherwise) and records it
integration   ``pytest <service>/tests/staging`` against staging (``BATON_STAGING_URL``), or a smoke check: every
              instance ready on the new version, the service's public route answering through staging's gateway
can-i-deploy  the contract matrix against what production runs (:func:`~baton.delivery.contracts.can_i_deploy`)
promote       releases to production with the service's strategy (canary / blue-green / rolling), follows the
              rollout to its end, records the deployment
============  =====================================================================================================

Stages are small objects with a ``run(ctx)`` method; :class:`Pipeline` runs them in order and reports each change
to a callback (the CLI draws it live).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from baton.control.launch import import_root
from baton.control.manifest import Manifest, ServiceSpec, load_manifest
from baton.delivery.contracts import CONTRACTS_ENV, ContractStore, can_i_deploy
from baton.delivery.environments import PRODUCTION, STAGING, Environment, environment, running, up
from baton.delivery.preview import preview_path
from baton.errors import DeliveryError

__all__ = ["STAGES", "Pipeline", "PipelineContext", "Stage", "StageResult", "default_stages"]

TERMINAL = ("healthy", "rolled_back", "aborted")


@dataclass
class StageResult:
    """One stage's outcome as the pipeline shows it."""

    name: str
    status: str = "pending"
    """``pending``, ``running``, ``passed``, ``failed``, ``skipped``."""
    seconds: float = 0.0
    detail: str = ""
    log: Path | None = None


class StageFailed(DeliveryError):
    """Raised by a stage that failed; the pipeline stops there."""


class StageSkipped(DeliveryError):
    """Raised by a stage with nothing to do for this service (no contract tests, say)."""


@dataclass
class PipelineContext:
    """What every stage needs: the service, its sources, the contract store, the environments, the logs."""

    manifest_path: Path
    manifest: Manifest
    service: str
    spec: ServiceSpec
    root: Path
    """Import root of the service's module (where pytest runs)."""
    folder: Path | None
    """The service's package folder (``apps/shop/order``); ``None`` for ``command:`` services."""
    store: ContractStore
    staging: Environment
    production: Environment
    logs: Path
    timeout: float = 900.0
    """Seconds any one stage may take."""
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The version being shipped."""
        return self.spec.version

    @classmethod
    def build(cls, manifest: Path, service: str, *, store: ContractStore | None = None) -> PipelineContext:
        """The context for ``service`` of ``manifest``.

        Raises:
            DeliveryError: unknown service.
        """
        loaded = load_manifest(manifest)
        spec = loaded.services.get(service)
        if spec is None:
            raise DeliveryError(f"unknown service '{service}' (services: {', '.join(sorted(loaded.services))})")
        production = environment(manifest, PRODUCTION)
        root, folder = manifest.resolve().parent, None
        if spec.module is not None:
            start = (manifest.resolve().parent / spec.cwd).resolve() if spec.cwd else manifest.resolve().parent
            found = import_root(spec.module, start)
            if found is not None:
                root = found
                package = spec.module.split(":", 1)[0].split(".")[:-1]
                folder = root.joinpath(*package) if package else None
        run_id = time.strftime("%Y%m%d-%H%M%S")
        return cls(
            manifest_path=manifest.resolve(),
            manifest=loaded,
            service=service,
            spec=spec,
            root=root,
            folder=folder,
            store=store or ContractStore.from_env(production.home.root / "contracts"),
            staging=environment(manifest, STAGING),
            production=production,
            logs=production.home.root / "pipelines" / service / run_id,
        )

    def run(self, stage: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> tuple[int, str]:
        """Run a command for ``stage`` from the import root, output into the stage's log; ``(exit code, output)``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.outputs.setdefault(stage, self.logs / f"{stage}.log")
        child = {k: v for k, v in os.environ.items() if not k.startswith("BATON_") or k == CONTRACTS_ENV}
        child.update({CONTRACTS_ENV: str(self.store.root), **(env or {})})
        try:
            done = subprocess.run(
                list(argv), cwd=self.root, env=child, capture_output=True, text=True, timeout=self.timeout
            )
            output = done.stdout + done.stderr
            code = done.returncode
        except subprocess.TimeoutExpired as exc:
            partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            output, code = f"{exc}\n{partial}", 124
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(argv)}\n{output}\n")
        return code, output


class Stage(Protocol):
    """One step of a pipeline."""

    name: str

    def run(self, ctx: PipelineContext) -> str:
        """Do the work; return a one-line summary.

        Raises:
            StageFailed: the stage failed (the summary is the message).
            StageSkipped: nothing to do for this service.
        """
        ...


def _pytest_summary(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else ""


def _pytest(ctx: PipelineContext, stage: str, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    code, output = ctx.run(stage, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], env=env)
    if code == 5:
        raise StageSkipped("no tests collected")
    if code != 0:
        raise StageFailed(_pytest_summary(output) or f"pytest exited with {code}")
    return _pytest_summary(output)


class Build:
    """Byte-compile the service's package and import its module."""

    name = "build"

    def run(self, ctx: PipelineContext) -> str:
        """The package check."""
        if ctx.spec.module is None or ctx.folder is None:
            raise StageSkipped("a command: service has no Python package to check")
        code, output = ctx.run(self.name, [sys.executable, "-m", "compileall", "-q", str(ctx.folder)])
        if code != 0:
            raise StageFailed("does not compile: " + output.strip().splitlines()[-1])
        module, _, attribute = ctx.spec.module.partition(":")
        check = f"import importlib; m = importlib.import_module({module!r}); getattr(m, {attribute!r})"
        code, output = ctx.run(self.name, [sys.executable, "-c", check])
        if code != 0:
            raise StageFailed("does not import: " + (output.strip().splitlines() or ["?"])[-1])
        return f"{ctx.spec.module} compiles and imports"


class UnitTests:
    """The service's own tests, without integration, contract and staging tests."""

    name = "unit"

    def run(self, ctx: PipelineContext) -> str:
        """``pytest -m "not integration"``."""
        tests = ctx.folder / "tests" if ctx.folder else None
        if tests is None or not tests.is_dir():
            raise StageSkipped("no tests folder")
        ignore = [f"--ignore={tests / sub}" for sub in ("contracts", "staging")]
        return _pytest(ctx, self.name, [str(tests), "-m", "not integration", *ignore])


class Contracts:
    """Consumer pacts published and provider verifications recorded, in the contract store."""

    name = "contracts"

    def run(self, ctx: PipelineContext) -> str:
        """``pytest <service>/tests/contracts`` with ``BATON_CONTRACTS_DIR``."""
        tests = ctx.folder / "tests" / "contracts" if ctx.folder else None
        if tests is None or not tests.is_dir():
            raise StageSkipped("no contract tests")
        summary = _pytest(ctx, self.name, [str(tests)])
        published = ctx.store.pacts(consumer=ctx.service, consumer_version=ctx.version)
        verified = [
            v for v in ctx.store.verifications() if v.provider == ctx.service and v.provider_version == ctx.version
        ]
        broken = [v for v in verified if not v.success]
        if broken:
            raise StageFailed(
                f"{len(broken)} pact(s) broken: " + "; ".join(v.failures[0] for v in broken if v.failures)
            )
        return f"{summary}; {len(published)} pact(s) published, {len(verified)} verified"


def _client(env: Environment) -> httpx.Client:
    token = env.home.admin_token() or ""
    return httpx.Client(base_url=env.control_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def release(env: Environment, service: str, *, strategy: str | None, timeout: float) -> dict[str, Any]:
    """Release ``service`` in a running environment and follow the rollout to its end; its final status.

    Raises:
        StageFailed: the control plane refused, or the rollout did not end healthy.
    """
    with _client(env) as client:
        started = client.post(f"/v1/rollouts/{service}", json={"strategy": strategy} if strategy else {})
        if started.status_code == 409 and "nothing to release" in started.text:
            return {"phase": "healthy", "message": "already running this version"}
        if started.status_code >= 400:
            raise StageFailed(f"{env.name} refused the release: {started.json().get('detail', started.text)}")
        deadline = time.monotonic() + timeout
        while True:
            status = client.get(f"/v1/rollouts/{service}").json()
            if status["phase"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise StageFailed(f"the {env.name} rollout did not end within {timeout:g}s ({status['phase']})")
            time.sleep(0.5)
    if status["phase"] != "healthy":
        raise StageFailed(f"{env.name} rollout {status['phase']}: {status['message']}")
    return dict(status)


class DeployStaging:
    """Bring the new version up in staging."""

    name = "staging"

    def run(self, ctx: PipelineContext) -> str:
        """Start staging, or roll the service there."""
        staging = ctx.staging
        if not running(staging):
            up(staging, timeout=ctx.timeout)
            how = f"staging started at {staging.control_url}"
        else:
            staging.prepare()
            release(staging, ctx.service, strategy="rolling", timeout=ctx.timeout)
            how = "rolled out in staging"
        ctx.store.record_deployment(STAGING, ctx.service, ctx.version)
        return f"{ctx.service} {ctx.version} {how}"


class StagingTests:
    """Integration tests against staging (or a smoke check when the service has none)."""

    name = "integration"

    def run(self, ctx: PipelineContext) -> str:
        """``pytest <service>/tests/staging`` or the smoke check."""
        gateway = self._gateway(ctx)
        tests = ctx.folder / "tests" / "staging" if ctx.folder else None
        if tests is not None and tests.is_dir():
            env = {"BATON_STAGING_URL": gateway or "", "BATON_STAGING_CONTROL_URL": ctx.staging.control_url}
            return _pytest(ctx, self.name, [str(tests)], env=env)
        return self._smoke(ctx, gateway)

    def _gateway(self, ctx: PipelineContext) -> str | None:
        spec = ctx.manifest.services.get("gateway")
        if spec is None or spec.port is None:
            return None
        return f"http://127.0.0.1:{spec.port + ctx.staging.offset}"

    def _smoke(self, ctx: PipelineContext, gateway: str | None) -> str:
        with _client(ctx.staging) as client:
            views = [v for v in client.get("/v1/instances").json() if v["service"] == ctx.service]
        wrong = [v["id"] for v in views if not v["ready"] or v["version"] != ctx.version]
        if not views or wrong:
            raise StageFailed(f"staging instances not ready on {ctx.version}: {wrong or 'none running'}")
        checked = f"{len(views)} instance(s) ready on {ctx.version}"
        from baton.security.operator import OperatorAccess  # instances serve mutual TLS: an operator certificate

        access = OperatorAccess.for_control(ctx.staging.control_url, ctx.staging.home.admin_token() or "")
        with access.client(timeout=5) as http:
            for view in views:
                answer = http.get(f"{view['url']}/readyz")
                if answer.status_code != 200:
                    raise StageFailed(f"{view['id']} /readyz answered {answer.status_code}")
        path = preview_path(ctx.manifest.routes, ctx.service)
        if gateway is not None and path is not None:
            answer = httpx.get(gateway + path, timeout=10)
            if answer.status_code >= 500:
                raise StageFailed(f"GET {path} through staging's gateway answered {answer.status_code}")
            checked += f"; GET {path} through the gateway: {answer.status_code}"
        return f"smoke check: {checked}"


class CanIDeploy:
    """The contract gate before production."""

    name = "can-i-deploy"

    def run(self, ctx: PipelineContext) -> str:
        """Record what production really runs (every service, the gateway included: its pacts count), then ask
        the matrix."""
        if running(ctx.production):
            with _client(ctx.production) as client:
                for view in client.get("/v1/services").json():
                    ctx.store.record_deployment(PRODUCTION, str(view["service"]), str(view["version"]))
        decision = can_i_deploy(ctx.store, ctx.service, ctx.version, PRODUCTION)
        log = ctx.outputs.setdefault(self.name, ctx.logs / f"{self.name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("\n".join(decision.reasons) + "\n")
        if not decision.ok:
            raise StageFailed("no: " + "; ".join(r for r in decision.reasons if r.startswith("✗")))
        return f"yes ({len(decision.reasons)} check(s))"


class Promote:
    """Release to production with the service's strategy."""

    name = "promote"

    def run(self, ctx: PipelineContext) -> str:
        """Start production with this version, or roll it out there."""
        production = ctx.production
        if not running(production):
            up(production, timeout=ctx.timeout)
            how = f"production started at {production.control_url}"
        else:
            status = release(production, ctx.service, strategy=None, timeout=ctx.timeout)
            how = status["message"]
        ctx.store.record_deployment(PRODUCTION, ctx.service, ctx.version)
        return how


STAGES: tuple[type[Stage], ...] = (Build, UnitTests, Contracts, DeployStaging, StagingTests, CanIDeploy, Promote)
"""The stages of ``baton pipeline run``, in order."""


def default_stages(*, skip: Sequence[str] = ()) -> list[Stage]:
    """Instances of :data:`STAGES`, without the ones named in ``skip``."""
    return [stage() for stage in STAGES if stage.name not in skip]


class Pipeline:
    """Runs stages in order; stops at the first failure."""

    def __init__(
        self,
        ctx: PipelineContext,
        stages: Sequence[Stage] | None = None,
        *,
        on_change: Callable[[list[StageResult]], None] = lambda results: None,
    ) -> None:
        self.ctx = ctx
        self.stages = list(stages if stages is not None else default_stages())
        self.results = [StageResult(stage.name) for stage in self.stages]
        self.on_change = on_change

    @property
    def passed(self) -> bool:
        """Whether every stage passed or was skipped."""
        return all(r.status in ("passed", "skipped") for r in self.results)

    def run(self) -> list[StageResult]:
        """Run every stage until one fails; the results."""
        for stage, result in zip(self.stages, self.results, strict=True):
            result.status = "running"
            self.on_change(self.results)
            started = time.monotonic()
            try:
                result.detail = stage.run(self.ctx)
                result.status = "passed"
            except StageSkipped as exc:
                result.status, result.detail = "skipped", exc.message
            except Exception as exc:
                message = exc.message if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
                result.status, result.detail = "failed", message
            result.seconds = time.monotonic() - started
            result.log = self.ctx.outputs.get(stage.name)
            self.on_change(self.results)
            if result.status == "failed":
                break
        return self.results
