"""The events the catalog emits (through the outbox) and their payloads, as ``CONTRACTS.md`` fixes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.shop.catalog.service import Product

PRODUCT_CREATED = "shop.catalog.product.created.v1"
PRODUCT_PRICE_CHANGED = "shop.catalog.product.price_changed.v1"


def created_data(product: Product) -> dict[str, Any]:
    """Payload of ``product.created``."""
    return {
        "product_id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "category_id": product.category.id,
        "version": product.version,
    }


def price_changed_data(product: Product, *, old_price_cents: int) -> dict[str, Any]:
    """Payload of ``product.price_changed`` (``product`` carries the new price and version)."""
    return {
        "product_id": product.id,
        "old_price_cents": old_price_cents,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "version": product.version,
    }
