"""Idempotency-Key: replay, 422 on a different body, concurrent duplicates, per-route scope, 5xx release."""

from __future__ import annotations

import asyncio

import fastapi
import pytest
from sqlalchemy import func, select, text

from baton.errors import ConfigError
from baton.kit import APIRouter, IdempotencyPolicy, Service, SessionDep
from baton.kit.db import queued_writers
from baton.kit.idempotency import idempotency_table
from baton.testing import wait_until


class Counter:
    """Counts executions of the endpoints and lets a test hold one open."""

    def __init__(self) -> None:
        self.executions = 0
        self.gate: asyncio.Event | None = None
        self.inside = asyncio.Event()
        self.fail_next = False


def _service(counter: Counter) -> Service:
    service = Service("payments")

    @service.post("/v1/payments", status_code=201)
    @service.idempotent
    async def pay(body: dict[str, int], response: fastapi.Response) -> dict[str, int]:
        counter.executions += 1
        counter.inside.set()
        if counter.gate is not None:
            await counter.gate.wait()
        if counter.fail_next:
            counter.fail_next = False
            raise fastapi.HTTPException(503, "processor down")
        response.headers["Location"] = f"/v1/payments/{counter.executions}"
        return {"payment": counter.executions, **body}

    @service.post("/v1/refunds", status_code=201)
    @service.idempotent(policy=IdempotencyPolicy(required=True))
    async def refund(body: dict[str, int]) -> dict[str, int]:
        counter.executions += 1
        return {"refund": counter.executions}

    return service


async def test_same_key_and_body_replays_the_stored_response(serving):
    counter = Counter()
    async with serving(_service(counter)) as client:
        first = await client.post("/v1/payments", json={"cents": 500}, headers={"Idempotency-Key": "k-1"})
        # Same JSON, other key order and spacing: still the same request.
        again = await client.post(
            "/v1/payments",
            content=b'{ "cents" : 500 }',
            headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
        )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() == {"payment": 1, "cents": 500}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Location"] == first.headers["Location"] == "/v1/payments/1"
    assert counter.executions == 1


async def test_same_key_with_a_different_body_is_a_422_problem(serving):
    counter = Counter()
    async with serving(_service(counter)) as client:
        await client.post("/v1/payments", json={"cents": 500}, headers={"Idempotency-Key": "k-2"})
        reused = await client.post("/v1/payments", json={"cents": 900}, headers={"Idempotency-Key": "k-2"})
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == "urn:baton:problem:idempotency-key-reused"
    assert counter.executions == 1


