"""A saga started in the caller's transaction (``Orchestrator.start(..., session=)``): it exists exactly when the
caller's own writes do, is driven only once they have committed, and is neither claimed nor read back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from baton.saga import Orchestrator, Saga, SagaExists, SagaNotFound, SagaStatus, SqlSagaStore, Step
from baton.testing import wait_until

from .helpers import FAST_COMPENSATION, FAST_POLICY, FAST_RETRY
from .test_log_batching import CountingStore

orders = sa.Table("orders", sa.MetaData(), sa.Column("id", sa.String, primary_key=True))


@pytest.fixture
async def sessions(engine):
    async with engine.begin() as conn:
        await conn.run_sync(orders.metadata.create_all)
    return async_sessionmaker(engine, expire_on_commit=False)


def one_step(seen: list[str]) -> Saga:
    async def act(ctx):
        seen.append(ctx.saga_id)

    return Saga("checkout", steps=[Step("a", action=act, retry=FAST_RETRY)])


async def test_the_saga_commits_with_the_callers_writes_and_is_driven_after_the_commit(engine, sessions) -> None:
    store = CountingStore(engine)
    seen: list[str] = []
    async with Orchestrator(store, [one_step(seen)], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        async with sessions() as session, session.begin():
            await session.execute(orders.insert().values(id="o-1"))
            assert await orch.start("checkout", {"order_id": "o-1"}, saga_id="o-1", session=session) == "o-1"
            assert seen == []  # nothing runs before the caller commits
            assert orch.in_flight == 0
            async with engine.connect() as other:  # and nobody else sees the saga yet
                assert (await other.execute(sa.text("SELECT count(*) FROM baton_saga"))).scalar() == 0
        record = await orch.wait("o-1", timeout=10)

    assert record.status is SagaStatus.COMPLETED
    assert seen == ["o-1"]
    # Written by the caller's transaction, then driven from what was written: no create, claim or read of its own.
    assert store.writes == ["step_started", "step_succeeded+saga_completed"]


async def test_a_rolled_back_transaction_leaves_no_saga_and_runs_nothing(engine, sessions) -> None:
    store = SqlSagaStore(engine)
    seen: list[str] = []
    async with Orchestrator(store, [one_step(seen)], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        async with sessions() as session:

            async def write_then_refuse() -> None:
                async with session.begin():
                    await orch.start("checkout", {"order_id": "o-2"}, saga_id="o-2", session=session)
                    raise RuntimeError("refused after the saga was written")

            with pytest.raises(RuntimeError, match="refused"):
                await write_then_refuse()
            async with session.begin():  # the same session commits later: its hook forgot the rolled-back saga
                await session.execute(orders.insert().values(id="o-3"))
        with pytest.raises(SagaNotFound):
            await store.get("o-2")
        assert orch.in_flight == 0
        assert seen == []


async def test_an_existing_id_is_refused_in_the_callers_transaction(engine, sessions) -> None:
    store = SqlSagaStore(engine)
    async with Orchestrator(store, [one_step([])], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        await orch.execute("checkout", {}, saga_id="o-4", timeout=10)
        async with sessions() as session:
            with pytest.raises(SagaExists, match="exists"):
                await orch.start("checkout", {}, saga_id="o-4", session=session)


async def test_a_draining_orchestrator_writes_the_saga_unleased_for_a_peer(engine, sessions) -> None:
    store = SqlSagaStore(engine)
    seen: list[str] = []
    async with Orchestrator(store, [one_step(seen)], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as old:
        await old.drain()
        async with sessions() as session, session.begin():
            await old.start("checkout", {}, saga_id="o-5", session=session)
        assert (await store.get("o-5")).owner is None
        async with Orchestrator(
            store, [one_step(seen)], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION
        ) as peer:
            await wait_until(lambda: seen == ["o-5"], timeout=10, message="the peer's sweeper took the saga up")
            assert (await peer.wait("o-5", timeout=10)).status is SagaStatus.COMPLETED
