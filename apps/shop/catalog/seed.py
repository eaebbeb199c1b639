"""The demo catalog planted at first start (``CATALOG_SEED=true``): fixed ids so demos and tests can name them.

Plain data, importable without starting anything: the inventory service seeds stock for :data:`PRODUCT_IDS`.
"""

from __future__ import annotations

from typing import NamedTuple


class SeedProduct(NamedTuple):
    """One product of the demo catalog."""

    id: str
    sku: str
    name: str
    description: str
    price_cents: int
    category_id: str


CURRENCY = "EUR"

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("c-coffee", "Coffee"),
    ("c-brewing", "Brewing equipment"),
    ("c-accessories", "Accessories"),
)

PRODUCTS: tuple[SeedProduct, ...] = (
    SeedProduct("p-espresso", "COF-ESP-500", "Espresso Roast", "Dark espresso roast, 500 g beans.", 1490, "c-coffee"),
    SeedProduct("p-house-blend", "COF-HOU-500", "House Blend", "Balanced medium roast, 500 g beans.", 1290, "c-coffee"),
    SeedProduct("p-ethiopia", "COF-ETH-250", "Ethiopia Yirgacheffe", "Floral light roast, 250 g.", 1190, "c-coffee"),
    SeedProduct("p-decaf", "COF-DEC-250", "Swiss Water Decaf", "Solvent-free decaf, 250 g.", 1090, "c-coffee"),
    SeedProduct("p-moka-pot", "BRW-MOK-006", "Moka Pot", "Stovetop espresso maker for six cups.", 3490, "c-brewing"),
    SeedProduct("p-french-press", "BRW-FRP-008", "French Press", "Glass and steel press, 1 litre.", 2990, "c-brewing"),
    SeedProduct("p-pour-over", "BRW-V60-002", "Pour-over Dripper", "Ceramic cone dripper, size 02.", 2490, "c-brewing"),
    SeedProduct("p-grinder", "BRW-GRN-040", "Burr Grinder", "Conical burr grinder, 40 settings.", 8990, "c-brewing"),
    SeedProduct("p-mug", "ACC-MUG-350", "Ceramic Mug", "Stoneware mug, 350 ml.", 1290, "c-accessories"),
    SeedProduct("p-filters", "ACC-FIL-100", "Paper Filters", "100 unbleached filters, size 02.", 590, "c-accessories"),
    SeedProduct("p-scale", "ACC-SCL-001", "Brew Scale", "Scale with timer, 0.1 g resolution.", 2990, "c-accessories"),
    SeedProduct("p-tamper", "ACC-TMP-058", "Espresso Tamper", "Stainless steel tamper, 58 mm.", 1990, "c-accessories"),
)  # fmt: skip

PRODUCT_IDS: tuple[str, ...] = tuple(p.id for p in PRODUCTS)
"""Ids of the demo products."""
