"""Event type ▸ subject ▸ stream mapping."""

from __future__ import annotations

import pytest

from baton.errors import EventError
from baton.events import naming


@pytest.mark.parametrize(
    ("type_", "subject", "stream", "version"),
    [
        ("shop.catalog.product.price_changed.v1", "shop.catalog.product.price_changed", "SHOP_CATALOG", "v1"),
        ("shop.order.order.placed.v12", "shop.order.order.placed", "SHOP_ORDER", "v12"),
        ("shop.catalog.product.*", "shop.catalog.product.*", "SHOP_CATALOG", None),
        ("shop.catalog.>", "shop.catalog.>", "SHOP_CATALOG", None),
        ("acme.user-profile.changed", "acme.user-profile.changed", "ACME_USER_PROFILE", None),
        ("shop.catalog.v1version.v2", "shop.catalog.v1version", "SHOP_CATALOG", "v2"),
    ],
)
def test_type_maps_to_subject_stream_and_version(type_, subject, stream, version) -> None:
    assert naming.subject_for(type_) == subject
    assert naming.stream_for(type_) == stream
    assert naming.version_of(type_) == version
    assert naming.stream_subjects(type_) == [".".join(subject.split(".")[:2]) + ".>"]


@pytest.mark.parametrize(
    "bad",
    ["shop.v1", "shop", "shop.catalog", "shop..product.v1", "shop.*.product", "shop.catalog.pro duct.v1", "*.a.b"],
)
def test_invalid_types_are_rejected_with_a_hint(bad) -> None:
    with pytest.raises(EventError):
        naming.subject_for(bad)


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("shop.catalog.product.price_changed", "shop.catalog.product.price_changed", True),
        ("shop.catalog.product.*", "shop.catalog.product.price_changed", True),
        ("shop.catalog.*", "shop.catalog.product.price_changed", False),
        ("shop.catalog.>", "shop.catalog.product.price_changed", True),
        ("shop.catalog.>", "shop.catalog", False),
        ("shop.order.>", "shop.catalog.product.x", False),
        ("shop.catalog.product.x", "shop.catalog.product", False),
    ],
)
def test_subject_matching_follows_nats_wildcards(pattern, subject, matches) -> None:
    assert naming.subject_matches(pattern, subject) is matches


def test_consumer_and_dlq_names_are_nats_safe() -> None:
    assert naming.consumer_name("inventory") == "inventory"
    assert naming.consumer_name("inventory", instance="inventory-1.local") == "inventory_inventory-1_local"
    assert naming.dlq_subject("inventory") == "baton.dlq.inventory"
