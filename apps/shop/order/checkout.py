"""The checkout saga (orchestrated, hosted by the order service on ``baton.saga``).

::

    open_order ─▶ reserve_stock ─▶ authorize_payment ─▶ capture_payment ─▶ confirm_order
    cancel ◀──── release ◀──────── void/refund ◀─────── refund/void

``open_order`` does nothing forward; its compensation, which runs last, is the saga's end on failure:
cancel the order with the reason (``order.cancelled``). ``confirm_order`` commits the reservation, then
writes ``CONFIRMED``, ``order.confirmed``, its own success and the saga's end in one transaction. Every remote
call carries the step's
idempotency key, and the reservation and payment ids are the saga id (= order id), so a resumed step is
never applied twice. A business "no" (stock short, payment declined, reservation expired) is a
:class:`~baton.saga.StepFailed`; anything else is retried, then compensated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row

from apps.shop.order.errors import OrderConflict
from apps.shop.order.models import orders
from apps.shop.order.peers import Payments, Stock
from apps.shop.order.service import (
    Order,
    cancel_order,
    confirm_order,
    service,
)
from apps.shop.order.settings import OrderSettings
from apps.shop.order.states import OrderStatus
from baton.errors import NotFound, UpstreamRejected
from baton.saga import Saga, Step, StepContext, StepFailed, StepRetry

log = logging.getLogger(__name__)

CHECKOUT = "checkout"
#: Payment states in which nothing is left to undo.
_SETTLED = frozenset({"voided", "refunded", "declined"})


def checkout_input(order: Order) -> dict[str, Any]:
    """The saga's input for ``order`` (what the steps need without reading the order again)."""
    return {
        "order_id": order.order_id,
        "lines": [{"product_id": ln.product_id, "quantity": ln.quantity} for ln in order.lines],
        "total_cents": order.total_cents,
        "currency": order.currency,
        "card_token": order.card_token,
    }


def _rejection(exc: UpstreamRejected) -> str:
    problem = exc.context.get("problem") or {}
    return str(problem.get("detail") or problem.get("title") or exc.message)


