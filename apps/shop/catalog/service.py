"""The catalog service: products, categories and prices — domain operations, transport-free.

Run it with ``python -m baton.kit.serve apps.shop.catalog.service:service``. Every change to a product bumps
its ``version`` and is announced through the outbox in the same transaction (``product.created``,
``product.price_changed``), so the order service's price read model can apply events in version order.
The HTTP routes (``/v1`` and ``/v2``, one domain and two encoders) live in :mod:`apps.shop.catalog.api`;
a product page also carries its localized blurb from the content hub (:mod:`apps.shop.catalog.blurbs`).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.catalog import seed
from apps.shop.catalog.blurbs import ProductBlurbs
from apps.shop.catalog.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED, created_data, price_changed_data
from apps.shop.catalog.models import categories, metadata, products
from apps.shop.catalog.settings import CatalogSettings
from apps.shop.common.sql import insert_new
from baton.errors import BatonError, NotFound
from baton.kit import InstanceContext, Service
from baton.kit.db import transaction
from baton.telemetry.logging import get_logger

service = Service(
    "catalog",
    settings=CatalogSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)

_log = get_logger("shop.catalog")

#: Optimistic attempts at a price change before giving up on a product that keeps changing under us.
PRICE_CHANGE_ATTEMPTS = 5


class UnknownCategory(BatonError):
    """Raised when a product names a category the catalog does not have."""

    status = 422
    title = "Unknown category"


class DuplicateProduct(BatonError):
    """Raised when a new product's id or SKU is taken already."""

    status = 409
    title = "Product exists"


class ConcurrentChange(BatonError):
    """Raised when a product kept changing while a price change tried to apply (retry the request)."""

    retryable = True
    status = 409
    title = "Concurrent change"