async def test_concurrent_duplicates_execute_once(serving):
    counter = Counter()
    counter.gate = asyncio.Event()
    async with serving(_service(counter)) as client:
        headers = {"Idempotency-Key": "k-3"}
        first = asyncio.create_task(client.post("/v1/payments", json={"cents": 1}, headers=headers))
        await wait_until(counter.inside.is_set, message="first request inside the endpoint")
        duplicate = await client.post("/v1/payments", json={"cents": 1}, headers=headers)
        counter.gate.set()
        original = await first
        replay = await client.post("/v1/payments", json={"cents": 1}, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.headers["Retry-After"] == "1"
    assert original.status_code == 201
    assert replay.json() == original.json()
    assert counter.executions == 1


async def test_keys_are_scoped_per_route(serving):
    counter = Counter()
    async with serving(_service(counter)) as client:
        paid = await client.post("/v1/payments", json={"cents": 1}, headers={"Idempotency-Key": "shared"})
        refunded = await client.post("/v1/refunds", json={"cents": 1}, headers={"Idempotency-Key": "shared"})
    assert paid.json() == {"payment": 1, "cents": 1}
    assert refunded.json() == {"refund": 2}
    assert "Idempotent-Replayed" not in refunded.headers


async def test_a_failed_attempt_releases_the_key_for_the_retry(serving):
    counter = Counter()
    counter.fail_next = True
    service = _service(counter)
    async with serving(service) as client:
        failed = await client.post("/v1/payments", json={"cents": 7}, headers={"Idempotency-Key": "k-4"})
        retried = await client.post("/v1/payments", json={"cents": 7}, headers={"Idempotency-Key": "k-4"})
        async with service.transaction() as session:
            rows = (await session.execute(select(func.count()).select_from(idempotency_table))).scalar_one()
    assert failed.status_code == 503
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert counter.executions == 2
    assert rows == 1


async def test_requests_without_a_key_execute_unless_the_policy_requires_one(serving):
    counter = Counter()
    async with serving(_service(counter)) as client:
        one = await client.post("/v1/payments", json={"cents": 1})
        two = await client.post("/v1/payments", json={"cents": 1})
        refused = await client.post("/v1/refunds", json={"cents": 1})
    assert [one.json()["payment"], two.json()["payment"]] == [1, 2]
    assert refused.status_code == 400
    assert "Idempotency-Key" in refused.json()["detail"]


async def test_an_idempotent_endpoint_on_a_plain_fastapi_router_refuses_to_start(instance_settings):
    service = Service("misrouted")
    router = fastapi.APIRouter()

    @router.post("/v1/things")
    @service.idempotent
    async def create() -> None:
        return None

    service.include_router(router)
    with pytest.raises(ConfigError, match=r"baton\.kit\.APIRouter"):
        async with service.running(instance_settings):
            pass


async def test_kit_routers_included_with_a_prefix_work(serving):
    service = Service("prefixed")
    router = APIRouter()
    calls = []

    @router.post("/things", status_code=201)
    @service.idempotent
    async def create() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    service.include_router(router, prefix="/v1")
    async with serving(service) as client:
        first = await client.post("/v1/things", headers={"Idempotency-Key": "p"})
        second = await client.post("/v1/things", headers={"Idempotency-Key": "p"})
        async with service.transaction() as session:
            scopes = (await session.execute(select(idempotency_table.c.scope))).scalars().all()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json() == {"n": 1}
    assert scopes == ["POST /v1/things anonymous"]


async def test_the_stored_answer_is_written_after_the_endpoints_transaction_commits(serving):
    service = Service("ledger")

    @service.post("/v1/entries", status_code=201)
    @service.idempotent
    async def add(body: dict[str, int], session: SessionDep) -> dict[str, int]:
        await session.execute(text("INSERT INTO entries (cents) VALUES (:c)"), {"c": body["cents"]})
        if body["cents"] < 0:
            raise fastapi.HTTPException(409, "negative entries are refused")
        return body

    async with serving(service) as client:
        async with service.transaction() as session:
            await session.execute(text("CREATE TABLE entries (cents INTEGER)"))
        created = await client.post("/v1/entries", json={"cents": 5}, headers={"Idempotency-Key": "e-1"})
        replayed = await client.post("/v1/entries", json={"cents": 5}, headers={"Idempotency-Key": "e-1"})
        refused = await client.post("/v1/entries", json={"cents": -1}, headers={"Idempotency-Key": "e-2"})
        async with service.transaction() as session:
            entries = (await session.execute(text("SELECT cents FROM entries"))).scalars().all()
            keys = (await session.execute(select(idempotency_table.c.key))).scalars().all()
    assert created.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert refused.status_code == 409
    assert entries == [5]  # the refused entry was rolled back...
    assert keys == ["e-1"]  # ...and its key released, so a corrected retry can run


def _ledger(counter: Counter) -> Service:
    """An idempotent endpoint that takes the request's session: its key rides in that transaction."""
    service = Service("ledger")

    @service.post("/v1/entries", status_code=201)
    @service.idempotent
    async def add(body: dict[str, int], session: SessionDep) -> dict[str, int]:
        counter.executions += 1
        await session.execute(text("INSERT INTO entries (cents) VALUES (:c)"), {"c": body["cents"]})
        counter.inside.set()
        if counter.gate is not None:
            await counter.gate.wait()
        return {"entry": counter.executions, **body}

    return service


class WriteTransactions:
    """Counts committed transactions that wrote, with their statements (on the service's engine)."""

    def __init__(self, service: Service) -> None:
        from sqlalchemy import event

        self.committed: list[list[str]] = []
        self._open: dict[int, list[str]] = {}
        engine = service.context.engine
        assert engine is not None
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "commit", self._commit)

    def _statement(self, conn, _cursor, statement, *_):
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            self._open.setdefault(id(conn), []).append(" ".join(statement.split()[:3]))

    def _commit(self, conn):
        statements = self._open.pop(id(conn), None)
        if statements:
            self.committed.append(statements)


