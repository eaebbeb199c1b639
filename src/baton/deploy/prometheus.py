"""Render SLOs as Prometheus recording and alerting rules, plus ``promtool test rules`` unit tests.

``baton export prometheus`` writes two files::

    baton-slo-rules.yml        recording rules + multi-window multi-burn-rate alerts (promtool check rules)
    baton-slo-rules.test.yml   synthetic traffic that must (and must not) page (promtool test rules)

For every SLO and every window the rules use (5m … 3d, and the SLO's own window) one recording rule::

    slo:sli_error:ratio_rate<window>{slo, service}   share of bad requests over the window

and one gauge of the budget left, ``slo:error_budget_remaining:ratio{slo, service}``. The alert
``SloErrorBudgetBurn`` fires per SLO and severity when the burn rate exceeds the rule's factor over both windows
of any of that severity's rule pairs (Google SRE workbook, chapter 5, "multiwindow, multi-burn-rate alerts").
The expressions read the kit's OTel-named histogram (``http_server_request_duration_seconds``), so they work on
any Prometheus that scrapes Baton services.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import utils as prometheus_utils

from baton.telemetry.red import HTTP_DURATION
from baton.telemetry.slo import DEFAULT_RULES, SLO, BurnRateRule

__all__ = [
    "ALERT_NAME",
    "RULES_FILE",
    "TESTS_FILE",
    "duration_label",
    "error_ratio_expr",
    "prometheus_rule_tests",
    "prometheus_rules",
    "render_rule_tests",
    "render_rules",
    "write_prometheus",
]

ALERT_NAME = "SloErrorBudgetBurn"
RULES_FILE = "baton-slo-rules.yml"
TESTS_FILE = "baton-slo-rules.test.yml"


def duration_label(seconds: float) -> str:
    """Prometheus duration text for ``seconds`` in its largest whole unit (``300`` → ``5m``, ``86400`` → ``1d``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{max(1, round(seconds * 1000))}ms"


def error_ratio_expr(slo: SLO, window: float) -> str:
    """PromQL for the share of ``slo``'s bad requests over ``window`` seconds."""
    base = {"service": slo.service}
    if slo.route is not None:
        base["http_route"] = slo.route
    rng = duration_label(window)
    total = f"sum(rate({HTTP_DURATION}_count{_selector(base)}[{rng}]))"
    if slo.sli == "availability":
        errors = f"{HTTP_DURATION}_count{_selector(base, status='5..')}"
        # `or vector(0)`: with no 5xx series at all the ratio is 0, not "no data" (which would hide the budget).
        return f"(sum(rate({errors}[{rng}])) or vector(0))\n/\n{total}"
    bound = _le(slo.latency_bound or 0.0)
    good = f"sum(rate({HTTP_DURATION}_bucket{_selector({**base, 'le': bound})}[{rng}]))"
    return f"1 - (\n  {good}\n  /\n  {total}\n)"


def prometheus_rules(slos: Sequence[SLO], *, rules: Sequence[BurnRateRule] = DEFAULT_RULES) -> dict[str, Any]:
    """The rule file as a mapping: per SLO one recording group and one alerting group."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        labels = _slo_labels(slo)
        windows = sorted({w for r in rules for w in (r.long_window, r.short_window)} | {slo.window})
        recordings: list[dict[str, Any]] = [
            {"record": _recorded(w), "expr": error_ratio_expr(slo, w), "labels": dict(labels)} for w in windows
        ]
        recordings.append(
            {
                "record": "slo:error_budget_remaining:ratio",
                "expr": f"1 - ({_recorded(slo.window)}{_selector(labels)} / {_num(slo.budget)})",
                "labels": dict(labels),
            }
        )
        groups.append({"name": f"slo:{slo.name}:recordings", "rules": recordings})
        alerts = [
            _alert(slo, severity, [r for r in rules if r.severity == severity])
            for severity in dict.fromkeys(r.severity for r in rules)
        ]
        groups.append({"name": f"slo:{slo.name}:alerts", "rules": alerts})
    return {"groups": groups}


def prometheus_rule_tests(
    slos: Sequence[SLO], *, rule_file: str = RULES_FILE, rules: Sequence[BurnRateRule] = DEFAULT_RULES
) -> dict[str, Any]:
    """``promtool test rules`` cases: per SLO, traffic burning the budget (every severity fires) and healthy
    traffic (nothing fires, the whole budget remains)."""
    tests: list[dict[str, Any]] = []
    severities = list(dict.fromkeys(r.severity for r in rules))
    for slo in slos:
        labels = _slo_labels(slo)
        expected = [
            {"exp_labels": {**labels, "severity": s}, "exp_annotations": _annotations(slo, s)} for s in severities
        ]
        tests.append(
            {
                "name": f"{slo.name}: all requests bad, every burn-rate alert fires",
                "interval": "1m",
                "input_series": _series(slo, bad_share=1.0),
                "alert_rule_test": [{"eval_time": "30m", "alertname": ALERT_NAME, "exp_alerts": expected}],
            }
        )
        # Burning 5x: above every ticket factor (3, 1) and below every page factor (14.4, 6).
        slow_burn = [e for e in expected if e["exp_labels"]["severity"] == "ticket"]
        if len(slow_burn) < len(expected) and tuple(rules) == DEFAULT_RULES:
            tests.append(
                {
                    "name": f"{slo.name}: budget burning 5x, a ticket but no page",
                    "interval": "1m",
                    "input_series": _series(slo, bad_share=5 * slo.budget),
                    "alert_rule_test": [{"eval_time": "30m", "alertname": ALERT_NAME, "exp_alerts": slow_burn}],
                }
            )
        tests.append(
            {
                "name": f"{slo.name}: healthy traffic, no alert and the budget intact",
                "interval": "1m",
                "input_series": _series(slo, bad_share=0.0),
                "alert_rule_test": [{"eval_time": "30m", "alertname": ALERT_NAME, "exp_alerts": []}],
                "promql_expr_test": [
                    {
                        "expr": f"slo:error_budget_remaining:ratio{_selector({'slo': slo.name})}",
                        "eval_time": "30m",
                        "exp_samples": [{"labels": f"slo:error_budget_remaining:ratio{_selector(labels)}", "value": 1}],
                    }
                ],
            }
        )
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def render_rules(slos: Sequence[SLO], *, rules: Sequence[BurnRateRule] = DEFAULT_RULES) -> str:
    """The rule file as YAML."""
    return _yaml(prometheus_rules(slos, rules=rules))


def render_rule_tests(slos: Sequence[SLO], *, rule_file: str = RULES_FILE) -> str:
    """The promtool unit-test file as YAML."""
    return _yaml(prometheus_rule_tests(slos, rule_file=rule_file))


def write_prometheus(slos: Sequence[SLO], directory: Path) -> list[Path]:
    """Write the rule file and its tests into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    rules_path, tests_path = directory / RULES_FILE, directory / TESTS_FILE
    rules_path.write_text(render_rules(slos))
    tests_path.write_text(render_rule_tests(slos, rule_file=RULES_FILE))
    return [rules_path, tests_path]


def _alert(slo: SLO, severity: str, pairs: Sequence[BurnRateRule]) -> dict[str, Any]:
    labels = _slo_labels(slo)
    clauses = []
    for rule in pairs:
        threshold = f"({_num(rule.factor)} * {_num(slo.budget)})"
        clauses.append(
            f"(\n  {_recorded(rule.long_window)}{_selector(labels)} > {threshold}\nand\n"
            f"  {_recorded(rule.short_window)}{_selector(labels)} > {threshold}\n)"
        )
    return {
        "alert": ALERT_NAME,
        "expr": "\nor\n".join(clauses),
        "labels": {**labels, "severity": severity},
        "annotations": _annotations(slo, severity),
    }


def _annotations(slo: SLO, severity: str) -> dict[str, str]:
    target = slo.service + (f" {slo.route}" if slo.route else "")
    bound = slo.latency_bound or 0.0
    judged = "" if abs(bound - (slo.threshold or 0.0)) < 1e-9 else f" (judged at the {_le(bound)}s bucket)"
    what = (
        f"{slo.objective}% of requests within {_le(slo.threshold or 0.0)}s{judged}"
        if slo.sli == "latency"
        else f"{slo.objective}% of requests without a server error"
    )
    notes = {
        "summary": f"SLO {slo.name} is burning its error budget too fast ({severity})",
        "description": f"{target}: objective {what} over {duration_label(slo.window)}.",
    }
    if slo.runbook:
        notes["runbook_url"] = slo.runbook
    return notes


def _series(slo: SLO, *, bad_share: float) -> list[dict[str, str]]:
    route = slo.route or "/v1/example"
    base = {"service": slo.service, "http_route": route, "http_request_method": "GET"}
    # Large enough that 5x the budget of a 99.99% objective is still a whole number of requests.
    per_minute = 6000
    bad = round(per_minute * min(1.0, bad_share))
    if slo.sli == "availability":
        return [
            {
                "series": _name(f"{HTTP_DURATION}_count", {**base, "http_response_status_code": "500"}),
                "values": _ramp(bad),
            },
            {
                "series": _name(f"{HTTP_DURATION}_count", {**base, "http_response_status_code": "200"}),
                "values": _ramp(per_minute - bad),
            },
        ]
    ok = {**base, "http_response_status_code": "200"}
    bound = _le(slo.latency_bound or 0.0)
    return [
        {"series": _name(f"{HTTP_DURATION}_count", ok), "values": _ramp(per_minute)},
        {"series": _name(f"{HTTP_DURATION}_bucket", {**ok, "le": bound}), "values": _ramp(per_minute - bad)},
        {"series": _name(f"{HTTP_DURATION}_bucket", {**ok, "le": "+Inf"}), "values": _ramp(per_minute)},
    ]


def _ramp(per_step: int) -> str:
    return f"0+{per_step}x30"  # one sample a minute up to the 30m evaluation


def _slo_labels(slo: SLO) -> dict[str, str]:
    return {"slo": slo.name, "service": slo.service}


def _recorded(window: float) -> str:
    return f"slo:sli_error:ratio_rate{duration_label(window)}"


def _selector(labels: dict[str, str], *, status: str | None = None) -> str:
    parts = [f"{key}={_quote(value)}" for key, value in labels.items()]
    if status is not None:
        parts.append(f"http_response_status_code=~{_quote(status)}")
    return "{" + ",".join(parts) + "}"


def _name(metric: str, labels: dict[str, str]) -> str:
    return metric + _selector(labels)


def _quote(value: str) -> str:
    # PromQL string literals follow Go's escaping, which JSON's double-quoted strings are a subset of.
    return json.dumps(value)


def _le(value: float) -> str:
    """A bucket bound exactly as prometheus_client writes it in ``le`` (``0.25``, ``1.0``, ``+Inf``)."""
    text: str = prometheus_utils.floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _num(value: float) -> str:
    return f"{value:.10g}"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL) as literal blocks, the way people write rule files by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
