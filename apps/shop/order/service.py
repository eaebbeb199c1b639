"""The order service: orders and their lifecycle, transport-free, and the ``Service`` that runs them.

A cart (:mod:`.carts`) becomes an order priced from the local read model (:mod:`.prices`), created ``PENDING``
and handed to the checkout saga (:mod:`.checkout`), whose last step confirms it and whose compensations end by
cancelling it. Confirming and cancelling write the state and the event (``order.confirmed`` /
``order.cancelled``) in one transaction, through the outbox. The routes live in :mod:`.api`, the event handlers
in :mod:`.events`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.fields import FieldKeys
from apps.shop.order.carts import Cart, get_cart
from apps.shop.order.errors import OrderConflict, OrderRejected
from apps.shop.order.models import carts, metadata, order_lines, orders
from apps.shop.order.settings import OrderSettings
from apps.shop.order.states import Move, OrderStatus, move
from baton.errors import NotFound
from baton.kit import Service

ORDER_CONFIRMED = "shop.order.order.confirmed.v1"
ORDER_CANCELLED = "shop.order.order.cancelled.v1"

service = Service(
    "order",
    settings=OrderSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
fields = FieldKeys("order")
"""Seals the customer's e-mail address at rest (``ORDER_FIELD_KEYS``); the domain objects hold it in clear."""
service.add_component(fields)


