"""The price read model: the catalog's prices, kept locally from its events so checkout never calls the catalog.

Events can arrive late, twice or out of order (a replay, a backfill racing the stream): a price is applied
only when its product ``version`` is newer than the stored one, which makes applying commutative. Duplicate
deliveries are already filtered by the inbox; the version check also makes the backfill safe to overlap them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.sql import insert_new
from apps.shop.order.models import prices, read_model_marks
from baton.errors import NotFound
from baton.sql import conflict_insert

BACKFILLED = "prices.backfilled"
"""The mark written once a backfill from the catalog has completed."""


@dataclass(frozen=True, slots=True)
class Price:
    """A product's price as the order service knows it."""

    product_id: str
    price_cents: int
    currency: str
    version: int


async def apply_price(session: AsyncSession, price: Price) -> bool:
    """Store ``price`` unless the stored one is from the same or a newer version; ``True`` when applied.

    One ``INSERT ... ON CONFLICT DO UPDATE ... WHERE version < new`` statement, so two replicas applying
    events of one product concurrently cannot go backwards.
    """
    dialect = session.get_bind().dialect.name
    insert = conflict_insert(dialect)
    values = {
        "product_id": price.product_id,
        "price_cents": price.price_cents,
        "currency": price.currency,
        "version": price.version,
        "updated_at": time.time(),
    }
    statement = insert(prices).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[prices.c.product_id],
        set_={name: statement.excluded[name] for name in values if name != "product_id"},
        where=prices.c.version < statement.excluded.version,
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)


async def get_price(session: AsyncSession, product_id: str) -> Price:
    """The known price of ``product_id``.

    Raises:
        NotFound: no catalog event or backfill has told this service about the product yet.
    """
    found = await prices_of(session, [product_id])
    if product_id not in found:
        raise NotFound(f"no price known for product {product_id!r}")
    return found[product_id]


_PRICES_OF = select(prices).where(prices.c.product_id.in_(bindparam("ids", expanding=True)))
"""Built once (it runs for every cart answer and order): parameters, not a new statement, per call."""


async def prices_of(session: AsyncSession, product_ids: Iterable[str]) -> dict[str, Price]:
    """The known prices of ``product_ids`` (products without one are absent)."""
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    rows = (await session.execute(_PRICES_OF, {"ids": wanted})).all()
    return {r.product_id: Price(r.product_id, r.price_cents, r.currency, r.version) for r in rows}


async def count_prices(session: AsyncSession) -> int:
    """How many products the read model knows."""
    return int((await session.execute(select(func.count()).select_from(prices))).scalar_one())


async def is_marked(session: AsyncSession, name: str) -> bool:
    """Whether the mark ``name`` (e.g. :data:`BACKFILLED`) was written."""
    query = select(read_model_marks.c.name).where(read_model_marks.c.name == name)
    return (await session.execute(query)).first() is not None


async def mark(session: AsyncSession, name: str) -> None:
    """Write the mark ``name`` (idempotent)."""
    await insert_new(session, read_model_marks, {"name": name, "at": time.time()}, unique=["name"])
