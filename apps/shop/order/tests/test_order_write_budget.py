"""What one checkout writes to ``order.db``: the number of write transactions, held to a budget.

SQLite has one writer at a time, so under load every write transaction of a checkout is queue time for the
others: this pins the count the way the customer's requests make it (three POSTs with ``Idempotency-Key``,
then the saga to CONFIRMED; no bus here, so not the
relay's mark-sent, which one batch of many checkouts shares), so a change that adds a write shows up here.
"""

from __future__ import annotations

import re
import uuid

import pytest
from apps.shop.order.service import service
from order_helpers import final_order
from sqlalchemy import event

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

#: Write transactions one checkout makes in order.db: 9 — one per customer request (the idempotency key and
#: stored answer ride in the endpoint's transaction, and the order's carries its saga's creation), the saga's five
#: step announcements (a step's success commits with the next announcement) and the confirmation with its event,
#: the last step's success and the saga's end. 10 before the confirmation logged the saga's end, 11 before the
#: saga was created with its order, 17 before the idempotency keys were folded in, 23 before the saga log batched
#: successes.
BUDGET = 9


class WriteCounter:
    """Counts committed transactions that wrote at least one row, with the statements of each."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self._open: dict[int, list[str]] = {}

    def before_execute(self, conn, _cursor, statement, *_):
        if _WRITE.match(statement):
            self._open.setdefault(id(conn), []).append(statement.split("(")[0].strip()[:60])

    def commit(self, conn):
        statements = self._open.pop(id(conn), None)
        if statements:
            self.transactions.append(statements)

    def rollback(self, conn):
        self._open.pop(id(conn), None)


@pytest.fixture
def writes(shop):
    engine = service.context.engine.sync_engine
    counter = WriteCounter()
    hooks = [("before_cursor_execute", counter.before_execute), ("commit", counter.commit)]
    hooks.append(("rollback", counter.rollback))
    for name, fn in hooks:
        event.listen(engine, name, fn)
    yield counter
    for name, fn in hooks:
        event.remove(engine, name, fn)


async def test_one_checkout_stays_within_its_write_budget(shop, writes):
    def key() -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex}

    cart = (await shop.http.post("/v1/carts", headers=key())).json()
    added = await shop.http.post(
        f"/v1/carts/{cart['cart_id']}/items", json={"product_id": "p1", "quantity": 1}, headers=key()
    )
    assert added.status_code == 200, added.text
    body = {"cart_id": cart["cart_id"], "email": "ada@example.com", "card_token": "tok_visa"}
    placed = await shop.http.post("/v1/orders", json=body, headers=key())
    assert placed.status_code == 202, placed.text
    order = await final_order(shop.http, placed.json()["order_id"])
    assert order["status"] == "CONFIRMED"
    report = "\n".join(f"{i + 1:2d}. {'; '.join(t)}" for i, t in enumerate(writes.transactions))
    assert len(writes.transactions) <= BUDGET, f"{len(writes.transactions)} write transactions:\n{report}"
    confirmation = writes.transactions[-1]
    # The confirmation, its event, the last step's success and the saga's end commit together.
    assert [t.split(" SET")[0] for t in confirmation] == [
        "UPDATE orders",
        "INSERT INTO baton_outbox",
        "UPDATE baton_saga",
        "INSERT INTO baton_saga_log",
    ], report
