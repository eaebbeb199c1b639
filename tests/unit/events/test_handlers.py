"""The @handler decorator attaches a definition and leaves the function callable."""

from __future__ import annotations

import pytest

from baton.errors import EventError
from baton.events import CloudEvent, HandlerDefinition, handler
from baton.events.handlers import definition_of


@handler("shop.catalog.product.price_changed.v1", max_deliver=3, backoff=(0.1, 1))
async def on_price_changed(event, session) -> None:
    on_price_changed.calls.append(event.id)  # type: ignore[attr-defined]


on_price_changed.calls = []  # type: ignore[attr-defined]


async def test_decorated_function_is_returned_unchanged_and_callable() -> None:
    event = CloudEvent(id="e1", source="/s", type="shop.catalog.product.price_changed.v1")
    await on_price_changed(event, None)
    assert on_price_changed.calls == ["e1"]  # type: ignore[attr-defined]
    assert on_price_changed.__name__ == "on_price_changed"


def test_definition_describes_subject_stream_version_and_retries() -> None:
    definition = definition_of(on_price_changed)
    assert isinstance(definition, HandlerDefinition)
    assert definition.subject == "shop.catalog.product.price_changed"
    assert definition.stream == "SHOP_CATALOG"
    assert definition.version == "v1"
    assert definition.max_deliver == 3
    assert [definition.delay_after(n) for n in (1, 2, 3, 9)] == [0.1, 1.0, 1.0, 1.0]
    with pytest.raises(AttributeError):
        definition.max_deliver = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pattern", "subject", "type_", "accepted"),
    [
        ("shop.catalog.product.price_changed.v1", "shop.catalog.product.price_changed", "x.v1", True),
        ("shop.catalog.product.price_changed.v1", "shop.catalog.product.price_changed", "x.v2", False),
        ("shop.catalog.product.*", "shop.catalog.product.price_changed", "x.v7", True),
        ("shop.catalog.>", "shop.order.order.placed", "x.v1", False),
    ],
)
def test_accepts_by_subject_and_declared_version(pattern, subject, type_, accepted) -> None:
    @handler(pattern)
    async def fn(event, session) -> None: ...

    assert definition_of(fn).accepts(subject, type_) is accepted


def test_bad_declarations_fail_at_import_time() -> None:
    with pytest.raises(EventError):
        handler("price_changed")
    with pytest.raises(EventError):
        handler("shop.catalog.product.changed.v1", max_deliver=0)
    with pytest.raises(EventError, match="not an event handler"):
        definition_of(lambda e, s: None)
