"""Pipeline mechanics, environments and CI templates, without processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from baton.cli.rollout import rollout_view
from baton.delivery.ci import render_workflow
from baton.delivery.environments import PRODUCTION, STAGING, derive, environment
from baton.delivery.pipeline import Pipeline, StageFailed, StageSkipped
from baton.errors import DeliveryError

REPO = Path(__file__).resolve().parents[3]


class Step:
    def __init__(self, name: str, outcome: str = "ok") -> None:
        self.name = name
        self.outcome = outcome
        self.ran = False

    def run(self, ctx) -> str:
        self.ran = True
        if self.outcome == "fail":
            raise StageFailed("2 failed, 3 passed")
        if self.outcome == "skip":
            raise StageSkipped("no contract tests")
        if self.outcome == "crash":
            raise RuntimeError("boom")
        return f"{self.name} done"


class Ctx:
    outputs: dict[str, Path] = {}


@pytest.mark.parametrize(
    ("outcomes", "statuses"),
    [
        (["ok", "skip", "ok"], ["passed", "skipped", "passed"]),
        (["ok", "fail", "ok"], ["passed", "failed", "pending"]),
        (["crash", "ok", "ok"], ["failed", "pending", "pending"]),
    ],
)
def test_a_failing_stage_stops_the_pipeline(outcomes, statuses) -> None:
    steps = [Step(f"s{i}", o) for i, o in enumerate(outcomes)]
    seen: list[list[str]] = []
    pipeline = Pipeline(Ctx(), steps, on_change=lambda rs: seen.append([r.status for r in rs]))  # type: ignore[arg-type]
    results = pipeline.run()
    assert [r.status for r in results] == statuses
    assert [s.ran for s in steps] == [status != "pending" for status in statuses]
    assert pipeline.passed is ("failed" not in statuses)
    assert seen[0][0] == "running"  # shown live, stage by stage
    if "failed" in statuses:
        failed = next(r for r in results if r.status == "failed")
        assert failed.detail in ("2 failed, 3 passed", "RuntimeError: boom")


def test_staging_is_the_same_system_on_shifted_ports_and_its_own_home(tmp_path, monkeypatch) -> None:
    for name in ("BATON_HOME", "BATON_CONTROL_PORT", "BATON_PORT_BASE", "BATON_NATS_PORT", "BATON_STAGING_PORT_OFFSET"):
        monkeypatch.delenv(name, raising=False)
    source = tmp_path / "baton.yaml"
    document = {
        "name": "shop",
        "services": {
            "web": {"module": "apps.web.service:service"},
            "gateway": {"command": ["{python}", "-m", "baton.gateway", "--config", "baton.yaml"], "port": 7780},
            "worker": {"module": "apps.worker.service:service", "cwd": "workers"},
            "mail": {"module": "apps.mail.service:service", "env": {"MAIL_SMTP_PORT": "7725", "MAIL_NAME": "7725"}},
        },
    }
    source.write_text(yaml.safe_dump(document))
    production, staging = environment(source, PRODUCTION), environment(source, STAGING)
    assert (production.control_port, staging.control_port) == (7700, 8700)
    assert (production.nats_port, staging.nats_port) == (7722, 8722)
    assert staging.home.root == production.home.root / "envs" / "staging"
    assert production.prepare() == source
    derived = yaml.safe_load(staging.prepare().read_text())
    assert derived["services"]["gateway"]["port"] == 8780
    assert derived["services"]["mail"]["env"] == {"MAIL_SMTP_PORT": "8725", "MAIL_NAME": "7725"}  # *_PORT moves
    assert derived["services"]["web"]["cwd"] == str(tmp_path.resolve())
    assert derived["services"]["worker"]["cwd"] == str((tmp_path / "workers").resolve())
    assert derive(document, source_dir=tmp_path, offset=0)["services"]["gateway"]["port"] == 7780
    with pytest.raises(DeliveryError, match="unknown environment"):
        environment(source, "qa")
    monkeypatch.setenv("BATON_QA_PORT_OFFSET", "2000")
    assert environment(source, "qa").port_base == 9800


def test_ci_workflow_has_path_filters_and_the_pipeline_stages() -> None:
    text = render_workflow(REPO / "apps" / "shop" / "baton.yaml", "order", repo=REPO)
    workflow = yaml.safe_load(text)
    paths = workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as True
    assert paths[0] == "apps/shop/order/**"
    assert "apps/shop/baton.yaml" in paths
    steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["verify"]["steps"])
    assert "baton pipeline run order -f apps/shop/baton.yaml --skip can-i-deploy --skip promote" in steps
    promote = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["promote"]["steps"])
    assert "--only can-i-deploy --only promote" in promote
    assert workflow["jobs"]["promote"]["if"] == "github.ref == 'refs/heads/main'"
    with pytest.raises(DeliveryError):
        render_workflow(REPO / "apps" / "shop" / "baton.yaml", "nope", repo=REPO)


def test_the_shipped_shop_workflows_are_up_to_date() -> None:
    shipped = REPO / "templates" / "ci" / "shop"
    for workflow in sorted(shipped.glob("*.yml")):
        expected = render_workflow(REPO / "apps" / "shop" / "baton.yaml", workflow.stem, repo=REPO)
        assert workflow.read_text() == expected, f"regenerate with: baton pipeline ci {workflow.stem} -o {workflow}"
    assert len(list(shipped.glob("*.yml"))) >= 4


def test_rollout_view_renders_steps_and_analysis() -> None:
    from rich.console import Console

    view = {
        "service": "web", "strategy": "canary", "phase": "progressing", "stable_version": "1.0", "new_version": "1.1",
        "weight": 25, "step": 2, "steps": [5, 10, 25, 100], "message": "step 3/4",
        "analysis": {
            "verdict": "pass", "window": 30.0, "reason": "",
            "checks": [{"name": "error_rate", "value": 0.0, "threshold": 0.01, "ok": True, "detail": ""},
                       {"name": "p99", "value": 0.012, "threshold": 0.5, "ok": True, "detail": ""}],
            "canary": {"requests": 120, "errors": 0, "error_rate": 0.0, "p99": 0.012, "burn": {}},
            "stable": {"requests": 360, "errors": 0, "error_rate": 0.0, "p99": 0.010, "burn": {}},
        },
    }  # fmt: skip
    console = Console(record=True, width=120)
    console.print(rollout_view(view))
    text = console.export_text()
    assert "25% on 1.1" in text
    assert "setWeight 25%" in text
    assert "12ms" in text
