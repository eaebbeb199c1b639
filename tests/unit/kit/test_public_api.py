"""The kit's public names are a promise: changing them must be deliberate."""

from __future__ import annotations

import baton.kit


def test_public_api_is_pinned():
    assert sorted(baton.kit.__all__) == sorted(
        [
            "IDEMPOTENCY_HEADER",
            "PROBLEM_JSON",
            "REPLAYED_HEADER",
            "APIRouter",
            "CheckResult",
            "Component",
            "DependencyCheck",
            "IdempotencyPolicy",
            "InstanceContext",
            "InstanceSettings",
            "KitRoute",
            "MigrationSource",
            "Phase",
            "Service",
            "ServiceSettings",
            "SessionDep",
            "assume_available",
            "current_service",
            "idempotent",
            "migrate",
            "problem_response",
            "write_revision",
        ]
    )
    for name in baton.kit.__all__:
        assert getattr(baton.kit, name) is not None
