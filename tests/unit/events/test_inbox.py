"""Inbox: effects + (consumer, event id) commit together before the ack; duplicates are no-ops."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from baton.events import CloudEvent, ConsumerSpec, Inbox, handler
from baton.events import inbox as inbox_module
from baton.events.tables import inbox as inbox_table
from baton.testing.memory_bus import MemoryBus

from .conftest import ledger

TYPE = "shop.payment.account.credited.v1"
SPEC = ConsumerSpec(stream="SHOP_PAYMENT", durable="ledger", subjects=("shop.payment.account.credited",))


def credit(i: int, account: str = "a", amount: int = 1, *, poison: bool = False) -> CloudEvent:
    return CloudEvent(id=f"e{i}", source="/p", type=TYPE, data={"account": account, "amount": amount, "poison": poison})


@handler(TYPE, max_deliver=3, backoff=(0.01,))
async def on_credited(event: CloudEvent, session) -> None:
    data = event.data
    await session.execute(sqlite_insert(ledger).values(account=data["account"], balance=0).on_conflict_do_nothing())
    await session.execute(
        update(ledger).where(ledger.c.account == data["account"]).values(balance=ledger.c.balance + data["amount"])
    )
    if data["poison"]:
        raise ValueError(f"cannot credit {data['account']}")


async def balances(sessions) -> dict[str, int]:
    async with sessions() as session:
        return dict((await session.execute(select(ledger.c.account, ledger.c.balance))).all())


async def inbox_count(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox_table)) or 0)


async def test_batch_commits_effects_and_inbox_then_acks(sessions) -> None:
    bus = MemoryBus()
    await bus.publish([credit(1), credit(2, amount=5), credit(3, "b", 2)])
    sub = await bus.subscribe(SPEC)
    deliveries = await sub.fetch(10, timeout=0.1)
    inbox = Inbox(sessions, "ledger", [on_credited])
    await inbox.process(deliveries)
    assert await balances(sessions) == {"a": 6, "b": 2}
    assert await inbox_count(sessions) == 3
    assert [d.settled for d in deliveries] == ["ack", "ack", "ack"]
    assert inbox.stats.handled == 3


async def test_duplicates_within_and_across_batches_are_no_ops(sessions) -> None:
    bus = MemoryBus()
    event = credit(1, amount=10)
    for _ in range(3):  # the same event stored three times, as if republished after the dedup window
        bus.publish_raw("SHOP_PAYMENT", event.nats_subject, event.to_json(), event.id)
    sub = await bus.subscribe(SPEC)
    inbox = Inbox(sessions, "ledger", [on_credited])
    await inbox.process(await sub.fetch(2, timeout=0.1))
    await inbox.process(await sub.fetch(2, timeout=0.1))
    assert await balances(sessions) == {"a": 10}
    assert (inbox.stats.handled, inbox.stats.duplicates) == (1, 2)


@handler(TYPE)
async def on_credited_noop(event: CloudEvent, session) -> None:
    """A handler with no statements of its own: what is left is the inbox's."""


async def test_a_batch_records_its_events_in_one_statement_that_skips_the_seen(sessions) -> None:
    """At a trickle a batch is one event, so the inbox's statements per batch are its statements per event."""
    bus = MemoryBus()
    await bus.publish([credit(1), credit(2)])
    sub = await bus.subscribe(SPEC)
    inbox = Inbox(sessions, "ledger", [on_credited_noop])
    await inbox.process(await sub.fetch(1, timeout=0.1))
    statements: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        redelivered = credit(1)  # e1 again, beside the new e2
        bus.publish_raw("SHOP_PAYMENT", redelivered.nats_subject, redelivered.to_json(), "again")
        deliveries = await sub.fetch(2, timeout=0.1)
        await inbox.process(deliveries)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert statements[0].startswith("INSERT INTO baton_inbox")
    assert "ON CONFLICT DO NOTHING RETURNING" in statements[0]
    assert [d.event.id for d in deliveries] == ["e2", "e1"]
    assert [d.settled for d in deliveries] == ["ack", "ack"]
    assert (inbox.stats.handled, inbox.stats.duplicates) == (2, 1)
    assert await inbox_count(sessions) == 2


