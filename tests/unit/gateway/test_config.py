"""The gateway's config: short forms from the manifest, defaults, and errors that name the field."""

from __future__ import annotations

import pytest

from baton.errors import ConfigError
from baton.gateway.config import RateSpec, extract_gateway_section, load_config, parse_config, parse_size


def test_manifest_route_short_forms_expand():
    config = parse_config(
        {
            "issuers": [{"name": "shop", "issuer": "https://id.shop", "audience": "gateway", "secret": "s" * 32}],
            "routes": [
                {
                    "prefix": "/catalog",
                    "version": "v1",
                    "service": "catalog",
                    "split": {"v1": 90, "v2": 10},
                    "auth": "jwt",
                    "rate_limit": "100/minute",
                    "cache": True,
                    "timeout": "2s",
                    "options": {"quota": {"per_day": 1000}},
                }
            ],
        }
    )
    route = config.routes[0]
    assert route.name == "v1-catalog"
    assert [(b.version, b.weight) for b in route.backends] == [("v1", 90), ("v2", 10)]
    assert route.auth is not None
    assert route.auth.required
    assert route.rate_limit is not None
    assert route.rate_limit.consumer == RateSpec(rate=100 / 60, burst=100, window=60)
    assert route.cache is not None
    assert route.cache.ttl == 30.0
    assert route.timeout == 2.0
    assert route.quota is not None
    assert route.quota.per_day == 1000


@pytest.mark.parametrize(
    ("text", "rate", "burst"),
    [("100/s", 100.0, 100), ("10/s burst 50", 10.0, 50), ("60/minute", 1.0, 60), ("5 per 2s", 2.5, 5)],
)
def test_rate_spec_forms(text, rate, burst):
    spec = RateSpec.parse(text)
    assert spec.rate == pytest.approx(rate)
    assert spec.burst == burst


@pytest.mark.parametrize(("text", "size"), [(1024, 1024), ("64KiB", 65536), ("1MiB", 1048576), ("2kb", 2000)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"routes": [{"prefix": "/x", "service": "a", "weight": 3}]}, "routes[0]"),
        ({"routes": [{"prefix": "x", "service": "a"}]}, "prefix must start"),
        ({"routes": [{"prefix": "/x", "service": "a", "allow": ["not-a-cidr"]}]}, "not-a-cidr"),
        ({"routes": [{"prefix": "/x", "service": "a", "rate_limit": {"ip": "lots"}}]}, "expected a rate"),
        ({"issuers": [{"name": "a", "issuer": "i", "audience": "x", "secret": "s", "leeway": 120}]}, "leeway"),
        ({"issuers": [{"name": "a", "issuer": "i", "audience": "x"}]}, "exactly one of jwks_url"),
        ({"routes": [{"prefix": "/x", "service": "a", "auth": {"issuers": ["nope"]}}]}, "unknown issuers"),
        ({"routes": [{"prefix": "/x", "service": "a"}, {"prefix": "/x", "service": "b"}]}, "unique"),
    ],
)
def test_invalid_config_names_the_problem(mapping, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(mapping)


def test_manifest_sections_are_found(tmp_path):
    manifest = tmp_path / "baton.yaml"
    manifest.write_text(
        "services:\n  hello:\n    module: apps.hello.service:service\n"
        "routes:\n  - prefix: /hello\n    version: v1\n    service: hello\n"
    )
    config = load_config(manifest)
    assert [r.prefix for r in config.routes] == ["/hello"]
    assert extract_gateway_section({"gateway": {"port": 9000}, "routes": [{"prefix": "/a"}]}) == {
        "port": 9000,
        "routes": [{"prefix": "/a"}],
    }


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
