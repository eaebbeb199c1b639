"""The order service's HTTP API: thin adapters from ``/v1/...`` to :mod:`.service` and the checkout saga."""

from __future__ import annotations

import logging
import uuid

from fastapi import Header, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.access import CARD_TOKEN_PATTERN
from apps.shop.order.carts import Cart, add_item, create_cart, get_cart
from apps.shop.order.checkout import CHECKOUT, checkout_input
from apps.shop.order.prices import get_price, prices_of
from apps.shop.order.service import (
    Order,
    get_order,
    list_orders,
    place_order,
    service,
)
from apps.shop.order.states import OrderStatus
from apps.shop.order.wiring import sagas
from baton.errors import SagaError
from baton.kit import SessionDep
from baton.saga import SagaNotFound
from baton.saga.api import saga_router

log = logging.getLogger(__name__)

ID = r"^[A-Za-z0-9_.:-]{1,64}$"
#: Card tokens as the payment service accepts them (``CONTRACTS.md``): a token can never be a card number.
_ORDER_IDS = uuid.UUID("6f1c2a52-3d1e-4c55-9a0e-0b5e7d6c9a11")


class NewCart(BaseModel):
    """Body of ``POST /v1/carts`` (optional)."""

    customer_id: str | None = Field(default=None, pattern=ID)


class NewItem(BaseModel):
    """Body of ``POST /v1/carts/{id}/items``."""

    product_id: str = Field(pattern=ID)
    quantity: int = Field(ge=1, le=1000)


class NewOrder(BaseModel):
    """Body of ``POST /v1/orders``."""

    cart_id: str = Field(pattern=ID)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    card_token: str = Field(pattern=CARD_TOKEN_PATTERN, description="A payment token (tok_...), never a card number.")
    customer_id: str | None = Field(default=None, pattern=ID)


class CartItemOut(BaseModel):
    """A cart line, priced from the read model when the price is known."""

    product_id: str
    quantity: int
    unit_price_cents: int | None


class CartOut(BaseModel):
    """A cart."""

    cart_id: str
    customer_id: str | None
    status: str
    order_id: str | None
    items: list[CartItemOut]


class OrderLineOut(BaseModel):
    """An order line."""

    product_id: str
    quantity: int
    unit_price_cents: int


class SagaRef(BaseModel):
    """The checkout saga driving an order (``GET /v1/sagas/{id}`` has its log)."""

    id: str
    status: str


class OrderOut(BaseModel):
    """An order."""

    order_id: str
    cart_id: str
    customer_id: str | None
    email: str
    status: OrderStatus
    reason: str | None
    total_cents: int
    currency: str
    lines: list[OrderLineOut]
    created_at: float
    updated_at: float
    saga: SagaRef | None = None

    @classmethod
    def of(cls, order: Order, saga: SagaRef | None = None) -> OrderOut:
        """Encode a domain order (the card token stays inside the service)."""
        return cls(
            order_id=order.order_id,
            cart_id=order.cart_id,
            customer_id=order.customer_id,
            email=order.email,
            status=order.status,
            reason=order.reason,
            total_cents=order.total_cents,
            currency=order.currency,
            lines=[
                OrderLineOut(product_id=ln.product_id, quantity=ln.quantity, unit_price_cents=ln.unit_price_cents)
                for ln in order.lines
            ],
            created_at=order.created_at,
            updated_at=order.updated_at,
            saga=saga,
        )


class OrderAccepted(BaseModel):
    """Answer of ``POST /v1/orders``: the order exists; its checkout runs in the background."""

    order_id: str
    status: OrderStatus


