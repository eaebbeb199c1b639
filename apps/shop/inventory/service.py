"""The inventory service: stock and reservations — domain operations, transport-free.

Run it with ``python -m baton.kit.serve apps.shop.inventory.service:service``.

A reservation is ``held`` (units counted in ``reserved``) until it is ``committed`` (the units leave stock),
``released`` (given back) or ``expired`` (given back by the sweeper once its TTL passed; announced with
``reservation.expired``). Every operation is idempotent, keyed by the reservation id, and safe under
concurrency on SQLite and PostgreSQL alike:

* each transaction *starts with a write* (a conditional ``UPDATE`` or an ``INSERT ... ON CONFLICT DO
  NOTHING``), so SQLite takes its write lock up front and waits for it (``busy_timeout``) instead of failing a
  read-then-write upgrade, and PostgreSQL row locks serialise competitors on the same row;
* stock moves only through conditional updates (``... WHERE on_hand - reserved >= :quantity``), re-checked by
  the database under its row lock, so two concurrent reservations can never both take the last unit.

A release of an unknown reservation leaves a tombstone (status ``released``), so a reservation request that
arrives after its own compensation (a retried, delayed request) cannot hold stock any more.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from apps.shop.catalog.seed import PRODUCT_IDS as DEMO_PRODUCT_IDS
from apps.shop.common.sql import insert_new
from apps.shop.inventory.events import RESERVATION_EXPIRED, expired_data
from apps.shop.inventory.models import metadata, reservation_lines, reservations, stock
from apps.shop.inventory.settings import InventorySettings
from apps.shop.inventory.sweeper import ReservationSweeper, SweepPolicy
from baton.errors import BatonError, NotFound
from baton.kit import InstanceContext, Service
from baton.kit.db import transaction
from baton.telemetry.logging import get_logger

service = Service(
    "inventory",
    settings=InventorySettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)

_log = get_logger("shop.inventory")

clock: Callable[[], float] = time.time
"""Wall clock in Unix seconds; tests replace it to move time forward without waiting."""


def now() -> float:
    """The current time by :data:`clock`."""
    return clock()


class InsufficientStock(BatonError):
    """Raised when a reservation asks for more units than are available; nothing is held."""

    status = 409
    title = "Insufficient stock"


class ReservationClosed(BatonError):
    """Raised when a reservation cannot move any more: commit after release/expiry, release after commit."""

    status = 409
    title = "Reservation closed"


class ReservationMismatch(BatonError):
    """Raised when a reservation id is reused with another order or other lines."""

    status = 422
    title = "Reservation id reused"


class StockBelowReserved(BatonError):
    """Raised when on-hand stock would drop below the units currently reserved."""

    status = 409
    title = "Stock below reserved"


class Status(enum.StrEnum):
    """Where a reservation is in its life."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Stock:
    """Units of one product: ``on_hand`` in the warehouse, ``reserved`` of them held for orders."""

    product_id: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        """Units a new reservation can take."""
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Line:
    """Units of one product in a reservation."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units held for an order until ``expires_at`` (Unix seconds)."""

    id: str
    order_id: str | None
    status: Status
    expires_at: float
    lines: tuple[Line, ...]


def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """One line per product (quantities added), sorted by product id.

    A fixed order means concurrent reservations lock stock rows in the same order (no deadlock on PostgreSQL).
    """
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return tuple(Line(product_id, quantity) for product_id, quantity in sorted(totals.items()))


def _changed(result: Any) -> bool:
    return int(result.rowcount) == 1


async def get_stock(session: AsyncSession, product_id: str) -> Stock:
    """The stock of ``product_id``.

    Raises:
        NotFound: the inventory never stocked the product.
    """
    row = (await session.execute(select(stock).where(stock.c.product_id == product_id))).first()
    if row is None:
        raise NotFound(f"no stock for product {product_id!r}")
    return Stock(row.product_id, row.on_hand, row.reserved)


async def set_stock(session: AsyncSession, product_id: str, *, on_hand: int) -> Stock:
    """Set the units on hand (a stock count); ``reserved`` is untouched.

    Raises:
        StockBelowReserved: more units than ``on_hand`` are reserved right now.
    """
    at = now()
    await insert_new(
        session, stock, {"product_id": product_id, "on_hand": 0, "reserved": 0, "updated_at": at}, unique=["product_id"]
    )
    result = await session.execute(
        update(stock)
        .where(stock.c.product_id == product_id, stock.c.reserved <= on_hand)
        .values(on_hand=on_hand, updated_at=at)
    )
    if not _changed(result):
        raise StockBelowReserved(f"cannot set {product_id!r} to {on_hand}: more units are reserved")
    return await get_stock(session, product_id)


