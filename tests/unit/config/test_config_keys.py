"""Config key syntax: ``<service>.<name>`` / ``_global.<name>``, KV-safe tokens only."""

from __future__ import annotations

import pytest

from baton.control.config import ConfigKey
from baton.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "scope", "field"),
    [
        ("catalog.page_size", "catalog", "page_size"),
        ("_global.LOG_LEVEL", "_global", "log_level"),
        ("order-v2.max-items", "order-v2", "max_items"),
    ],
)
def test_valid_keys(text, scope, field):
    key = ConfigKey.parse(text)
    assert (key.scope, key.field, str(key)) == (scope, field, text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "catalog",
        "catalog.",
        ".page_size",
        "Catalog.x",
        "catalog.a.b",
        "catalog.*",
        "catalog.>",
        "cat log.x",
        "catalog.1x",
        "global.x.",
        "catalog.x/y",
        "catalog.é",
    ],
)
def test_invalid_keys_say_what_is_expected(text):
    with pytest.raises(ConfigError, match=r"expected '<service>.<name>'"):
        ConfigKey.parse(text)
