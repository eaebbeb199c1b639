"""The catalog's wire shapes: one domain :class:`~apps.shop.catalog.service.Product`, two encoders (v1, v2).

v2 evolves the product: ``name`` becomes ``title``, the price becomes a money object and the category is
embedded. Both versions are served side by side from the same rows, so clients move at their own pace.
A product *page* (``GET .../products/{id}``) adds the localized ``blurb`` from the content hub; lists do not.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from apps.shop.catalog.blurbs import Blurb
from apps.shop.catalog.service import Category, Product

CURRENCY_PATTERN = r"^[A-Z]{3}$"


class ProductV1(BaseModel):
    """A product in the v1 shape."""

    id: str
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    category_id: str
    version: int

    @classmethod
    def of(cls, product: Product) -> ProductV1:
        """Encode a domain product as v1."""
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price_cents=product.price_cents,
            currency=product.currency,
            category_id=product.category.id,
            version=product.version,
        )


class BlurbOut(BaseModel):
    """A product's marketing copy from the content hub, and the locale it is in."""

    headline: str
    blurb: str
    locale: str

    @classmethod
    def of(cls, blurb: Blurb | None) -> BlurbOut | None:
        """Encode a blurb (``None`` stays ``None``)."""
        return None if blurb is None else cls(headline=blurb.headline, blurb=blurb.blurb, locale=blurb.locale)


class ProductPageV1(ProductV1):
    """One product in the v1 shape, with its blurb (``null`` when the hub has none or cannot answer)."""

    blurb: BlurbOut | None

    @classmethod
    def page(cls, product: Product, blurb: Blurb | None) -> ProductPageV1:
        """Encode a product page as v1."""
        return cls(**ProductV1.of(product).model_dump(), blurb=BlurbOut.of(blurb))


class Money(BaseModel):
    """An amount in the currency's minor unit."""

    amount_cents: int
    currency: str


class CategoryOut(BaseModel):
    """A category."""

    id: str
    name: str

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        """Encode a domain category."""
        return cls(id=category.id, name=category.name)


class ProductV2(BaseModel):
    """A product in the v2 shape."""

    id: str
    sku: str
    title: str
    description: str
    price: Money
    category: CategoryOut
    version: int

    @classmethod
    def of(cls, product: Product) -> ProductV2:
        """Encode a domain product as v2."""
        return cls(
            id=product.id,
            sku=product.sku,
            title=product.name,
            description=product.description,
            price=Money(amount_cents=product.price_cents, currency=product.currency),
            category=CategoryOut.of(product.category),
            version=product.version,
        )


class ProductPageV2(ProductV2):
    """One product in the v2 shape, with its blurb (``null`` when the hub has none or cannot answer)."""

    blurb: BlurbOut | None

    @classmethod
    def page(cls, product: Product, blurb: Blurb | None) -> ProductPageV2:
        """Encode a product page as v2."""
        return cls(**ProductV2.of(product).model_dump(), blurb=BlurbOut.of(blurb))


class PageV1(BaseModel):
    """A page of v1 products; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[ProductV1]
    next_cursor: str | None


class PageV2(BaseModel):
    """A page of v2 products; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[ProductV2]
    next_cursor: str | None


class CategoryList(BaseModel):
    """Every category (a single page: the list is short)."""

    items: list[CategoryOut]
    next_cursor: str | None = None


class NewProduct(BaseModel):
    """Body of ``POST /v1/products``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    price_cents: int = Field(ge=0, le=100_000_000)
    currency: str = Field(default="EUR", pattern=CURRENCY_PATTERN)
    category_id: str = Field(min_length=1, max_length=64)


class NewPrice(BaseModel):
    """Body of ``PUT /v1/products/{id}/price``."""

    model_config = ConfigDict(extra="forbid")

    price_cents: int = Field(ge=0, le=100_000_000)