# The statements of a checkout's reserve and commit, built once: building and cache-keying a statement per call
# costs about as much CPU as running it on SQLite. Values go in as parameters (an UPDATE's named w_/v_: a
# parameter named like a column would be taken for one more column to set).
_RESERVATION = select(reservations).where(reservations.c.id == bindparam("id"))
_RESERVATION_LINES = (
    select(reservation_lines.c.product_id, reservation_lines.c.quantity)
    .where(reservation_lines.c.reservation_id == bindparam("id"))
    .order_by(reservation_lines.c.product_id)
)
_HOLD = (
    update(stock)
    .where(
        stock.c.product_id == bindparam("w_product_id"),
        stock.c.on_hand - stock.c.reserved >= bindparam("w_quantity"),
    )
    .values(reserved=stock.c.reserved + bindparam("w_quantity"), updated_at=bindparam("v_at"))
)
_COMMIT_HELD = (
    update(reservations)
    .where(
        reservations.c.id == bindparam("w_id"),
        reservations.c.status == Status.HELD,
        reservations.c.expires_at > bindparam("v_at"),
    )
    .values(status=Status.COMMITTED, updated_at=bindparam("v_at"))
)
_TAKE_OUT = (
    update(stock)
    .where(stock.c.product_id == bindparam("w_product_id"))
    .values(on_hand=stock.c.on_hand - bindparam("w_quantity"), reserved=stock.c.reserved - bindparam("w_quantity"))
)


async def get_reservation(session: AsyncSession, reservation_id: str) -> Reservation:
    """The reservation ``reservation_id``.

    Raises:
        NotFound: no such reservation.
    """
    row = (await session.execute(_RESERVATION, {"id": reservation_id})).first()
    if row is None:
        raise NotFound(f"reservation {reservation_id!r} not found")
    lines = (await session.execute(_RESERVATION_LINES, {"id": reservation_id})).all()
    return Reservation(row.id, row.order_id, Status(row.status), row.expires_at, tuple(Line(*line) for line in lines))


async def reserve(
    session: AsyncSession, *, reservation_id: str, order_id: str, lines: Sequence[Line], ttl_seconds: float
) -> Reservation:
    """Hold every line's units until ``ttl_seconds`` from now — all of them or none.

    Repeating a request returns the reservation as it is (held or committed).

    Raises:
        InsufficientStock: a product lacks available units (or was never stocked); nothing is held.
        ReservationClosed: the id belongs to a released or expired reservation.
        ReservationMismatch: the id belongs to a reservation for another order or other lines.
    """
    wanted = merge_lines(lines)
    at = now()
    held = {"order_id": order_id, "status": Status.HELD, "expires_at": at + ttl_seconds}
    created = await insert_new(
        session, reservations, {"id": reservation_id, **held, "created_at": at, "updated_at": at}, unique=["id"]
    )
    if not created:
        existing = await get_reservation(session, reservation_id)
        if existing.status in (Status.RELEASED, Status.EXPIRED):
            raise ReservationClosed(f"reservation {reservation_id!r} is {existing.status}; nothing is held")
        if existing.order_id != order_id or existing.lines != wanted:
            raise ReservationMismatch(f"reservation {reservation_id!r} exists for another order or other lines")
        return existing
    for line in wanted:
        taken = await session.execute(_HOLD, {"w_product_id": line.product_id, "w_quantity": line.quantity, "v_at": at})
        if not _changed(taken):
            # Raising rolls back the whole transaction: the reservation row and the lines held before this one.
            raise InsufficientStock(f"not enough {line.product_id!r} available for {line.quantity} unit(s)")
    await session.execute(
        reservation_lines.insert(),
        [{"reservation_id": reservation_id, "product_id": ln.product_id, "quantity": ln.quantity} for ln in wanted],
    )
    return Reservation(reservation_id, order_id, Status.HELD, at + ttl_seconds, wanted)


async def commit(session: AsyncSession, reservation_id: str) -> Reservation:
    """Take a held reservation's units out of stock (``on_hand`` and ``reserved`` both drop); idempotent.

    Raises:
        NotFound: no such reservation.
        ReservationClosed: it was released, or expired (even if the sweeper has not released it yet).
    """
    at = now()
    result = await session.execute(_COMMIT_HELD, {"w_id": reservation_id, "v_at": at})
    reservation = await get_reservation(session, reservation_id)
    if _changed(result):
        for line in reservation.lines:
            await session.execute(_TAKE_OUT, {"w_product_id": line.product_id, "w_quantity": line.quantity})
        return reservation
    if reservation.status is Status.COMMITTED:
        return reservation
    state = "expired" if reservation.status is Status.HELD else reservation.status
    raise ReservationClosed(f"reservation {reservation_id!r} is {state}; it cannot be committed")


