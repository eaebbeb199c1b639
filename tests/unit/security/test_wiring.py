"""``InstanceSecurity.from_env``: what ``BATON_TLS_DIR`` switches on, and clear errors when it is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import ConfigError
from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls import Credentials, SpiffeAuthorization
from baton.security.spiffe import spiffe_id
from baton.security.wiring import InstanceSecurity, allow_from_env


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    ca = CertificateAuthority.open(tmp_path / "home", keyring=Keyring(MasterKey.generate()))
    directory = tmp_path / "certs" / "inventory-1"
    Credentials(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle()).write(directory)
    return directory


def env(tls_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "BATON_TLS_DIR": str(tls_dir),
        "BATON_SERVICE": "inventory",
        "BATON_INSTANCE": "inventory-1",
        "BATON_CONTROL_URL": "http://127.0.0.1:7700",
        "BATON_CONTROL_TLS_URL": "https://127.0.0.1:7701",
        **extra,
    }


def test_nothing_without_the_variable() -> None:
    assert InstanceSecurity.from_env({"BATON_SERVICE": "inventory"}) is None


def test_contexts_share_one_renewer_and_are_built_once(tls_dir: Path) -> None:
    security = InstanceSecurity.from_env(env(tls_dir, BATON_ALLOW='{"/v1/reservations": ["order"]}'))
    assert security is not None
    assert security.identity == spiffe_id("inventory")
    assert security.client_context("order") is security.client_context("order")
    assert security.client_context("order") is not security.client_context("payment")
    assert security.server_context() is security.server_context()
    # control (renewals, tokens), order, payment, the listener: every one hot-swaps with the next leaf
    assert len(security.renewer._contexts) == 4
    assert security.allow == {"/v1/reservations": ["order"]}
    protected = security.protect(lambda scope, receive, send: None)  # type: ignore[arg-type,return-value]
    assert isinstance(protected, SpiffeAuthorization)
    rules = protected.rules
    assert rules.allowed("/v1/reservations/r-1", spiffe_id("order"))
    assert not rules.allowed("/v1/reservations/r-1", spiffe_id("gateway"))
    assert rules.allowed("/v1/reservations", spiffe_id("control"))  # the control plane, always
    assert rules.allowed("/v1/stock/p-1", spiffe_id("gateway"))  # unlisted: any service of the system


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BATON_SERVICE": ""}, "BATON_SERVICE"),
        ({"BATON_CONTROL_TLS_URL": ""}, "BATON_CONTROL_TLS_URL"),
        ({"BATON_TLS_DIR": "/nonexistent/certs"}, "no usable TLS credentials"),
        ({"BATON_ALLOW": '["order"]'}, "BATON_ALLOW must be JSON"),
    ],
)
def test_unusable_settings_are_a_config_error(tls_dir: Path, change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        InstanceSecurity.from_env(env(tls_dir, **change))


def test_allow_rules_parse() -> None:
    assert allow_from_env({}) is None
    assert allow_from_env({"BATON_ALLOW": '{"/v1/stock": ["order", "*"]}'}) == {"/v1/stock": ["order", "*"]}
    with pytest.raises(ConfigError):
        allow_from_env({"BATON_ALLOW": '{"/v1/stock": "order"}'})