async def test_without_insert_returning_the_seen_ids_are_read_first(sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialect without ON CONFLICT .. RETURNING reads the recorded ids, then inserts the new ones."""
    monkeypatch.setitem(inbox_module._RECORD_NEW, "sqlite", None)
    bus = MemoryBus()
    event = credit(1, amount=10)
    for _ in range(3):
        bus.publish_raw("SHOP_PAYMENT", event.nats_subject, event.to_json(), event.id)
    await bus.publish([credit(2, amount=1)])
    sub = await bus.subscribe(SPEC)
    inbox = Inbox(sessions, "ledger", [on_credited])
    await inbox.process(await sub.fetch(2, timeout=0.1))
    await inbox.process(await sub.fetch(2, timeout=0.1))
    assert await balances(sessions) == {"a": 11}
    assert (inbox.stats.handled, inbox.stats.duplicates) == (2, 2)
    assert await inbox_count(sessions) == 2


async def test_a_failing_handler_rolls_back_only_its_own_effects(sessions) -> None:
    bus = MemoryBus()
    await bus.publish([credit(1, amount=1), credit(2, "p", 100, poison=True), credit(3, amount=2)])
    sub = await bus.subscribe(SPEC)
    deliveries = await sub.fetch(10, timeout=0.1)
    inbox = Inbox(sessions, "ledger", [on_credited])
    await inbox.process(deliveries)
    assert await balances(sessions) == {"a": 3}  # "p" was rolled back to its savepoint, row included
    assert await inbox_count(sessions) == 2
    assert [d.settled for d in deliveries] == ["ack", "nak", "ack"]


async def test_after_max_deliver_the_event_is_dead_lettered_with_its_error(sessions) -> None:
    bus = MemoryBus()
    await bus.publish([credit(1, "p", poison=True)])
    sub = await bus.subscribe(SPEC)
    inbox = Inbox(sessions, "ledger", [on_credited])
    for _ in range(3):
        await inbox.process(await sub.fetch(1, timeout=1.0))
    assert [(d.consumer, d.deliveries) for d in bus.dead_letters] == [("ledger", 3)]
    assert "ValueError: cannot credit p" in bus.dead_letters[0].error
    assert await sub.fetch(1, timeout=0.05) == []
    assert await balances(sessions) == {}


async def test_undecodable_payload_is_dead_lettered_at_once(sessions) -> None:
    bus = MemoryBus()
    bus.publish_raw("SHOP_PAYMENT", "shop.payment.account.credited", b"{not json")
    sub = await bus.subscribe(SPEC)
    await Inbox(sessions, "ledger", [on_credited]).process(await sub.fetch(1, timeout=0.1))
    assert len(bus.dead_letters) == 1
    assert "EventError" in bus.dead_letters[0].error


async def test_other_versions_are_acknowledged_and_skipped(sessions) -> None:
    bus = MemoryBus()
    await bus.publish([CloudEvent(id="v2", source="/p", type="shop.payment.account.credited.v2", data={})])
    sub = await bus.subscribe(SPEC)
    deliveries = await sub.fetch(1, timeout=0.1)
    inbox = Inbox(sessions, "ledger", [on_credited])
    await inbox.process(deliveries)
    assert deliveries[0].settled == "ack"
    assert inbox.stats.skipped == 1
    assert await inbox_count(sessions) == 0


async def test_savepoints_nest_inside_one_transaction_on_sqlite(sessions) -> None:
    """pysqlite commits a SAVEPOINT opened outside BEGIN on RELEASE; the inbox must not let that happen."""
    seen_by_others: list[int] = []

    @handler("shop.payment.account.>", max_deliver=5)
    async def probe(event: CloudEvent, session) -> None:
        if event.id == "e2":
            path = session.get_bind().url.database
            with sqlite3.connect(path) as other:
                seen_by_others.append(other.execute("SELECT count(*) FROM ledger").fetchone()[0])
        else:
            await on_credited(event, session)

    bus = MemoryBus()
    await bus.publish([credit(1), credit(2), credit(3, "p", poison=True)])
    sub = await bus.subscribe(SPEC)
    deliveries = await sub.fetch(10, timeout=0.1)
    await Inbox(sessions, "ledger", [probe]).process(deliveries)
    assert seen_by_others == [0, 0]  # fast path, then careful path: e1 still uncommitted when e2 ran
    assert await balances(sessions) == {"a": 1}
    assert [d.settled for d in deliveries] == ["ack", "ack", "nak"]