async def _give_back(session: AsyncSession, reservation_id: str, status: Status, *, at: float) -> Reservation | None:
    """Move a held reservation to ``status`` and return its units to available; ``None`` if it was not held."""
    condition = [reservations.c.id == reservation_id, reservations.c.status == Status.HELD]
    if status is Status.EXPIRED:
        condition.append(reservations.c.expires_at <= at)
    result = await session.execute(update(reservations).where(*condition).values(status=status, updated_at=at))
    if not _changed(result):
        return None
    reservation = await get_reservation(session, reservation_id)
    for line in reservation.lines:
        await session.execute(
            update(stock)
            .where(stock.c.product_id == line.product_id)
            .values(reserved=stock.c.reserved - line.quantity, updated_at=at)
        )
    return reservation


async def release(session: AsyncSession, reservation_id: str) -> Reservation:
    """Give a held reservation's units back; a no-op for released, expired or unknown ones.

    Raises:
        ReservationClosed: it was committed (its units have left the warehouse).
    """
    at = now()
    released = await _give_back(session, reservation_id, Status.RELEASED, at=at)
    if released is not None:
        return released
    tombstone = {"id": reservation_id, "order_id": None, "status": Status.RELEASED, "expires_at": at}
    if await insert_new(session, reservations, {**tombstone, "created_at": at, "updated_at": at}, unique=["id"]):
        return Reservation(reservation_id, None, Status.RELEASED, at, ())
    existing = await get_reservation(session, reservation_id)
    if existing.status is Status.COMMITTED:
        raise ReservationClosed(f"reservation {reservation_id!r} is committed; it cannot be released")
    return existing


async def expire(session: AsyncSession, reservation_id: str) -> bool:
    """Expire a held reservation past its TTL, give its units back and announce ``reservation.expired``.

    Returns whether this call expired it (``False``: not due, or someone else moved it first).
    """
    expired = await _give_back(session, reservation_id, Status.EXPIRED, at=now())
    if expired is None:
        return False
    data = expired_data(expired.id, expired.order_id)
    await service.emit(session, type=RESERVATION_EXPIRED, subject=expired.id, data=data)
    return True


async def expire_due(sessions: async_sessionmaker[AsyncSession], batch: int) -> int:
    """Expire up to ``batch`` held reservations whose TTL passed; return how many this call expired.

    The scan and each expiry are separate transactions: one write lock per reservation, held briefly.
    """
    async with transaction(sessions) as session:
        due = (
            await session.scalars(
                select(reservations.c.id)
                .where(reservations.c.status == Status.HELD, reservations.c.expires_at <= now())
                .order_by(reservations.c.expires_at)
                .limit(batch)
            )
        ).all()
    expired = 0
    for reservation_id in due:
        async with transaction(sessions) as session:
            expired += await expire(session, reservation_id)
    return expired


async def seed_stock(session: AsyncSession, product_ids: Iterable[str], *, on_hand: int) -> int:
    """Give each product ``on_hand`` units unless it has a stock row already; return how many were seeded."""
    seeded = 0
    for product_id in product_ids:
        row = {"product_id": product_id, "on_hand": on_hand, "reserved": 0, "updated_at": now()}
        seeded += await insert_new(session, stock, row, unique=["product_id"])
    return seeded


class StockSeeder:
    """Stocks the demo catalog's products when the instance starts (a :class:`~baton.kit.Component`)."""

    name = "seed"

    async def start(self, ctx: InstanceContext) -> None:
        """Seed before the instance reports ready (``INVENTORY_SEED``, ``INVENTORY_SEED_ON_HAND``)."""
        settings: InventorySettings = service.settings
        if not settings.seed or ctx.sessions is None:
            return
        async with transaction(ctx.sessions) as session:
            seeded = await seed_stock(session, DEMO_PRODUCT_IDS, on_hand=settings.seed_on_hand)
        if seeded:
            _log.info("seeded stock for the demo catalog", products=seeded, on_hand=settings.seed_on_hand)

    async def check(self) -> None:
        """Always ready once started."""

    async def drain(self) -> None:
        """Nothing in flight."""

    async def stop(self) -> None:
        """Nothing to release."""


def sweep_policy() -> SweepPolicy:
    """The sweeper's policy from the settings (``INVENTORY_SWEEP_INTERVAL``, ``INVENTORY_SWEEP_BATCH``)."""
    settings: InventorySettings = service.settings
    return SweepPolicy(interval=settings.sweep_interval, batch=settings.sweep_batch)


service.add_component(StockSeeder())
sweeper = ReservationSweeper(expire_due, policy=sweep_policy)
service.add_component(sweeper)

# Registers the HTTP routes on ``service``; last, because the routes call the operations above.
from apps.shop.inventory import api  # noqa: E402, F401