# The statements of a checkout, built once: building and cache-keying a statement per call costs about as much
# CPU as running it on SQLite. Values go in as parameters (an UPDATE's named w_/v_: a parameter named like a
# column would be taken for one more column to set).
_CLAIM_CART = (
    update(carts)
    .where(carts.c.cart_id == bindparam("w_cart_id"), carts.c.status == "open")
    .values(status="ordered", order_id=bindparam("v_order_id"), updated_at=bindparam("v_updated_at"))
)
_INSERT_ORDER = insert(orders)
_INSERT_LINES = insert(order_lines)
_ORDER = select(orders).where(orders.c.order_id == bindparam("order_id"))
_LINES_OF = (
    select(order_lines)
    .where(order_lines.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(order_lines.c.product_id)
)
_MOVE = (
    update(orders)
    .where(orders.c.order_id == bindparam("w_order_id"), orders.c.status.in_(bindparam("w_sources", expanding=True)))
    .values(status=bindparam("v_status"), reason=bindparam("v_reason"), updated_at=bindparam("v_updated_at"))
)
_SOURCES = {
    target: [status.value for status in OrderStatus if move(status, target) is Move.APPLY] for target in OrderStatus
}
"""The states from which each state is reached by a transition that applies."""


def _email_context(order_id: str) -> str:
    return f"order.email:{order_id}"


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product of an order, at the price it was ordered for."""

    product_id: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class Order:
    """An order and its lines."""

    order_id: str
    cart_id: str
    customer_id: str | None
    email: str
    card_token: str
    status: OrderStatus
    reason: str | None
    total_cents: int
    currency: str
    reservation_expired: bool
    lines: tuple[OrderLine, ...]
    created_at: float
    updated_at: float


async def place_order(
    session: AsyncSession,
    *,
    order_id: str,
    cart_id: str,
    email: str,
    card_token: str,
    customer_id: str | None = None,
    check_cart: Callable[[Cart], None] | None = None,
) -> tuple[Order, bool]:
    """Turn a cart into a ``PENDING`` order priced from the read model; the order and whether it is new.

    Placing the same ``order_id`` for the same cart again returns the existing order (``False``), which is
    what makes a re-executed request harmless. ``check_cart`` sees the cart as soon as it is claimed (before
    any other refusal) and may raise to refuse it (the caller's ownership check; no second read of the cart).

    Raises:
        NotFound: no such cart.  OrderConflict: the cart was ordered already, or a product has no known price.
        OrderRejected: the cart is empty or mixes currencies.
    """
    # Claim the cart first: the write takes the database lock before anything is read (no read-to-write
    # upgrade that a concurrent writer could invalidate), and the rollback of any refusal below undoes it.
    claimed = await session.execute(
        _CLAIM_CART, {"w_cart_id": cart_id, "v_order_id": order_id, "v_updated_at": time.time()}
    )
    cart = await get_cart(session, cart_id)
    if check_cart is not None:
        check_cart(cart)
    if getattr(claimed, "rowcount", 0) != 1:
        existing = await _load_order(session, order_id)
        if existing is not None and existing.cart_id == cart_id:
            return existing, False
        raise OrderConflict(f"cart {cart_id} was checked out already as order {cart.order_id}")
    if not cart.items:
        raise OrderRejected(f"cart {cart_id} is empty")
    known = {item.product_id: item.price for item in cart.items if item.price is not None}
    missing = sorted(item.product_id for item in cart.items if item.product_id not in known)
    if missing:
        raise OrderConflict(f"no price known yet for {', '.join(missing)}; the catalog's events may be late, retry")
    currencies = {known[item.product_id].currency for item in cart.items}
    if len(currencies) != 1:
        raise OrderRejected(f"cart {cart_id} mixes currencies {sorted(currencies)}")
    lines = tuple(OrderLine(i.product_id, i.quantity, known[i.product_id].price_cents) for i in cart.items)
    now = time.time()
    order = Order(
        order_id=order_id,
        cart_id=cart_id,
        customer_id=customer_id or cart.customer_id,
        email=email,
        card_token=card_token,
        status=OrderStatus.PENDING,
        reason=None,
        total_cents=sum(line.quantity * line.unit_price_cents for line in lines),
        currency=currencies.pop(),
        reservation_expired=False,
        lines=lines,
        created_at=now,
        updated_at=now,
    )
    await session.execute(
        _INSERT_ORDER,
        {
            "order_id": order.order_id,
            "cart_id": order.cart_id,
            "customer_id": order.customer_id,
            "email": fields.seal(order.email, context=_email_context(order.order_id)),
            "card_token": order.card_token,
            "status": order.status.value,
            "reason": None,
            "total_cents": order.total_cents,
            "currency": order.currency,
            "reservation_expired": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    await session.execute(
        _INSERT_LINES,
        [
            {
                "order_id": order_id,
                "product_id": ln.product_id,
                "quantity": ln.quantity,
                "unit_price_cents": ln.unit_price_cents,
            }
            for ln in lines
        ],
    )
    return order, True


async def get_order(session: AsyncSession, order_id: str) -> Order:
    """The order ``order_id`` with its lines.

    Raises:
        NotFound: no such order.
    """
    order = await _load_order(session, order_id)
    if order is None:
        raise NotFound(f"no order {order_id!r}")
    return order


async def list_orders(
    session: AsyncSession,
    *,
    customer_id: str | None = None,
    status: OrderStatus | None = None,
    limit: int = 50,
    after: str | None = None,
) -> list[Order]:
    """Orders ordered by id, ``limit`` at a time after the id ``after``, optionally of one customer or status."""
    query = select(orders).order_by(orders.c.order_id).limit(limit)
    if customer_id is not None:
        query = query.where(orders.c.customer_id == customer_id)
    if status is not None:
        query = query.where(orders.c.status == status.value)
    if after is not None:
        query = query.where(orders.c.order_id > after)
    return await _with_lines(session, (await session.execute(query)).all())


async def pending_orders_older_than(session: AsyncSession, cutoff: float, *, limit: int = 100) -> list[Order]:
    """``PENDING`` orders created before ``cutoff`` (epoch seconds), oldest first."""
    query = (
        select(orders)
        .where(orders.c.status == OrderStatus.PENDING.value, orders.c.created_at < cutoff)
        .order_by(orders.c.created_at)
        .limit(limit)
    )
    return await _with_lines(session, (await session.execute(query)).all())


async def confirm_order(session: AsyncSession, order_id: str) -> Order:
    """``PENDING`` → ``CONFIRMED`` and ``order.confirmed`` through the outbox, in ``session``'s transaction.

    Confirming a confirmed order changes nothing and emits nothing.

    Raises:
        NotFound: no such order.  OrderConflict: the order was cancelled.
    """
    order, changed = await _move(session, order_id, OrderStatus.CONFIRMED, reason=None)
    if changed:
        await service.emit(session, type=ORDER_CONFIRMED, subject=order_id, data=confirmed_data(order))
    return order


async def cancel_order(session: AsyncSession, order_id: str, *, reason: str) -> Order:
    """``PENDING`` → ``CANCELLED`` with ``reason`` and ``order.cancelled`` through the outbox (same transaction).

    Cancelling a cancelled order changes nothing and emits nothing.

    Raises:
        NotFound: no such order.  OrderConflict: the order was confirmed.
    """
    order, changed = await _move(session, order_id, OrderStatus.CANCELLED, reason=reason[:500])
    if changed:
        await service.emit(session, type=ORDER_CANCELLED, subject=order_id, data=cancelled_data(order))
    return order


async def note_reservation_expired(session: AsyncSession, order_id: str) -> bool:
    """Record that inventory let the order's reservation expire; ``True`` when a ``PENDING`` order was marked.

    The order is not cancelled here: its saga may be mid-call with inventory or payment. The saga's next
    step reads the mark and fails, so the compensations release, refund and cancel in their proper order.
    """
    result = await session.execute(
        update(orders)
        .where(orders.c.order_id == order_id, orders.c.status == OrderStatus.PENDING.value)
        .values(reservation_expired=True, updated_at=time.time())
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def reservation_expired(session: AsyncSession, order_id: str) -> bool:
    """Whether inventory reported the order's reservation expired (see :func:`note_reservation_expired`)."""
    query = select(orders.c.reservation_expired).where(orders.c.order_id == order_id)
    return bool((await session.execute(query)).scalar_one_or_none())


def confirmed_data(order: Order) -> dict[str, Any]:
    """Payload of ``order.confirmed`` (``CONTRACTS.md``)."""
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "email": order.email,
        "lines": [
            {"product_id": ln.product_id, "quantity": ln.quantity, "unit_price_cents": ln.unit_price_cents}
            for ln in order.lines
        ],
        "total_cents": order.total_cents,
        "currency": order.currency,
    }


def cancelled_data(order: Order) -> dict[str, Any]:
    """Payload of ``order.cancelled`` (``CONTRACTS.md``); orders are only cancelled before confirmation."""
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "email": order.email,
        "reason": order.reason,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "was_confirmed": False,
    }


