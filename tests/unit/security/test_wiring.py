"""``InstanceSecurity.from_env``: what ``BATON_TLS_DIR`` switches on, and clear errors when it is unusable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from baton.errors import ConfigError
from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls import Credentials, SpiffeAuthorization
from baton.security.spiffe import spiffe_id
from baton.security.tokens import ServiceTokenAuth, StaticJwksFetcher, TokenIssuer, TokenVerifier
from baton.security.wiring import TOKEN_HEADER, InstanceSecurity, allow_from_env


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


def _token_app(tmp_path: Path, **options: object) -> tuple[TokenIssuer, httpx.AsyncClient]:
    issuer = TokenIssuer.open(tmp_path, issuer="http://control.test", keyring=Keyring(MasterKey.generate()))
    verifier = TokenVerifier("http://control.test", StaticJwksFetcher(issuer.jwks), "inventory")

    async def who(request: Request) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        return JSONResponse({"subject": principal.subject if principal else None})

    app = ServiceTokenAuth(Starlette(routes=[Route("/v1/stock", who)]), verifier, **options)  # type: ignore[arg-type]
    return issuer, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inventory")


async def test_service_tokens_travel_beside_the_users_authorization(tmp_path: Path) -> None:
    issuer, http = _token_app(tmp_path)
    token = issuer.issue(sub="order", aud="inventory")
    async with http:
        ok = await http.get("/v1/stock", headers={TOKEN_HEADER: token, "Authorization": "Bearer user-token"})
        in_authorization = await http.get("/v1/stock", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.json() == {"subject": "order"}
    assert in_authorization.status_code == 401  # the user's header is never read as a service token
    assert TOKEN_HEADER in in_authorization.json()["detail"]


async def test_the_bearer_mode_is_still_there(tmp_path: Path) -> None:
    issuer, http = _token_app(tmp_path / "bearer", header="Authorization")
    async with http:
        answer = await http.get(
            "/v1/stock", headers={"Authorization": f"Bearer {issuer.issue(sub='order', aud='inventory')}"}
        )
    assert answer.json() == {"subject": "order"}
