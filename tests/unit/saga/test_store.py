"""The SQL saga store on SQLite and (scale-out) PostgreSQL: idempotent create, fenced appends, leases."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from baton.errors import SagaError
from baton.saga import EntryKind, LeaseLost, SagaExists, SagaNotFound, SagaStatus, SqlSagaStore
from baton.saga.tables import saga_table

from .backends import postgres_engine, sqlite_engine

TTL = 30.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.scaleout)])
async def backend(request, tmp_path):
    if request.param == "sqlite":
        async with sqlite_engine(tmp_path / "store.db") as engine:
            yield engine
    else:
        url = request.getfixturevalue("postgres_url")
        async with postgres_engine(url) as engine:
            yield engine


@pytest.fixture
def sql_store(backend) -> SqlSagaStore:
    return SqlSagaStore(backend)


async def _create(store, saga_id="s-1", owner="a", **overrides):
    options = {"name": "checkout", "version": 1, "data": {"order_id": "o-1"}, "correlation_id": "c-1"}
    options.update(overrides)
    return await store.create(saga_id=saga_id, owner=owner, lease_ttl=TTL, **options)


async def test_create_is_idempotent_by_id(sql_store) -> None:
    first, created = await _create(sql_store)
    again, created_again = await _create(sql_store, data={"order_id": "other"})
    assert (created, created_again) == (True, False)
    assert again.data == first.data == {"order_id": "o-1"}
    history = await sql_store.history("s-1")
    assert [e.kind for e in history.entries] == [EntryKind.SAGA_STARTED]
    assert history.entries[0].payload["input"] == {"order_id": "o-1"}
    assert history.saga.status is SagaStatus.RUNNING
    assert history.saga.owner == "a"


async def test_create_in_refuses_a_taken_id_with_saga_exists(sql_store, backend) -> None:
    await _create(sql_store)
    async with backend.connect() as conn:
        with pytest.raises(SagaExists, match="s-1"):
            await sql_store.create_in(
                conn,
                saga_id="s-1",
                name="checkout",
                version=1,
                data={},
                correlation_id="c-2",
                owner=None,
                lease_ttl=TTL,
            )


async def test_create_reads_only_saga_exists_as_the_id_being_taken(sql_store, monkeypatch) -> None:
    async def refuse(*args, **kwargs):
        raise SagaError("some other saga failure")

    monkeypatch.setattr(sql_store, "create_in", refuse)
    with pytest.raises(SagaError, match="some other saga failure"):  # not answered as "exists" (no saga s-1)
        await _create(sql_store)


async def test_append_moves_the_row_and_keeps_the_log_in_order(sql_store) -> None:
    await _create(sql_store)
    await sql_store.append(
        "s-1", owner="a", expected_seq=1, kind=EntryKind.STEP_STARTED, step="x", attempt=1, lease_ttl=TTL
    )
    await sql_store.append(
        "s-1",
        owner="a",
        expected_seq=2,
        kind=EntryKind.STEP_SUCCEEDED,
        step="x",
        attempt=1,
        payload={"output": {"y": 1}},
        data={"order_id": "o-1", "y": 1},
        lease_ttl=TTL,
    )
    history = await sql_store.history("s-1")
    assert [(e.seq, e.kind) for e in history.entries] == [
        (1, EntryKind.SAGA_STARTED),
        (2, EntryKind.STEP_STARTED),
        (3, EntryKind.STEP_SUCCEEDED),
    ]
    assert history.entries[2].payload == {"output": {"y": 1}}
    assert history.saga.data == {"order_id": "o-1", "y": 1}
    assert history.saga.last_seq == 3
    assert history.entries[1].at <= history.entries[2].at


async def test_append_is_fenced_on_owner_and_sequence(sql_store) -> None:
    await _create(sql_store)
    with pytest.raises(LeaseLost):
        await sql_store.append("s-1", owner="b", expected_seq=1, kind=EntryKind.STEP_STARTED, lease_ttl=TTL)
    with pytest.raises(LeaseLost):
        await sql_store.append("s-1", owner="a", expected_seq=0, kind=EntryKind.STEP_STARTED, lease_ttl=TTL)
    assert len((await sql_store.history("s-1")).entries) == 1


async def test_a_terminal_entry_releases_the_lease(sql_store) -> None:
    await _create(sql_store)
    await sql_store.append(
        "s-1", owner="a", expected_seq=1, kind=EntryKind.SAGA_COMPLETED, status=SagaStatus.COMPLETED, lease_ttl=TTL
    )
    record = await sql_store.get("s-1")
    assert record.status is SagaStatus.COMPLETED
    assert record.owner is None
    assert not await sql_store.claim("s-1", owner="b", lease_ttl=TTL)
    assert await sql_store.claimable(owner="b", limit=10) == []


async def test_leases_exclude_peers_until_they_expire_or_are_released(sql_store, backend) -> None:
    await _create(sql_store, "s-1", owner="a")
    await _create(sql_store, "s-2", owner="a")
    assert not await sql_store.claim("s-1", owner="b", lease_ttl=TTL)
    assert await sql_store.claim("s-1", owner="a", lease_ttl=TTL)  # the holder may re-claim
    assert await sql_store.claimable(owner="b", limit=10) == []
    assert sorted(await sql_store.claimable(owner="a", limit=10)) == ["s-1", "s-2"]

    async with backend.begin() as conn:  # a's lease on s-1 runs out
        await conn.execute(
            sa.update(saga_table).where(saga_table.c.id == "s-1").values(lease_expires_at=time.time() - 1)
        )
    assert await sql_store.claimable(owner="b", limit=10) == ["s-1"]
    assert await sql_store.claim("s-1", owner="b", lease_ttl=TTL)
    with pytest.raises(LeaseLost):
        await sql_store.append("s-1", owner="a", expected_seq=1, kind=EntryKind.STEP_STARTED, lease_ttl=TTL)

    await sql_store.release("s-2", owner="a")
    assert (await sql_store.get("s-2")).owner is None
    assert await sql_store.claim("s-2", owner="b", lease_ttl=TTL)


async def test_renew_extends_only_the_owners_leases(sql_store) -> None:
    await _create(sql_store, "s-1", owner="a")
    await _create(sql_store, "s-2", owner="b")
    before = (await sql_store.get("s-1")).lease_expires_at
    assert await sql_store.renew(owner="a", lease_ttl=TTL * 2) == 1
    assert (await sql_store.get("s-1")).lease_expires_at > before + TTL / 2


async def test_concurrent_claims_have_one_winner(sql_store) -> None:
    await _create(sql_store, owner="a")
    await sql_store.release("s-1", owner="a")
    wins = await asyncio.gather(*(sql_store.claim("s-1", owner=f"o{i}", lease_ttl=TTL) for i in range(5)))
    assert sum(wins) == 1


async def test_list_filters_and_orders_newest_first(sql_store) -> None:
    for i in range(3):
        await _create(sql_store, f"s-{i}", correlation_id=f"c-{i % 2}")
    await sql_store.append(
        "s-1", owner="a", expected_seq=1, kind=EntryKind.SAGA_COMPLETED, status=SagaStatus.COMPLETED, lease_ttl=TTL
    )
    assert [r.id for r in await sql_store.list()] == ["s-2", "s-1", "s-0"]
    assert [r.id for r in await sql_store.list(status="completed")] == ["s-1"]
    assert [r.id for r in await sql_store.list(correlation_id="c-0")] == ["s-2", "s-0"]
    assert len(await sql_store.list(limit=2)) == 2


async def test_unknown_saga_raises_not_found(sql_store) -> None:
    with pytest.raises(SagaNotFound):
        await sql_store.get("nope")
    with pytest.raises(SagaNotFound):
        await sql_store.history("nope")
