"""Exporter wiring from the environment, and the provider the kit's tracing builds with it."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision

from baton.telemetry.export import build_provider, export_urls, exporters_from_env, keep_errors


@pytest.mark.parametrize(
    ("env", "endpoint", "expected"),
    [
        ({}, None, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, None, ["http://collector:4318/v1/traces"]),
        (
            {"BATON_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"},
            None,
            ["http://a:4318/v1/traces"],
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, None, ["http://c:4318/custom"]),
        ({"BATON_TELEMETRY_URL": "http://127.0.0.1:7700"}, None, ["http://127.0.0.1:7700/v1/traces"]),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "BATON_TELEMETRY_URL": "http://cp:7700"},
            None,
            ["http://collector:4318/v1/traces", "http://cp:7700/v1/traces"],
        ),
        ({"BATON_TELEMETRY_URL": "http://cp:7700"}, "http://cp:7700", ["http://cp:7700/v1/traces"]),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/x"},
            "http://explicit:4318",
            ["http://explicit:4318/v1/traces"],
        ),
    ],
)
def test_export_urls(env, endpoint, expected):
    assert export_urls(endpoint=endpoint, environ=env) == expected


def test_one_exporter_per_url():
    exporters = exporters_from_env(
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "BATON_TELEMETRY_URL": "http://b:2"}
    )

    assert len(exporters) == 2


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("1", True), ("0", False), ("false", False), ("off", False)]
)
def test_keep_errors_switch(value, expected):
    assert keep_errors({} if value is None else {"BATON_TRACE_KEEP_ERRORS": value}) is expected


def _decision(provider) -> Decision:
    return provider.sampler.should_sample(None, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF, "x").decision


def test_without_exporters_unsampled_spans_are_dropped_not_recorded():
    provider = build_provider(Resource.create({}), ratio=0.0, environ={})

    assert _decision(provider) is Decision.DROP


def test_with_an_exporter_unsampled_spans_are_recorded_for_the_error_tail():
    provider = build_provider(Resource.create({}), ratio=0.0, environ={"BATON_TELEMETRY_URL": "http://cp:7700"})
    try:
        assert _decision(provider) is Decision.RECORD_ONLY
    finally:
        provider.shutdown()


def test_keep_errors_off_means_pure_head_sampling():
    env = {"BATON_TELEMETRY_URL": "http://cp:7700", "BATON_TRACE_KEEP_ERRORS": "0"}
    provider = build_provider(Resource.create({}), ratio=0.0, environ=env)
    try:
        assert _decision(provider) is Decision.DROP
    finally:
        provider.shutdown()
