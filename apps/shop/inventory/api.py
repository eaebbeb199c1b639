"""The inventory's HTTP API: thin adapters from ``/v1/...`` to :mod:`apps.shop.inventory.service`.

Reservations are idempotent by their id (the caller's key, e.g. the saga id), so no ``Idempotency-Key`` is
needed: repeating ``POST /v1/reservations`` with the same body answers the same reservation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from apps.shop.common.access import require_stock_write
from apps.shop.common.users import install
from apps.shop.inventory.service import (
    Line,
    Reservation,
    Stock,
    commit,
    get_reservation,
    get_stock,
    release,
    reserve,
    service,
    set_stock,
)
from baton.kit import SessionDep

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"

users = install(service)
"""Staff are recognised by their access token's ``stock:write`` scope."""
ProductId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
ReservationId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


class StockOut(BaseModel):
    """Units of one product."""

    product_id: str
    on_hand: int
    reserved: int
    available: int

    @classmethod
    def of(cls, stock: Stock) -> StockOut:
        """Encode domain stock."""
        return cls(
            product_id=stock.product_id, on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available
        )


class StockCount(BaseModel):
    """Body of ``PUT /v1/stock/{product_id}``."""

    model_config = ConfigDict(extra="forbid")

    on_hand: int = Field(ge=0, le=1_000_000_000)


class LineIn(BaseModel):
    """Units of one product to hold."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1_000_000)


class NewReservation(BaseModel):
    """Body of ``POST /v1/reservations``."""

    model_config = ConfigDict(extra="forbid")

    reservation_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    order_id: str = Field(min_length=1, max_length=64)
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    ttl_seconds: float = Field(default=900.0, gt=0, le=86_400, description="Seconds until an uncommitted hold expires.")


class LineOut(BaseModel):
    """Units of one product in a reservation."""

    product_id: str
    quantity: int


class ReservationOut(BaseModel):
    """A reservation; ``expires_at`` is RFC 3339 (UTC)."""

    reservation_id: str
    order_id: str | None
    status: str
    expires_at: str
    lines: list[LineOut]

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationOut:
        """Encode a domain reservation."""
        expires = datetime.fromtimestamp(reservation.expires_at, UTC).isoformat(timespec="milliseconds")
        return cls(
            reservation_id=reservation.id,
            order_id=reservation.order_id,
            status=reservation.status.value,
            expires_at=expires.replace("+00:00", "Z"),
            lines=[LineOut(product_id=line.product_id, quantity=line.quantity) for line in reservation.lines],
        )


@service.get("/v1/stock/{product_id}")
async def read_stock(product_id: ProductId, session: SessionDep) -> StockOut:
    """On hand, reserved and available units of a product."""
    return StockOut.of(await get_stock(session, product_id))


@service.put("/v1/stock/{product_id}", dependencies=[Depends(require_stock_write)])
async def count_stock(product_id: ProductId, body: StockCount, session: SessionDep) -> StockOut:
    """Set the units on hand (staff); refused below the units reserved."""
    return StockOut.of(await set_stock(session, product_id, on_hand=body.on_hand))


@service.post("/v1/reservations", status_code=201)
async def create_reservation(body: NewReservation, session: SessionDep) -> ReservationOut:
    """Hold stock for an order, all lines or none (409 when any line lacks stock)."""
    reservation = await reserve(
        session,
        reservation_id=body.reservation_id,
        order_id=body.order_id,
        lines=[Line(line.product_id, line.quantity) for line in body.lines],
        ttl_seconds=body.ttl_seconds,
    )
    return ReservationOut.of(reservation)


@service.get("/v1/reservations/{reservation_id}")
async def read_reservation(reservation_id: ReservationId, session: SessionDep) -> ReservationOut:
    """A reservation and its status."""
    return ReservationOut.of(await get_reservation(session, reservation_id))


@service.post("/v1/reservations/{reservation_id}/commit")
async def commit_reservation(reservation_id: ReservationId, session: SessionDep) -> ReservationOut:
    """The held units leave stock (idempotent; 409 once released or expired)."""
    return ReservationOut.of(await commit(session, reservation_id))


@service.post("/v1/reservations/{reservation_id}/release")
async def release_reservation(reservation_id: ReservationId, session: SessionDep) -> ReservationOut:
    """The held units return to available (idempotent; unknown ids are a no-op; 409 once committed)."""
    return ReservationOut.of(await release(session, reservation_id))
