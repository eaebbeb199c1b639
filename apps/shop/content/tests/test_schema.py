"""Content types from Strapi schema.json files: the shop's types load; invalid ones name the file and attribute."""

# ruff: noqa: E501  (tables of cases read best one case per line)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apps.shop.content.schema import InvalidSchema, load_registry
from apps.shop.content.settings import TYPES


def test_the_shops_content_types_load():
    registry = load_registry(TYPES)
    article = registry.types["api::article.article"]
    blurb = registry.by_api_id("product-blurbs")
    assert sorted(t.singular for t in registry.types.values()) == [
        "article",
        "author",
        "email-template",
        "product-blurb",
    ]
    assert blurb is not None
    assert (blurb.draft_and_publish, blurb.localized) == (True, True)
    assert not blurb.localized_attribute(blurb.attributes["productId"])
    assert article.attributes["author"].target == "api::author.author"
    assert article.attributes["related"].to_many
    assert article.attributes["editorNotes"].private
    assert set(registry.components) == {"shared.seo", "shared.quote"}


def _write(root: Path, attributes: dict, **top: object) -> Path:
    path = root / "thing" / "schema.json"
    path.parent.mkdir(parents=True)
    schema = {
        "kind": "collectionType",
        "info": {"singularName": "thing", "pluralName": "things"},
        "attributes": attributes,
    }
    path.write_text(json.dumps({**schema, **top}))
    return path


@pytest.mark.parametrize(
    ("attributes", "top", "attribute", "message"),
    [
        ({"title": {"type": "strin"}}, {}, "title", "unknown type 'strin'"),
        ({"title": {}}, {}, "title", 'must be an object with a "type"'),
        ({"documentId": {"type": "string"}}, {}, "documentId", "is reserved for a system field"),
        ({"kind": {"type": "enumeration", "enum": []}}, {}, "kind", 'an enumeration needs a non-empty "enum"'),
        ({"owner": {"type": "relation", "relation": "oneToFew", "target": "api::thing.thing"}}, {}, "owner", '"relation" must be one of'),
        ({"owner": {"type": "relation", "relation": "manyToOne", "target": "api::user.user"}}, {}, "owner", "relation target 'api::user.user' is not a known content type"),
        ({"owner": {"type": "relation", "relation": "manyToOne", "target": "api::thing.thing", "inversedBy": "nope"}}, {}, "owner", "inversedBy 'nope' is not a relation"),
        ({"seo": {"type": "component", "component": "shared.none"}}, {}, "seo", "unknown component 'shared.none'"),
        ({"code": {"type": "string", "regex": "("}}, {}, "code", "invalid regex"),
        ({"slug": {"type": "uid", "targetField": "name"}}, {}, "slug", "targetField 'name' is not an attribute"),
        ({"title": {"type": "string"}}, {"kind": "pageType"}, None, '"kind" must be "collectionType" or "singleType"'),
        ({"title": {"type": "string"}}, {"info": {"singularName": "Thing", "pluralName": "things"}}, None, "kebab-case"),
    ],
)  # fmt: skip
def test_an_invalid_schema_names_the_file_and_the_attribute(tmp_path, attributes, top, attribute, message):
    path = _write(tmp_path, attributes, **top)
    with pytest.raises(InvalidSchema) as raised:
        load_registry(tmp_path)
    assert raised.value.file == str(path)
    assert raised.value.attribute == attribute
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{path}: ")


def test_broken_json_is_reported_with_its_line(tmp_path):
    path = tmp_path / "thing" / "schema.json"
    path.parent.mkdir()
    path.write_text('{\n  "kind": "collectionType",\n  oops\n}')
    with pytest.raises(InvalidSchema, match=r"schema.json: is not valid JSON \(line 3\)"):
        load_registry(tmp_path)


async def test_the_hub_refuses_to_start_with_an_invalid_schema(tmp_path):
    from content_helpers import running_hub

    _write(tmp_path / "types", {"title": {"type": "strin"}})
    with pytest.raises(InvalidSchema, match="attribute 'title': unknown type"):
        async with running_hub(tmp_path, {"CONTENT_TYPES": str(tmp_path / "types")}):
            pass
