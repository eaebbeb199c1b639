"""A service's content-reading settings: the service's prefix, and the optional client they build."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from baton.content import ContentClient, ContentReaderSettings
from baton.kit import ServiceSettings


class ShopSettings(ServiceSettings, ContentReaderSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")


def test_reader_settings_take_the_service_prefix_and_build_an_optional_client(monkeypatch):
    monkeypatch.setenv("SHOP_CONTENT_TOKEN", "ro-token")
    monkeypatch.setenv("SHOP_CONTENT_TIMEOUT", "0.25")
    monkeypatch.setenv("CONTENT_CACHE_TTL", "999")  # another service's (the hub's) variable: ignored
    settings = ShopSettings()
    client = ContentClient.for_reader(settings)
    assert "ro-token" not in repr(settings)  # a secret
    assert (client.token, client.timeout, client.optional) == ("ro-token", 0.25, True)
    assert client.cache.policy.ttl == 60.0


def test_without_a_token_the_client_reads_as_the_public_role():
    assert ContentClient.for_reader(ShopSettings()).token is None
