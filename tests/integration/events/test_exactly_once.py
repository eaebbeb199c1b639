"""Outbox ▸ relay ▸ JetStream ▸ inbox gives exactly one effect per event, whatever is duplicated or fails.

Each test runs on SQLite and, when ``BATON_TEST_POSTGRES_URL`` is set, on PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from baton.events import CloudEvent, ConsumerPolicy, EventRuntime, JetStreamBus, OutboxRelay, enqueue_many, handler
from baton.events import dlq as dead_letters
from baton.events.outbox import RelayPolicy
from baton.kit.component import InstanceContext
from baton.kit.settings import InstanceSettings
from baton.testing import wait_until

from .conftest import effects, ledger

pytestmark = pytest.mark.integration

CREDITED = "shop.payment.account.credited.v1"
ACCOUNTS = ("a", "b", "c")
FAST = ConsumerPolicy(batch=16, fetch_timeout=0.2, ack_wait=5.0)
flaky: set[str] = set()
"""Event ids whose handler fails on its first delivery (after writing, so the rollback is exercised)."""
poisoned: set[str] = set()
"""Event ids whose handler always fails."""
attempts: Counter[str] = Counter()


@handler(CREDITED, max_deliver=3, backoff=(0.05,))
async def on_credited(event: CloudEvent, session) -> None:
    attempts[event.id] += 1
    await session.execute(
        update(ledger)
        .where(ledger.c.account == event.data["account"])
        .values(balance=ledger.c.balance + event.data["amount"])
    )
    await session.execute(effects.insert().values(event_id=event.id))
    if event.id in poisoned or (event.id in flaky and attempts[event.id] == 1):
        raise RuntimeError(f"handler refused {event.id}")


@pytest.fixture(autouse=True)
def _reset() -> None:
    flaky.clear()
    poisoned.clear()
    attempts.clear()


def credits(n: int, *, seed: int = 7) -> list[CloudEvent]:
    rng = random.Random(seed)
    return [
        CloudEvent.create(
            type=CREDITED,
            source="/shop/payment",
            id=f"ev-{i}",
            data={"account": rng.choice(ACCOUNTS), "amount": rng.randint(1, 100)},
        )
        for i in range(n)
    ]


def expected_balances(events: list[CloudEvent]) -> dict[str, int]:
    totals = dict.fromkeys(ACCOUNTS, 0)
    for e in events:
        totals[e.data["account"]] += e.data["amount"]
    return totals


async def open_accounts(sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(ledger.insert(), [{"account": a, "balance": 0} for a in ACCOUNTS])


async def state(sessions) -> tuple[dict[str, int], Counter[str]]:
    async with sessions() as session:
        balances = dict((await session.execute(select(ledger.c.account, ledger.c.balance))).all())
        counted = Counter((await session.execute(select(effects.c.event_id))).scalars())
    return balances, counted


def context(sessions, nc) -> InstanceContext:
    settings = InstanceSettings(service="ledger", instance="ledger-1")
    return InstanceContext(service="ledger", instance="ledger-1", settings=settings, sessions=sessions, nats=nc)


async def effect_count(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(effects)) or 0)


class RelayKilled(BaseException):
    """The relay process dies (not an error it could handle)."""


async def test_relay_crash_between_publish_and_mark_gives_exactly_one_effect(sessions, nc) -> None:
    await open_accounts(sessions)
    events = credits(40)
    async with sessions() as session, session.begin():
        await enqueue_many(session, events)

    def die(point: str) -> None:
        if point == "after_publish":
            raise RelayKilled

    with pytest.raises(RelayKilled):
        await OutboxRelay(sessions, JetStreamBus(nc), fault=die).flush_once()
    restarted = OutboxRelay(sessions, JetStreamBus(nc), policy=RelayPolicy(batch_size=100))
    assert await restarted.pending() == 40  # published, never marked sent
    assert await restarted.flush_once() == 40  # republished...
    assert (await nc.jsm().stream_info("SHOP_PAYMENT")).state.messages == 40  # ...and dropped by Nats-Msg-Id

    runtime = EventRuntime([on_credited], service="ledger", relay=False, consumer_policy=FAST)
    await runtime.start(context(sessions, nc))
    try:
        await wait_until(lambda: effect_count(sessions), timeout=10.0)
        await wait_until(lambda: runtime.inboxes["SHOP_PAYMENT/ledger"].stats.handled == 40, timeout=10.0)
    finally:
        await runtime.stop()
    balances, counted = await state(sessions)
    assert balances == expected_balances(events)
    assert set(counted.values()) == {1}
    assert len(counted) == 40


async def test_every_event_delivered_two_to_five_times_ends_in_the_single_delivery_state(sessions, nc) -> None:
    await open_accounts(sessions)
    events = credits(60, seed=11)
    rng = random.Random(3)
    flaky.update(e.id for e in events[::4])  # a quarter also fails once and comes back by nak
    bus = JetStreamBus(nc)
    await bus.publish(events)
    published = len(events)
    for event in events:
        for copy in range(rng.randint(1, 4)):  # 2-5 deliveries in total, past the broker's dedup
            await bus.publish_raw(event.nats_subject, event.to_json(), {"Nats-Msg-Id": f"{event.id}#{copy}"})
            published += 1
    runtime = EventRuntime([on_credited], service="ledger", relay=False, consumer_policy=FAST, bus=bus)
    await runtime.start(context(sessions, nc))
    try:
        stats = runtime.inboxes["SHOP_PAYMENT/ledger"].stats
        await wait_until(lambda: stats.handled + stats.duplicates == published, timeout=20.0)
    finally:
        await runtime.stop()
    balances, counted = await state(sessions)
    assert balances == expected_balances(events)
    assert counted == Counter({e.id: 1 for e in events})
    assert stats.duplicates == published - len(events)
    assert all(attempts[i] >= 2 for i in flaky)  # their first, failed, run left no trace


async def test_a_poison_event_goes_to_the_dead_letter_stream_while_the_others_flow(sessions, nc) -> None:
    await open_accounts(sessions)
    events = credits(20, seed=5)
    poison = events[7]
    poisoned.add(poison.id)
    runtime = EventRuntime([on_credited], service="ledger", consumer_policy=FAST)
    await runtime.start(context(sessions, nc))
    try:
        async with sessions() as session, session.begin():
            await enqueue_many(session, events)
        bus = runtime.bus
        assert isinstance(bus, JetStreamBus)
        letters = await wait_until(lambda: dead_letters.list_dead_letters(bus, consumer="ledger"), timeout=10.0)
        stats = runtime.inboxes["SHOP_PAYMENT/ledger"].stats
        await wait_until(lambda: stats.handled == 19, timeout=10.0)
        (letter,) = letters
        assert letter.event is not None
        assert letter.event.id == poison.id
        assert letter.deliveries == 3
        assert f"RuntimeError: handler refused {poison.id}" in letter.error
        assert attempts[poison.id] == 3
        balances, counted = await state(sessions)
        assert balances == expected_balances([e for e in events if e is not poison])
        assert poison.id not in counted  # its effects were rolled back every time

        poisoned.clear()  # the bug is fixed: replay the dead letter
        await dead_letters.replay(bus, letter)
        await wait_until(lambda: stats.handled == 20, timeout=10.0)
    finally:
        await runtime.stop()
    balances, counted = await state(sessions)
    assert balances == expected_balances(events)
    assert counted[poison.id] == 1
