"""The order service's HTTP API: thin adapters from ``/v1/...`` to :mod:`.service` and the checkout saga."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.access import CARD_TOKEN_PATTERN
from apps.shop.common.users import install, is_staff, owner_check, require_scope
from apps.shop.order import wiring
from apps.shop.order.carts import Cart, add_item, create_cart, delete_cart, get_cart
from apps.shop.order.checkout import CHECKOUT, checkout_input
from apps.shop.order.errors import OrderConflict, OrderRejected
from apps.shop.order.prices import get_price
from apps.shop.order.service import (
    Order,
    get_order,
    list_orders,
    place_order,
    service,
)
from apps.shop.order.states import OrderStatus
from apps.shop.order.wiring import sagas
from baton.errors import NotFound
from baton.kit import SessionDep
from baton.saga import SagaNotFound
from baton.saga.api import saga_router
from baton.security.rbac import Principal, not_found

ID = r"^[A-Za-z0-9_.:-]{1,64}$"
#: Card tokens as the payment service accepts them (``CONTRACTS.md``): a token can never be a card number.
_ORDER_IDS = uuid.UUID("6f1c2a52-3d1e-4c55-9a0e-0b5e7d6c9a11")


users = install(service)
"""Every cart and order belongs to the customer whose access token created it (``sub``)."""
Reader = Depends(require_scope("orders:read"))
Writer = Depends(require_scope("orders:write"))


class NewCart(BaseModel):
    """Body of ``POST /v1/carts`` (optional, empty): the owner is the caller, never a field."""

    model_config = ConfigDict(extra="forbid")


class NewItem(BaseModel):
    """Body of ``POST /v1/carts/{id}/items`` (the price is the catalog's, never sent)."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(pattern=ID)
    quantity: int = Field(ge=1, le=1000)


class NewOrder(BaseModel):
    """Body of ``POST /v1/orders``: ``customer_id``, ``status`` or prices in it are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    cart_id: str = Field(pattern=ID)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    card_token: str = Field(pattern=CARD_TOKEN_PATTERN, description="A payment token (tok_...), never a card number.")


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


def _cart_out(cart: Cart) -> CartOut:
    items = [
        CartItemOut(
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price_cents=item.price.price_cents if item.price is not None else None,
        )
        for item in cart.items
    ]
    return CartOut(
        cart_id=cart.cart_id, customer_id=cart.customer_id, status=cart.status, order_id=cart.order_id, items=items
    )


async def _owned_cart(session: AsyncSession, cart_id: str, user: Principal) -> Cart:
    """The cart when ``user`` owns it (or is staff); a foreign cart is the same 404 as a missing one."""
    try:
        cart: Cart | None = await get_cart(session, cart_id)
    except NotFound:
        cart = None
    owner_check(cart.customer_id if cart is not None else None, user, resource="cart")
    assert cart is not None
    return cart


@contextlib.asynccontextmanager
async def _cart_guard(cart_id: str, user: Principal) -> AsyncIterator[None]:
    """Make every refusal about someone else's cart the 404 of a missing one.

    Writers check ownership *after* their first write (a read first would let a concurrent writer invalidate
    this transaction's snapshot on SQLite); so a refusal raised by that write (already checked out, empty...)
    is only passed on once a fresh read shows the cart is the caller's.
    """
    try:
        yield
    except NotFound:
        raise not_found("cart") from None
    except (OrderConflict, OrderRejected):
        async with service.sessions() as session:
            await _owned_cart(session, cart_id, user)
        raise


@service.post("/v1/carts", status_code=201)
@service.idempotent
async def post_cart(session: SessionDep, user: Principal = Writer, body: NewCart | None = None) -> CartOut:
    """Open an empty cart for the caller."""
    cart = await create_cart(session, customer_id=user.subject)
    return _cart_out(cart)


@service.post("/v1/carts/{cart_id}/items")
@service.idempotent
async def post_cart_item(cart_id: str, body: NewItem, session: SessionDep, user: Principal = Writer) -> CartOut:
    """Add a product to an open cart (send ``Idempotency-Key``: a retried add would otherwise add twice)."""
    async with _cart_guard(cart_id, user):
        cart = await add_item(session, cart_id, product_id=body.product_id, quantity=body.quantity)
        owner_check(cart.customer_id, user, resource="cart")  # raising rolls the addition back
    return _cart_out(cart)


@service.get("/v1/carts/{cart_id}")
async def get_one_cart(cart_id: str, session: SessionDep, user: Principal = Reader) -> CartOut:
    """A cart with the current prices of its items."""
    return _cart_out(await _owned_cart(session, cart_id, user))


@service.delete("/v1/carts/{cart_id}", status_code=204)
async def delete_one_cart(cart_id: str, session: SessionDep, user: Principal = Writer) -> Response:
    """Throw away an open cart (409 once it was checked out)."""
    async with _cart_guard(cart_id, user):
        cart = await delete_cart(session, cart_id)
        owner_check(cart.customer_id, user, resource="cart")  # raising rolls the deletion back
    return Response(status_code=204)


@service.post("/v1/orders", status_code=202)
@service.idempotent
async def post_order(
    body: NewOrder,
    response: Response,
    session: SessionDep,
    user: Principal = Writer,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", include_in_schema=False),
) -> OrderAccepted:
    """Check out a cart: the order is created ``PENDING`` and the checkout saga starts (202).

    With ``Idempotency-Key`` a retried request returns the first answer; the order id is derived from the key,
    so even a request re-executed after a crash finds its order instead of making a second one. The order, its
    checkout saga, the key and the answer commit in one transaction; the saga is driven once it has committed.
    """
    order_id = uuid.uuid5(_ORDER_IDS, idempotency_key).hex if idempotency_key else uuid.uuid4().hex
    async with _cart_guard(body.cart_id, user):
        order, new = await place_order(
            session,
            order_id=order_id,
            cart_id=body.cart_id,
            email=body.email,
            card_token=body.card_token,
            customer_id=user.subject,
            # Raising rolls the claim back; a refusal of someone else's cart becomes the 404 of a missing one.
            check_cart=lambda cart: owner_check(cart.customer_id, user, resource="cart"),
        )
    if new:
        # An existing order got its saga when it was placed (or, placed before sagas were written with their
        # order, gets it from the orphan sweeper).
        await sagas.orchestrator.start(CHECKOUT, checkout_input(order), saga_id=order.order_id, session=session)
    response.headers["Location"] = f"/v1/orders/{order.order_id}"
    return OrderAccepted(order_id=order.order_id, status=order.status)


async def _saga_ref(order_id: str) -> SagaRef | None:
    try:
        record = await sagas.store.get(order_id)
    except SagaNotFound:
        return None
    return SagaRef(id=record.id, status=record.status.value)


@service.get("/v1/orders/{order_id}")
async def get_one_order(order_id: str, session: SessionDep, user: Principal = Reader) -> OrderOut:
    """An order, with its checkout saga's id and status (the caller's own; staff see every order)."""
    try:
        found: Order | None = await get_order(session, order_id)
    except NotFound:
        found = None
    owner_check(found.customer_id if found is not None else None, user, resource="order")
    assert found is not None
    order = found
    return OrderOut.of(order, await _saga_ref(order_id))


class PaymentView(BaseModel):
    """One payment of an order as its customer sees it (no card token)."""

    payment_id: str
    status: str
    amount_cents: int | None
    currency: str | None
    decline_reason: str | None
    created_at: float
    updated_at: float


class PaymentList(BaseModel):
    """The payments of one order."""

    items: list[PaymentView]


@service.get("/v1/orders/{order_id}/payments")
async def get_order_payments(order_id: str, session: SessionDep, user: Principal = Reader) -> PaymentList:
    """The payments of an order of the caller (staff: any order), read from the payment service.

    Payments belong to orders, so ownership is the order's: another customer's order is the 404 of a missing
    one and payment is never asked. The payment service itself answers only order and the gateway (mTLS).
    """
    try:
        found: Order | None = await get_order(session, order_id)
    except NotFound:
        found = None
    owner_check(found.customer_id if found is not None else None, user, resource="order")
    page = await wiring.clients["payment"].get_json("/v1/payments", params={"order_id": order_id, "limit": "100"})
    return PaymentList(items=[PaymentView.model_validate(p, from_attributes=False) for p in page["items"]])


@service.get("/v1/orders")
async def get_orders(
    session: SessionDep,
    user: Principal = Reader,
    customer_id: str | None = Query(default=None, pattern=ID),
    status: OrderStatus | None = None,
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, pattern=ID),
) -> OrderPage:
    """Orders by id, optionally in one status: the caller's own; staff see every customer's (``customer_id``)."""
    if not is_staff(user):
        customer_id = user.subject
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


# Saga logs carry the checkout's input (e-mail, card token): not a public route (the gateway has none for it);
# the control plane and operators read them inside the system.
service.include_router(saga_router(sagas))
