"""The rendered Prometheus rules pass ``promtool check rules`` and their own ``promtool test rules`` cases."""

from __future__ import annotations

import subprocess

import pytest

from baton.deploy.prometheus import RULES_FILE, write_prometheus
from baton.telemetry.slo import slos_from_mapping

pytestmark = pytest.mark.integration

SLOS = slos_from_mapping(
    [
        {
            "name": "checkout-latency",
            "service": "order",
            "route": "/v1/checkout",
            "objective": 99.0,
            "latency_ms": 300,
            "runbook": "https://runbooks.example/checkout",
        },
        {
            "name": "product-page",
            "service": "catalog",
            "route": "/v1/products/{sku}",
            "objective": 99.9,
            "window": "7d",
        },
    ]
)


def promtool_run(promtool, *args, cwd):
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_rules_are_valid_and_their_unit_tests_pass(promtool, tmp_path):
    rules, tests = write_prometheus(SLOS, tmp_path)

    checked = promtool_run(promtool, "check", "rules", rules.name, cwd=tmp_path)
    tested = promtool_run(promtool, "test", "rules", tests.name, cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 22 rules found" in checked.stdout
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_unit_tests_catch_a_wrong_burn_rate_factor(promtool, tmp_path):
    _, tests = write_prometheus(SLOS[:1], tmp_path)
    rules = tmp_path / RULES_FILE
    # The page thresholds quietly raised to 200x the budget (unreachable even at 100% errors): the
    # "every alert fires" case must notice the missing page.
    rules.write_text(rules.read_text().replace("(14.4 * 0.01)", "(200 * 0.01)").replace("(6 * 0.01)", "(200 * 0.01)"))

    tested = promtool_run(promtool, "test", "rules", tests.name, cwd=tmp_path)

    assert tested.returncode != 0
    assert "checkout-latency: all requests bad" in tested.stdout + tested.stderr