class Checkout:
    """The checkout saga's steps, bound to the peers they call (swap ``stock`` / ``payments`` in tests)."""

    def __init__(self, stock: Stock, payments: Payments) -> None:
        self.stock = stock
        self.payments = payments
        remote = StepRetry(max_attempts=5, initial_interval=0.2, max_interval=2.0)
        self.saga = Saga(
            CHECKOUT,
            version=1,
            steps=[
                Step("open_order", action=self.open_order, compensation=self.cancel_order, timeout=10.0),
                Step("reserve_stock", action=self.reserve_stock, compensation=self.release_stock, retry=remote),
                Step("authorize_payment", action=self.authorize, compensation=self.undo_payment, retry=remote),
                Step("capture_payment", action=self.capture, compensation=self.undo_payment, retry=remote),
                # Once the reservation is committed the order must be confirmed: retry long rather than compensate.
                Step(
                    "confirm_order",
                    action=self.confirm_order,
                    retry=StepRetry(max_attempts=20, initial_interval=0.2, max_interval=5.0),
                ),
            ],
        )

    # -- actions ------------------------------------------------------------------------------------------

    async def open_order(self, ctx: StepContext) -> None:
        """Check the order exists and is ``PENDING`` (a saga for a missing or final order cannot proceed)."""
        order_id = ctx.data["order_id"]
        found = await _order_state(order_id)
        if found is None:
            raise StepFailed(f"no order {order_id!r}")
        status = OrderStatus(found.status)
        if status.final:
            raise StepFailed(f"order {order_id} is {status.value} already")

    async def reserve_stock(self, ctx: StepContext) -> Mapping[str, Any]:
        """Hold the order's stock; reservation id = saga id."""
        try:
            held = await self.stock.reserve(
                reservation_id=ctx.saga_id,
                order_id=ctx.data["order_id"],
                lines=ctx.data["lines"],
                ttl_seconds=_settings().reservation_ttl_seconds,
                key=ctx.idempotency_key,
            )
        except UpstreamRejected as exc:
            raise StepFailed(f"stock not available: {_rejection(exc)}") from exc
        return {"reservation_id": ctx.saga_id, "reservation_expires_at": held.get("expires_at")}

    async def authorize(self, ctx: StepContext) -> Mapping[str, Any]:
        """Authorize the total on the card token; payment id = saga id."""
        await self._require_live_reservation(ctx)
        try:
            await self.payments.authorize(
                payment_id=ctx.saga_id,
                order_id=ctx.data["order_id"],
                amount_cents=ctx.data["total_cents"],
                currency=ctx.data["currency"],
                card_token=ctx.data["card_token"],
                key=ctx.idempotency_key,
            )
        except UpstreamRejected as exc:
            raise StepFailed(f"payment declined: {_rejection(exc)}") from exc
        return {"payment_id": ctx.saga_id}

    async def capture(self, ctx: StepContext) -> None:
        """Capture the authorized payment."""
        await self._require_live_reservation(ctx)
        try:
            await self.payments.act(ctx.saga_id, "capture", key=ctx.idempotency_key)
        except UpstreamRejected as exc:
            raise StepFailed(f"payment not captured: {_rejection(exc)}") from exc

    async def confirm_order(self, ctx: StepContext) -> None:
        """Commit the reservation, then ``CONFIRMED`` + ``order.confirmed`` in one local transaction, which also
        logs this step's success and the saga's end (one write transaction instead of two)."""
        await self._require_live_reservation(ctx)
        try:
            await self.stock.commit(ctx.saga_id, key=ctx.idempotency_key)
        except UpstreamRejected as exc:
            raise StepFailed(f"reservation not committed: {_rejection(exc)}") from exc
        async with service.transaction() as session:
            await confirm_order(session, ctx.data["order_id"])
            await ctx.succeed_in(session)

    # -- compensations --------------------------------------------------------------------------------------

    async def cancel_order(self, ctx: StepContext) -> None:
        """The saga's end on failure: ``CANCELLED`` with the reason + ``order.cancelled`` (one transaction)."""
        reason = (ctx.error or "checkout failed").removeprefix("StepFailed: ")
        async with service.transaction() as session:
            try:
                await cancel_order(session, ctx.data["order_id"], reason=reason)
            except (NotFound, OrderConflict):
                return  # no order, or one that is final already: there is nothing to cancel

    async def release_stock(self, ctx: StepContext) -> None:
        """Give the held stock back (a no-op when nothing was held)."""
        try:
            await self.stock.release(ctx.saga_id, key=ctx.idempotency_key)
        except UpstreamRejected as exc:
            if exc.context.get("status") != 409:
                raise
            # Committed: the confirm step got as far as the sale and then failed for good. Retrying cannot
            # un-sell; the order is cancelled and refunded, and the stock needs a recount (logged for staff).
            log.error("order %s: reservation committed but the order is cancelled: %s", ctx.saga_id, exc.message)

    async def undo_payment(self, ctx: StepContext) -> None:
        """Void the authorization, or refund when it was captured; nothing when the payment is settled.

        Also runs when the authorize or capture outcome is unknown: a void of a payment the provider has not
        seen is recorded there, so a late authorize is refused instead of leaving a hold behind.
        """
        try:
            await self.payments.act(ctx.saga_id, "void", key=ctx.idempotency_key)
            return
        except UpstreamRejected as exc:
            if exc.context.get("status") != 409:
                raise
        status = await self.payments.status(ctx.saga_id)
        if status == "captured":
            await self.payments.act(ctx.saga_id, "refund", key=f"{ctx.idempotency_key}:refund")
        elif status not in _SETTLED:
            raise RuntimeError(f"payment {ctx.saga_id} is {status}; retrying its compensation")

    async def _require_live_reservation(self, ctx: StepContext) -> None:
        # Inventory's reservation.expired event marks the order; failing here starts the compensations in order
        # (refund, release, cancel) instead of cancelling behind the saga's back.
        found = await _order_state(ctx.data["order_id"])
        if found is not None and found.reservation_expired:
            raise StepFailed("reservation expired before checkout completed")


_ORDER_STATE = select(orders.c.status, orders.c.reservation_expired).where(orders.c.order_id == bindparam("order_id"))


async def _order_state(order_id: str) -> Row[Any] | None:
    """The order's status and expiry mark: one read on a pooled connection, no session or transaction to set
    up for it (the steps read these before every remote call; built once, the statement is not rebuilt)."""
    engine = service.context.engine
    assert engine is not None
    async with engine.connect() as conn:
        return (await conn.execute(_ORDER_STATE, {"order_id": order_id})).first()


def _settings() -> OrderSettings:
    settings: OrderSettings = service.settings
    return settings
