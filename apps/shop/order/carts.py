"""Shopping carts: open, fill, read. A cart is checked out once; :func:`~apps.shop.order.service.place_order`
claims it."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Insert, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.order.errors import OrderConflict
from apps.shop.order.models import cart_items, carts, prices
from apps.shop.order.prices import Price
from baton.errors import NotFound
from baton.sql import conflict_insert

# Statements of the customer's requests, built once: building and cache-keying a statement per call costs about
# as much CPU as running it on SQLite. Values go in as parameters (an UPDATE's named w_/v_: a parameter named
# like a column would be taken for one more column to set).
_INSERT_CART = insert(carts)
# A cart, its items and their known prices in one read (a row per item, one with NULL items when it is empty).
_CART = (
    select(
        carts,
        cart_items.c.product_id.label("item_product_id"),
        cart_items.c.quantity.label("item_quantity"),
        prices.c.price_cents,
        prices.c.currency,
        prices.c.version,
    )
    .select_from(
        carts.outerjoin(cart_items, cart_items.c.cart_id == carts.c.cart_id).outerjoin(
            prices, prices.c.product_id == cart_items.c.product_id
        )
    )
    .where(carts.c.cart_id == bindparam("cart_id"))
    .order_by(cart_items.c.product_id)
)
_TOUCH_OPEN_CART = (
    update(carts)
    .where(carts.c.cart_id == bindparam("w_cart_id"), carts.c.status == "open")
    .values(updated_at=bindparam("v_updated_at"))
)


@functools.cache
def _add_quantity(dialect: str) -> Insert:
    """``INSERT`` a cart line, or add to its quantity when the product is in the cart already."""
    upsert = conflict_insert(dialect)(cart_items)
    return upsert.on_conflict_do_update(
        index_elements=[cart_items.c.cart_id, cart_items.c.product_id],
        set_={"quantity": cart_items.c.quantity + upsert.excluded.quantity},
    )


@dataclass(frozen=True, slots=True)
class CartItem:
    """A product and how many of it."""

    product_id: str
    quantity: int
    price: Price | None = None
    """The read model's price of the product when the cart was read (``None``: no price known yet)."""


@dataclass(frozen=True, slots=True)
class Cart:
    """A shopping cart; ``order_id`` is set once it was checked out."""

    cart_id: str
    customer_id: str | None
    status: str
    order_id: str | None
    items: tuple[CartItem, ...]


async def create_cart(session: AsyncSession, *, customer_id: str | None = None) -> Cart:
    """Open an empty cart."""
    cart_id, now = uuid.uuid4().hex, time.time()
    await session.execute(
        _INSERT_CART,
        {
            "cart_id": cart_id,
            "customer_id": customer_id,
            "status": "open",
            "order_id": None,
            "created_at": now,
            "updated_at": now,
        },
    )
    return Cart(cart_id, customer_id, "open", None, ())


async def add_item(session: AsyncSession, cart_id: str, *, product_id: str, quantity: int) -> Cart:
    """Add ``quantity`` of a product to an open cart (adding to what is there).

    Raises:
        NotFound: no such cart.  OrderConflict: the cart was checked out already.
    """
    # Write first: the row lock it takes orders this against a concurrent checkout of the same cart.
    touched = await session.execute(_TOUCH_OPEN_CART, {"w_cart_id": cart_id, "v_updated_at": time.time()})
    if getattr(touched, "rowcount", 0) != 1:
        cart = await get_cart(session, cart_id)
        raise OrderConflict(f"cart {cart_id} was checked out already (order {cart.order_id})")
    await session.execute(
        _add_quantity(session.get_bind().dialect.name),
        {"cart_id": cart_id, "product_id": product_id, "quantity": quantity},
    )
    return await get_cart(session, cart_id)


async def get_cart(session: AsyncSession, cart_id: str) -> Cart:
    """The cart ``cart_id`` with its items.

    Raises:
        NotFound: no such cart.
    """
    rows = (await session.execute(_CART, {"cart_id": cart_id})).all()
    if not rows:
        raise NotFound(f"no cart {cart_id!r}")
    row = rows[0]
    items = tuple(
        CartItem(
            r.item_product_id,
            r.item_quantity,
            Price(r.item_product_id, r.price_cents, r.currency, r.version) if r.price_cents is not None else None,
        )
        for r in rows
        if r.item_product_id is not None
    )
    return Cart(row.cart_id, row.customer_id, row.status, row.order_id, items)


async def delete_cart(session: AsyncSession, cart_id: str) -> Cart:
    """Throw away an open cart and its items; the cart as it was.

    Raises:
        NotFound: no such cart.  OrderConflict: the cart was checked out already (its order keeps it).
    """
    # Write first, as in add_item: the row lock orders this against a concurrent checkout of the same cart.
    touched = await session.execute(_TOUCH_OPEN_CART, {"w_cart_id": cart_id, "v_updated_at": time.time()})
    if getattr(touched, "rowcount", 0) != 1:
        cart = await get_cart(session, cart_id)
        raise OrderConflict(f"cart {cart_id} was checked out already (order {cart.order_id})")
    cart = await get_cart(session, cart_id)
    await session.execute(delete(cart_items).where(cart_items.c.cart_id == cart_id))
    await session.execute(delete(carts).where(carts.c.cart_id == cart_id))
    return cart