async def _move(session: AsyncSession, order_id: str, target: OrderStatus, *, reason: str | None) -> tuple[Order, bool]:
    # The conditional write first: it applies exactly when the table allows it, and takes the lock before
    # anything is read, so two concurrent transitions cannot both apply.
    result = await session.execute(
        _MOVE,
        {
            "w_order_id": order_id,
            "w_sources": _SOURCES[target],
            "v_status": target.value,
            "v_reason": reason,
            "v_updated_at": time.time(),
        },
    )
    order = await get_order(session, order_id)
    if getattr(result, "rowcount", 0) == 1:
        return order, True
    if move(order.status, target) is Move.REPLAY:
        return order, False
    raise OrderConflict(f"order {order_id} is {order.status.value}; it cannot become {target.value}")


async def _load_order(session: AsyncSession, order_id: str) -> Order | None:
    rows = (await session.execute(_ORDER, {"order_id": order_id})).all()
    found = await _with_lines(session, rows)
    return found[0] if found else None


async def _with_lines(session: AsyncSession, rows: Sequence[Row[Any]]) -> list[Order]:
    if not rows:
        return []
    ids = [row.order_id for row in rows]
    lines: dict[str, list[OrderLine]] = {order_id: [] for order_id in ids}
    for line in (await session.execute(_LINES_OF, {"ids": ids})).all():
        lines[line.order_id].append(OrderLine(line.product_id, line.quantity, line.unit_price_cents))
    return [
        Order(
            order_id=row.order_id,
            cart_id=row.cart_id,
            customer_id=row.customer_id,
            email=fields.open(row.email, context=_email_context(row.order_id)),
            card_token=row.card_token,
            status=OrderStatus(row.status),
            reason=row.reason,
            total_cents=row.total_cents,
            currency=row.currency,
            reservation_expired=bool(row.reservation_expired),
            lines=tuple(lines[row.order_id]),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


# The saga, its peers, the background components, the routes and the event handlers register themselves on
# ``service``; last, because they call the operations above.
from apps.shop.order import api, events  # noqa: E402, F401
