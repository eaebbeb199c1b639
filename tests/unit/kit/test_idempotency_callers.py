"""Idempotency keys are per caller: another caller's key (same key, same body) is a different key."""

from __future__ import annotations

import fastapi
import pytest
from sqlalchemy import select, text
from starlette.requests import Request

from baton.kit import Service, SessionDep
from baton.kit.idempotency import idempotency_table, set_caller_resolver

ALICE = {"Authorization": "Bearer alice-token-1"}
ALICE_REFRESHED = {"Authorization": "Bearer alice-token-2"}
MALLORY = {"Authorization": "Bearer mallory-token"}
SUBJECTS = {"alice-token-1": "alice", "alice-token-2": "alice", "mallory-token": "mallory"}


def _service(folded: bool) -> tuple[Service, list[str | None]]:
    """An idempotent creating route (in its own transaction or the request's) that records who executed it."""
    service = Service("orders")
    executed: list[str | None] = []

    if folded:

        @service.post("/v1/orders", status_code=201)
        @service.idempotent
        async def create_in_tx(
            body: dict[str, int], request: fastapi.Request, session: SessionDep
        ) -> dict[str, object]:
            await session.execute(text("SELECT 1"))
            executed.append(request.headers.get("authorization"))
            return {"order": len(executed), "for": request.headers.get("authorization"), **body}

    else:

        @service.post("/v1/orders", status_code=201)
        @service.idempotent
        async def create(body: dict[str, int], request: fastapi.Request) -> dict[str, object]:
            executed.append(request.headers.get("authorization"))
            return {"order": len(executed), "for": request.headers.get("authorization"), **body}

    return service, executed


@pytest.mark.parametrize("folded", [False, True], ids=["own-transactions", "request-transaction"])
async def test_another_callers_key_executes_anew_and_never_gets_the_first_answer(serving, folded):
    service, executed = _service(folded)
    key = {"Idempotency-Key": "checkout-1"}
    async with serving(service) as client:
        alice = await client.post("/v1/orders", json={"cents": 5}, headers={**ALICE, **key})
        mallory = await client.post("/v1/orders", json={"cents": 5}, headers={**MALLORY, **key})
        anonymous = await client.post("/v1/orders", json={"cents": 5}, headers=key)
        alice_again = await client.post("/v1/orders", json={"cents": 5}, headers={**ALICE, **key})
        async with service.transaction() as session:
            stored = (await session.execute(select(idempotency_table.c.scope, idempotency_table.c.key))).all()
    assert [a.status_code for a in (alice, mallory, anonymous, alice_again)] == [201] * 4
    assert alice.json()["for"] == ALICE["Authorization"]
    assert mallory.json()["for"] == MALLORY["Authorization"]
    assert "Idempotent-Replayed" not in mallory.headers
    assert anonymous.json()["for"] is None
    assert executed == [ALICE["Authorization"], MALLORY["Authorization"], None]
    # The same caller retrying still gets its own first answer.
    assert alice_again.headers["Idempotent-Replayed"] == "true"
    assert alice_again.json() == alice.json()
    # Three keys stored, none holding a credential.
    assert len(stored) == 3
    assert {k for _, k in stored} == {"checkout-1"}
    for scope, _ in stored:
        assert "token" not in scope
        assert scope.startswith("POST /v1/orders ")


async def test_a_resolver_scopes_by_the_verified_subject_across_a_token_refresh(serving):
    service, executed = _service(folded=True)

    async def subject(request: Request) -> str | None:
        _, _, token = request.headers.get("authorization", "").partition(" ")
        return SUBJECTS.get(token)  # what a verifier would say; None for a token it refuses

    set_caller_resolver(service.app, subject)
    key = {"Idempotency-Key": "checkout-2"}
    async with serving(service) as client:
        first = await client.post("/v1/orders", json={"cents": 7}, headers={**ALICE, **key})
        refreshed = await client.post("/v1/orders", json={"cents": 7}, headers={**ALICE_REFRESHED, **key})
        mallory = await client.post("/v1/orders", json={"cents": 7}, headers={**MALLORY, **key})
        forged = await client.post("/v1/orders", json={"cents": 7}, headers={"Authorization": "Bearer x", **key})
    assert refreshed.headers["Idempotent-Replayed"] == "true"
    assert refreshed.json() == first.json()
    assert mallory.json()["for"] == MALLORY["Authorization"]
    assert forged.json()["for"] == "Bearer x"  # an unverified caller is keyed by its credentials' hash
    assert executed == [ALICE["Authorization"], MALLORY["Authorization"], "Bearer x"]