class OrderPage(BaseModel):
    """One page of orders; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[OrderOut]
    next_cursor: str | None


class PriceOut(BaseModel):
    """A price from the read model."""

    product_id: str
    price_cents: int
    currency: str
    version: int


async def _cart_out(session: AsyncSession, cart: Cart) -> CartOut:
    known = await prices_of(session, (item.product_id for item in cart.items))
    items = [
        CartItemOut(
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price_cents=known[item.product_id].price_cents if item.product_id in known else None,
        )
        for item in cart.items
    ]
    return CartOut(
        cart_id=cart.cart_id, customer_id=cart.customer_id, status=cart.status, order_id=cart.order_id, items=items
    )


@service.post("/v1/carts", status_code=201)
@service.idempotent
async def post_cart(session: SessionDep, body: NewCart | None = None) -> CartOut:
    """Open an empty cart."""
    cart = await create_cart(session, customer_id=body.customer_id if body else None)
    return await _cart_out(session, cart)


@service.post("/v1/carts/{cart_id}/items")
@service.idempotent
async def post_cart_item(cart_id: str, body: NewItem, session: SessionDep) -> CartOut:
    """Add a product to an open cart (send ``Idempotency-Key``: a retried add would otherwise add twice)."""
    cart = await add_item(session, cart_id, product_id=body.product_id, quantity=body.quantity)
    return await _cart_out(session, cart)


@service.get("/v1/carts/{cart_id}")
async def get_one_cart(cart_id: str, session: SessionDep) -> CartOut:
    """A cart with the current prices of its items."""
    return await _cart_out(session, await get_cart(session, cart_id))


@service.post("/v1/orders", status_code=202)
@service.idempotent
async def post_order(
    body: NewOrder,
    response: Response,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", include_in_schema=False),
) -> OrderAccepted:
    """Check out a cart: the order is created ``PENDING`` and the checkout saga starts (202).

    With ``Idempotency-Key`` a retried request returns the first answer; the order id is derived from the key,
    so even a request re-executed after a crash finds its order instead of making a second one.
    """
    order_id = uuid.uuid5(_ORDER_IDS, idempotency_key).hex if idempotency_key else uuid.uuid4().hex
    # Committed before the saga starts: the saga's first step reads the order from another connection.
    async with service.transaction() as session:
        order, _ = await place_order(
            session,
            order_id=order_id,
            cart_id=body.cart_id,
            email=body.email,
            card_token=body.card_token,
            customer_id=body.customer_id,
        )
    if not order.status.final:
        try:
            await sagas.orchestrator.start(CHECKOUT, checkout_input(order), saga_id=order.order_id)
        except SagaError as exc:
            # The order is committed; the orphan sweeper (here or on a peer) starts its saga later.
            log.warning("order %s: checkout saga not started now (%s); the sweeper will", order.order_id, exc)
    response.headers["Location"] = f"/v1/orders/{order.order_id}"
    return OrderAccepted(order_id=order.order_id, status=order.status)


async def _saga_ref(order_id: str) -> SagaRef | None:
    try:
        record = await sagas.store.get(order_id)
    except SagaNotFound:
        return None
    return SagaRef(id=record.id, status=record.status.value)


@service.get("/v1/orders/{order_id}")
async def get_one_order(order_id: str, session: SessionDep) -> OrderOut:
    """An order, with its checkout saga's id and status."""
    order = await get_order(session, order_id)
    return OrderOut.of(order, await _saga_ref(order_id))


@service.get("/v1/orders")
async def get_orders(
    session: SessionDep,
    customer_id: str | None = Query(default=None, pattern=ID),
    status: OrderStatus | None = None,
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, pattern=ID),
) -> OrderPage:
    """Orders by id, optionally of one customer or in one status."""
    items = await list_orders(session, customer_id=customer_id, status=status, limit=limit, after=cursor)
    next_cursor = items[-1].order_id if len(items) == limit else None
    return OrderPage(items=[OrderOut.of(o) for o in items], next_cursor=next_cursor)


@service.get("/v1/prices/{product_id}")
async def get_one_price(product_id: str, session: SessionDep) -> PriceOut:
    """The price the order service would charge for a product now (its read model)."""
    price = await get_price(session, product_id)
    return PriceOut(
        product_id=price.product_id, price_cents=price.price_cents, currency=price.currency, version=price.version
    )


service.include_router(saga_router(sagas))