@dataclass(frozen=True, slots=True)
class Category:
    """A group of products."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    """A product as the catalog knows it; the encoders shape it as v1 or v2."""

    id: str
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    category: Category
    version: int


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """What it takes to create a product (``id`` defaults to a fresh UUID4 hex)."""

    sku: str
    name: str
    price_cents: int
    category_id: str
    description: str = ""
    currency: str = "EUR"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ProductPage:
    """One page of products; ``next_cursor`` (the last id) continues the listing, ``None`` at the end."""

    items: list[Product]
    next_cursor: str | None


def _product_query() -> Select[Any]:
    return select(products, categories.c.name.label("category_name")).join(
        categories, categories.c.id == products.c.category_id
    )


def _product(row: Row[Any]) -> Product:
    return Product(
        id=row.id,
        sku=row.sku,
        name=row.name,
        description=row.description,
        price_cents=row.price_cents,
        currency=row.currency,
        category=Category(row.category_id, row.category_name),
        version=row.version,
    )


async def list_products(
    session: AsyncSession,
    *,
    q: str | None = None,
    category: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> ProductPage:
    """Products ordered by id, ``limit`` at a time after the id ``after``.

    ``q`` matches name or description case-insensitively (as a substring); ``category`` is a category id.
    """
    query = _product_query().order_by(products.c.id).limit(limit + 1)
    if q:
        query = query.where(
            or_(products.c.name.icontains(q, autoescape=True), products.c.description.icontains(q, autoescape=True))
        )
    if category:
        query = query.where(products.c.category_id == category)
    if after is not None:
        query = query.where(products.c.id > after)
    found = [_product(row) for row in (await session.execute(query)).all()]
    # One row more than asked for tells whether another page exists without a count query.
    items = found[:limit]
    return ProductPage(items, items[-1].id if len(found) > limit else None)


async def get_product(session: AsyncSession, product_id: str) -> Product:
    """The product ``product_id``.

    Raises:
        NotFound: no such product.
    """
    row = (await session.execute(_product_query().where(products.c.id == product_id))).first()
    if row is None:
        raise NotFound(f"product {product_id!r} not found")
    return _product(row)


async def list_categories(session: AsyncSession) -> list[Category]:
    """Every category, by name."""
    rows = (await session.execute(select(categories).order_by(categories.c.name))).all()
    return [Category(row.id, row.name) for row in rows]


async def create_product(session: AsyncSession, draft: ProductDraft) -> Product:
    """Store a new product at version 1 and announce it (``product.created``, same transaction).

    Raises:
        UnknownCategory: the draft's category does not exist.
        DuplicateProduct: the id or SKU is taken.
    """
    category_name = await session.scalar(select(categories.c.name).where(categories.c.id == draft.category_id))
    if category_name is None:
        raise UnknownCategory(f"category {draft.category_id!r} does not exist")
    product_id = draft.id or uuid.uuid4().hex
    taken = await session.scalar(
        select(products.c.id).where(or_(products.c.id == product_id, products.c.sku == draft.sku)).limit(1)
    )
    if taken is not None:
        raise DuplicateProduct(f"a product with id {product_id!r} or SKU {draft.sku!r} exists")
    product = Product(
        id=product_id,
        sku=draft.sku,
        name=draft.name,
        description=draft.description,
        price_cents=draft.price_cents,
        currency=draft.currency,
        category=Category(draft.category_id, category_name),
        version=1,
    )
    try:
        await session.execute(
            insert(products).values(
                id=product.id,
                sku=product.sku,
                name=product.name,
                description=product.description,
                price_cents=product.price_cents,
                currency=product.currency,
                category_id=draft.category_id,
                version=product.version,
                updated_at=time.time(),
            )
        )
    except IntegrityError as exc:  # a concurrent create took the id or SKU between the check and the insert
        raise DuplicateProduct(f"a product with id {product_id!r} or SKU {draft.sku!r} exists") from exc
    await service.emit(session, type=PRODUCT_CREATED, subject=product.id, data=created_data(product))
    return product


async def change_price(session: AsyncSession, product_id: str, *, price_cents: int) -> Product:
    """Set the price; a real change bumps the version and emits ``product.price_changed`` (same transaction).

    Setting the current price again changes nothing and emits nothing.

    Raises:
        NotFound: no such product.
        ConcurrentChange: the product changed under every attempt.
    """
    for _ in range(PRICE_CHANGE_ATTEMPTS):
        current = await get_product(session, product_id)
        if current.price_cents == price_cents:
            return current
        # Conditional on the version read: the old price in the event is exactly the one replaced, even when
        # two staff members change the price at once (the loser re-reads and tries again).
        result = await session.execute(
            update(products)
            .where(products.c.id == product_id, products.c.version == current.version)
            .values(price_cents=price_cents, version=current.version + 1, updated_at=time.time())
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            changed = dataclasses.replace(current, price_cents=price_cents, version=current.version + 1)
            data = price_changed_data(changed, old_price_cents=current.price_cents)
            await service.emit(session, type=PRODUCT_PRICE_CHANGED, subject=product_id, data=data)
            return changed
    raise ConcurrentChange(f"product {product_id!r} kept changing; try again")


async def seed_catalog(session: AsyncSession) -> list[Product]:
    """Insert the demo categories and the demo products that are missing; announce each new product."""
    for category_id, name in seed.CATEGORIES:
        await insert_new(session, categories, {"id": category_id, "name": name}, unique=["id"])
    present = set((await session.scalars(select(products.c.id).where(products.c.id.in_(seed.PRODUCT_IDS)))).all())
    created = []
    for item in seed.PRODUCTS:
        if item.id not in present:
            draft = ProductDraft(
                id=item.id,
                sku=item.sku,
                name=item.name,
                description=item.description,
                price_cents=item.price_cents,
                currency=seed.CURRENCY,
                category_id=item.category_id,
            )
            created.append(await create_product(session, draft))
    return created


class CatalogSeeder:
    """Plants the demo catalog when the instance starts (a :class:`~baton.kit.Component`; ``CATALOG_SEED``)."""

    name = "seed"

    async def start(self, ctx: InstanceContext) -> None:
        """Seed once, before the instance reports ready, so the first request already sees the products."""
        settings: CatalogSettings = service.settings
        if not settings.seed or ctx.sessions is None:
            return
        async with transaction(ctx.sessions) as session:
            created = await seed_catalog(session)
        if created:
            _log.info("seeded the demo catalog", products=len(created))

    async def check(self) -> None:
        """Always ready once started."""

    async def drain(self) -> None:
        """Nothing in flight."""

    async def stop(self) -> None:
        """Nothing to release."""


service.add_component(CatalogSeeder())

#: The product pages' blurbs, read from the content hub (:mod:`apps.shop.catalog.blurbs`).
blurbs = ProductBlurbs(lambda: service.settings)
service.add_component(blurbs)

# Registers the HTTP routes on ``service``; last, because the routes call the operations above.
from apps.shop.catalog import api  # noqa: E402, F401
