"""The package's public names are curated: adding or removing one is a deliberate change."""

from __future__ import annotations

import sys

import baton.saga


def test_public_names_are_pinned() -> None:
    assert sorted(baton.saga.__all__) == sorted(
        [
            "MIGRATIONS", "MIGRATIONS_DIR", "VERSION_TABLE", "Action", "CompensationRetry", "EntryKind",
            "FlowEvent", "IncidentSink", "LeaseLost", "LogEntry", "LoggingIncidentSink", "NonDeterminismError",
            "Orchestrator", "OrchestratorPolicy", "RecordingIncidentSink", "ReplayResult", "Saga",
            "SagaComponent", "SagaExists", "SagaHistory", "SagaIncident", "SagaNotFound", "SagaRecord", "SagaStatus",
            "SagaStore", "SqlSagaStore", "Step", "StepContext", "StepFailed", "StepRetry", "flow_timeline",
            "idempotency_key", "metadata", "record_event", "record_flow_event", "replay",
        ]
    )  # fmt: skip
    for name in baton.saga.__all__:
        assert getattr(baton.saga, name) is not None


def test_saga_errors_hang_from_the_baton_tree() -> None:
    from baton.errors import BatonError, SagaError

    for name in ("StepFailed", "SagaNotFound", "SagaExists", "NonDeterminismError", "LeaseLost"):
        error = getattr(baton.saga, name)
        assert issubclass(error, SagaError)
        assert issubclass(error, BatonError)
    assert baton.saga.SagaNotFound.status == 404
    assert baton.saga.LeaseLost.retryable


def test_importing_the_engine_does_not_load_the_service_kit() -> None:
    import subprocess

    probe = "import sys, baton.saga; print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
