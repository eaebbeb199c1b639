"""An action that logs its success in its own local transaction (``StepContext.succeed_in``): the action's write,
its success and the saga's end when no step follows commit together, or none of them does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from baton.saga import EntryKind, Orchestrator, Saga, SagaStatus, Step, StepContext, StepFailed
from baton.saga.definition import idempotency_key

from .helpers import FAST_COMPENSATION, FAST_POLICY, FAST_RETRY
from .test_log_batching import CountingStore

confirmed = sa.Table("confirmed", sa.MetaData(), sa.Column("id", sa.String, primary_key=True))


class CountingStoreIn(CountingStore):
    """Also counts the appends made in an action's transaction (prefixed ``in:``)."""

    _own = False

    async def append_entries(self, saga_id, **kwargs):
        self._own = True  # its own transaction, counted by CountingStore
        try:
            return await super().append_entries(saga_id, **kwargs)
        finally:
            self._own = False

    async def append_entries_in(self, connection, saga_id, **kwargs):
        if not self._own:
            self.writes.append("in:" + "+".join(e.kind.value for e in kwargs["entries"]))
        return await super().append_entries_in(connection, saga_id, **kwargs)


@pytest.fixture
async def sessions(engine):
    async with engine.begin() as conn:
        await conn.run_sync(confirmed.metadata.create_all)
    return async_sessionmaker(engine, expire_on_commit=False)


def confirming(sessions, *, fail_after_logging: int = 0, output=None, first: bool = True) -> Saga:
    """A saga whose last step writes a row and logs its success in that row's transaction; it raises after
    logging (rolling the transaction back) on its first ``fail_after_logging`` attempts."""
    failures = {"left": fail_after_logging}

    async def reserve(ctx: StepContext):
        return {"reserved": True}

    async def confirm(ctx: StepContext):
        async with sessions() as session, session.begin():
            await session.execute(confirmed.insert().values(id=ctx.saga_id))
            await ctx.succeed_in(session, output)
            if failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("the transaction did not commit")
        return {"ignored": True}  # what was logged in the transaction counts

    steps = [Step("confirm", action=confirm, retry=FAST_RETRY)]
    if first:
        steps.insert(0, Step("reserve", action=reserve, retry=FAST_RETRY))
    return Saga("checkout", steps=steps)


async def _rows(engine) -> list[str]:
    async with engine.connect() as conn:
        return [row.id for row in await conn.execute(sa.select(confirmed))]


async def test_the_write_its_success_and_the_saga_end_commit_in_one_transaction(engine, sessions) -> None:
    store = CountingStoreIn(engine)
    saga = confirming(sessions, output={"confirmed": True})
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {"order_id": "o-1"}, saga_id="s-1", timeout=10)
        history = await orch.history("s-1")

    assert record.status is SagaStatus.COMPLETED
    assert record.owner is None  # terminal: the lease is given up with the end
    assert record.data == {"order_id": "o-1", "reserved": True, "confirmed": True}
    assert await _rows(engine) == ["s-1"]
    assert store.writes == [
        "create",
        "step_started",
        "step_succeeded+step_started",
        "in:step_succeeded+saga_completed",
    ]
    assert [(e.seq, e.kind, e.step) for e in history.entries][-2:] == [
        (5, EntryKind.STEP_SUCCEEDED, "confirm"),
        (6, EntryKind.SAGA_COMPLETED, None),
    ]
    assert history.entries[-2].payload == {"output": {"confirmed": True}}


async def test_a_rolled_back_transaction_logs_nothing_and_the_attempt_is_retried(engine, sessions) -> None:
    store = CountingStoreIn(engine)
    saga = confirming(sessions, fail_after_logging=1)
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {}, saga_id="s-2", timeout=10)
        history = await orch.history("s-2")

    assert record.status is SagaStatus.COMPLETED
    assert await _rows(engine) == ["s-2"]  # once: the first attempt's row rolled back with its logged success
    kinds = [(e.kind.value, e.step, e.attempt) for e in history.entries]
    assert kinds[3:] == [
        ("step_started", "confirm", 1),
        ("step_retry", "confirm", 1),
        ("step_started", "confirm", 2),
        ("step_succeeded", "confirm", 2),
        ("saga_completed", None, None),
    ]
    assert "RuntimeError: the transaction did not commit" in (history.entries[4].error or "")


async def test_a_first_step_logs_its_success_alone_and_the_next_step_runs(engine, sessions) -> None:
    store = CountingStoreIn(engine)
    seen: list[str] = []

    async def confirm_first(ctx: StepContext):
        async with sessions() as session, session.begin():
            await session.execute(confirmed.insert().values(id=ctx.saga_id))
            await ctx.succeed_in(session)

    async def after(ctx: StepContext):
        seen.append(ctx.step)

    saga = Saga(
        "checkout",
        steps=[Step("confirm", action=confirm_first, retry=FAST_RETRY), Step("after", action=after, retry=FAST_RETRY)],
    )
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {}, saga_id="s-3", timeout=10)

    assert record.status is SagaStatus.COMPLETED
    assert seen == ["after"]
    assert store.writes == [
        "create",
        "step_started",
        "in:step_succeeded",
        "step_started",
        "step_succeeded+saga_completed",
    ]


async def test_a_business_no_before_logging_compensates_as_usual(engine, sessions) -> None:
    released: list[str] = []

    async def reserve(ctx: StepContext):
        return None

    async def release(ctx: StepContext):
        released.append(ctx.saga_id)

    async def confirm(ctx: StepContext):
        async with sessions() as session, session.begin():
            raise StepFailed("order cancelled meanwhile")

    saga = Saga(
        "checkout",
        steps=[
            Step("reserve", action=reserve, compensation=release, retry=FAST_RETRY),
            Step("confirm", action=confirm, retry=FAST_RETRY),
        ],
    )
    async with Orchestrator(
        CountingStoreIn(engine), [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION
    ) as orch:
        record = await orch.execute("checkout", {}, saga_id="s-4", timeout=10)

    assert record.status is SagaStatus.COMPENSATED
    assert released == ["s-4"]


async def test_outside_an_orchestrator_succeed_in_does_nothing(engine, sessions) -> None:
    saga = confirming(sessions, first=False)
    ctx = StepContext(
        saga_id="s-5",
        saga_name="checkout",
        step="confirm",
        phase="action",
        data={},
        idempotency_key=idempotency_key("s-5", "confirm", "action"),
        attempt=1,
        correlation_id="c-5",
    )
    assert await saga.step("confirm").action(ctx) == {"ignored": True}
    assert await _rows(engine) == ["s-5"]