async def test_a_session_endpoint_commits_effect_key_and_answer_in_one_transaction(serving):
    counter = Counter()
    service = _ledger(counter)
    async with serving(service) as client:
        async with service.transaction() as session:
            await session.execute(text("CREATE TABLE entries (cents INTEGER)"))
        writes = WriteTransactions(service)
        created = await client.post("/v1/entries", json={"cents": 5}, headers={"Idempotency-Key": "f-1"})
        replayed = await client.post("/v1/entries", json={"cents": 5}, headers={"Idempotency-Key": "f-1"})
        reused = await client.post("/v1/entries", json={"cents": 6}, headers={"Idempotency-Key": "f-1"})
        async with service.transaction() as session:
            stored = (await session.execute(select(idempotency_table))).one()
    assert created.status_code == replayed.status_code == 201
    assert replayed.json() == created.json() == {"entry": 1, "cents": 5}
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    assert counter.executions == 1
    assert writes.committed == [
        ["INSERT INTO baton_idempotency", "INSERT INTO entries", "UPDATE baton_idempotency SET"]
    ]
    assert (stored.key, stored.status_code) == ("f-1", 201)


async def test_a_concurrent_duplicate_of_a_session_endpoint_waits_and_replays(serving):
    counter = Counter()
    counter.gate = asyncio.Event()
    service = _ledger(counter)
    async with serving(service) as client:
        async with service.transaction() as session:
            await session.execute(text("CREATE TABLE entries (cents INTEGER)"))
        headers = {"Idempotency-Key": "f-2"}
        first = asyncio.create_task(client.post("/v1/entries", json={"cents": 1}, headers=headers))
        await wait_until(counter.inside.is_set, message="first request inside the endpoint")
        duplicate = asyncio.create_task(client.post("/v1/entries", json={"cents": 1}, headers=headers))
        engine = service.context.engine
        assert engine is not None
        # The duplicate's insert of the key waits behind the first transaction, which holds the write lock.
        await wait_until(lambda: queued_writers(engine) == 1, message="duplicate queued behind the first")
        assert not duplicate.done()
        counter.gate.set()
        original, replay = await first, await duplicate
        async with service.transaction() as session:
            entries = (await session.execute(text("SELECT count(*) FROM entries"))).scalar_one()
    assert original.status_code == replay.status_code == 201
    assert replay.json() == original.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert counter.executions == 1
    assert entries == 1


async def test_a_failed_session_endpoint_leaves_neither_effect_nor_key(serving):
    counter = Counter()
    service = _ledger(counter)

    @service.post("/v1/flaky", status_code=201)
    @service.idempotent
    async def flaky(body: dict[str, int], session: SessionDep) -> dict[str, int]:
        counter.executions += 1
        await session.execute(text("INSERT INTO entries (cents) VALUES (:c)"), {"c": body["cents"]})
        if counter.executions == 1:
            raise fastapi.HTTPException(503, "try again")
        return body

    async with serving(service) as client:
        async with service.transaction() as session:
            await session.execute(text("CREATE TABLE entries (cents INTEGER)"))
        failed = await client.post("/v1/flaky", json={"cents": 3}, headers={"Idempotency-Key": "f-3"})
        retried = await client.post("/v1/flaky", json={"cents": 3}, headers={"Idempotency-Key": "f-3"})
        async with service.transaction() as session:
            entries = (await session.execute(text("SELECT cents FROM entries"))).scalars().all()
            keys = (await session.execute(select(idempotency_table.c.key))).scalars().all()
    assert failed.status_code == 503
    assert retried.status_code == 201
    assert counter.executions == 2
    assert entries == [3]
    assert keys == ["f-3"]
