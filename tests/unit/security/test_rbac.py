"""Principals, scope and role dependencies, and ownership answering 404 like a missing object."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI

from baton.kit.problems import install_problem_handlers
from baton.security.rbac import (
    Principal,
    current_principal,
    not_found,
    owned_or_404,
    principal_from_claims,
    require_roles,
    require_scopes,
)

ORDERS = {"o-1": "alice", "o-2": "bob"}


def build_app(principal: Principal | None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.middleware("http")
    async def authenticate(request, call_next):
        if principal is not None:
            request.state.principal = principal
        return await call_next(request)

    @app.post("/v1/reservations", dependencies=[Depends(require_scopes("inventory:reserve"))])
    async def reserve() -> dict[str, str]:
        return {"ok": "reserved"}

    @app.delete("/v1/products/1")
    async def delete(who: Principal = Depends(require_roles("admin", "catalog-editor"))) -> dict[str, str]:
        return {"deleted_by": who.subject}

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: str, who: Principal = Depends(current_principal)) -> dict[str, str]:
        owned_or_404(ORDERS.get(order_id), who, resource="order")
        return {"id": order_id}

    return app


async def call(principal: Principal | None, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_app(principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


def test_principal_from_claims_reads_scope_string_scp_list_and_roles():
    a = principal_from_claims({"sub": "order", "scope": "a:read b:write"}, kind="service")
    assert a.scopes == {"a:read", "b:write"}
    assert a.kind == "service"
    b = principal_from_claims({"sub": "u1", "scp": ["x", 3], "roles": ["admin", None]}, kind="user")
    assert b.scopes == {"x"}
    assert b.roles == {"admin"}
    assert b.claims["sub"] == "u1"


@pytest.mark.parametrize(
    ("principal", "status"),
    [
        (None, 401),
        (Principal("order", kind="service"), 403),
        (Principal("order", kind="service", scopes=frozenset({"inventory:read"})), 403),
        (Principal("order", kind="service", scopes=frozenset({"inventory:reserve", "x"})), 200),
    ],
)
async def test_require_scopes(principal, status):
    answer = await call(principal, "POST", "/v1/reservations")
    assert answer.status_code == status
    if status != 200:
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (frozenset(), 403),
        (frozenset({"viewer"}), 403),
        (frozenset({"catalog-editor"}), 200),
        (frozenset({"admin"}), 200),
    ],
)
async def test_require_roles_needs_any_one_of_them(roles, status):
    answer = await call(Principal("u1", roles=roles), "DELETE", "/v1/products/1")
    assert answer.status_code == status


async def test_foreign_object_answers_exactly_like_a_missing_one():
    alice = Principal("alice")
    own = await call(alice, "GET", "/v1/orders/o-1")
    foreign = await call(alice, "GET", "/v1/orders/o-2")
    missing = await call(alice, "GET", "/v1/orders/o-404")
    assert own.status_code == 200
    assert foreign.status_code == missing.status_code == 404

    def strip(body: dict) -> dict:
        return {k: v for k, v in body.items() if k not in ("instance", "correlation_id")}

    assert strip(foreign.json()) == strip(missing.json())
    assert "bob" not in foreign.text


async def test_admin_may_read_foreign_objects_but_never_missing_ones():
    admin = Principal("root", roles=frozenset({"admin"}))
    assert (await call(admin, "GET", "/v1/orders/o-2")).status_code == 200
    assert (await call(admin, "GET", "/v1/orders/o-404")).status_code == 404


def test_owned_or_404_raises_the_same_error_as_not_found():
    with pytest.raises(type(not_found("order"))) as caught:
        owned_or_404("bob", Principal("alice"), resource="order", admin_role=None)
    assert caught.value.message == not_found("order").message
    assert caught.value.status == 404
