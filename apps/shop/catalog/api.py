"""The catalog's HTTP API: ``/v1`` and ``/v2`` routes, thin adapters over :mod:`apps.shop.catalog.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from apps.shop.catalog.blurbs import Blurb
from apps.shop.catalog.schemas import (
    CategoryList,
    CategoryOut,
    NewPrice,
    NewProduct,
    PageV1,
    PageV2,
    ProductPageV1,
    ProductPageV2,
    ProductV1,
    ProductV2,
)
from apps.shop.catalog.service import (
    ProductDraft,
    change_price,
    create_product,
    get_product,
    list_categories,
    list_products,
    service,
)
from apps.shop.catalog.service import blurbs as product_blurbs
from apps.shop.common.access import require_catalog_write
from apps.shop.common.users import install
from baton.content import preferred_locales
from baton.kit import SessionDep

users = install(service)
"""Staff are recognised by their access token's ``catalog:write`` scope."""

Limit = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str | None, Query(max_length=200, description="Matches name or description, any case.")]
CategoryFilter = Annotated[str | None, Query(max_length=64, description="A category id.")]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page.")]
Locale = Annotated[
    str | None,
    Query(
        max_length=35,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Locale of the blurb (e.g. fr); default: the Accept-Language header, then English.",
    ),
]


async def _blurb(product_id: str, request: Request, response: Response, locale: str | None) -> Blurb | None:
    """The page's blurb in ``?locale=``, else the ``Accept-Language`` preferences, else the fallback locales."""
    # The answer depends on the header: shared caches must key on it.
    response.headers["Vary"] = "Accept-Language"
    locales = [locale] if locale else preferred_locales(request.headers.get("accept-language"))
    return await product_blurbs.blurb(product_id, locales=locales)


@service.get("/v1/products")
async def get_products_v1(
    session: SessionDep, q: Search = None, category: CategoryFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> PageV1:
    """Search products (v1 shape), ordered by id."""
    page = await list_products(session, q=q, category=category, limit=limit, after=cursor)
    return PageV1(items=[ProductV1.of(p) for p in page.items], next_cursor=page.next_cursor)


@service.get("/v1/products/{product_id}")
async def get_product_v1(
    product_id: str, session: SessionDep, request: Request, response: Response, locale: Locale = None
) -> ProductPageV1:
    """One product (v1 shape) with its localized blurb from the content hub."""
    product = await get_product(session, product_id)
    return ProductPageV1.page(product, await _blurb(product.id, request, response, locale))


@service.post("/v1/products", status_code=201, dependencies=[Depends(require_catalog_write)])
@service.idempotent
async def post_product(body: NewProduct, session: SessionDep, response: Response) -> ProductV1:
    """Create a product (staff; send ``Idempotency-Key`` to make retries safe)."""
    product = await create_product(session, ProductDraft(**body.model_dump()))
    response.headers["Location"] = f"/v1/products/{product.id}"
    return ProductV1.of(product)


@service.put("/v1/products/{product_id}/price", dependencies=[Depends(require_catalog_write)])
async def put_price(product_id: str, body: NewPrice, session: SessionDep) -> ProductV1:
    """Change a product's price (staff); the answer carries the new version."""
    return ProductV1.of(await change_price(session, product_id, price_cents=body.price_cents))


@service.get("/v1/categories")
async def get_categories(session: SessionDep) -> CategoryList:
    """Every category."""
    return CategoryList(items=[CategoryOut.of(c) for c in await list_categories(session)])


@service.get("/v2/products")
async def get_products_v2(
    session: SessionDep, q: Search = None, category: CategoryFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> PageV2:
    """Search products (v2 shape), ordered by id."""
    page = await list_products(session, q=q, category=category, limit=limit, after=cursor)
    return PageV2(items=[ProductV2.of(p) for p in page.items], next_cursor=page.next_cursor)


@service.get("/v2/products/{product_id}")
async def get_product_v2(
    product_id: str, session: SessionDep, request: Request, response: Response, locale: Locale = None
) -> ProductPageV2:
    """One product (v2 shape) with its localized blurb from the content hub."""
    product = await get_product(session, product_id)
    return ProductPageV2.page(product, await _blurb(product.id, request, response, locale))
