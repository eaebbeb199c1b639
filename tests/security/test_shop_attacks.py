"""Attacks on the shop's user side, against a real shop (control plane, NATS, every service but analytics, the
gateway, as processes): each expects the right status and nothing leaked.

The requests go straight to the services (over their mutual TLS, as an operator would reach them): every check
here is made by the service itself, whatever the gateway in front of it does.

Cross-customer access to carts and orders (read, update, delete) is the 404 of a missing object; a customer on
staff and control-plane routes is refused; mass assignment is 422 with nothing changed; a replayed refresh token
revokes its family; a login brute force is locked out; forged user tokens (``alg: none``, HS256 keyed with the
public key, expired, not yet valid, wrong audience or issuer, injected ``kid``/``jku``, unknown ``crit``) are 401
at the service. Last, no token or password of the run appears in any instance's log.

The forged tokens that need a correct signature (expired, wrong audience...) are signed with identity's real
key, read from its sealed key file as an insider would (the shop runs in dev mode, the sealing key beside it):
so each of them fails for its one wrong claim only — and a control token made the same way is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from apps.shop.common.shopper import Shopper
from apps.shop.common.system import ShopSystem
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from baton.cli.demo import DEMO_STAFF_PASSWORD
from baton.gateway.config import load_config
from baton.security.crypto import load_keyring
from baton.security.tokens.keys import SigningKey, b64url, load_keys, public_jwk

from .conftest import Recorder, serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PASSWORD = f"attack-suite-{uuid.uuid4().hex[:8]}"
SECRETS: set[str] = {PASSWORD, DEMO_STAFF_PASSWORD}
"""Every password, access and refresh token of the run: none may appear in a log."""
ISSUER, AUDIENCE = "https://identity.shop", "shop"
SHOP_MANIFEST = Path(__file__).resolve().parents[2] / "apps" / "shop" / "baton.yaml"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopSystem]:
    """A lighter shop: what carts, orders, prices, stock and logins need (one order replica)."""
    with ShopSystem(
        tmp_path_factory.mktemp("attacks"),
        without=("analytics",),
        replicas={"order": 1},
        env={"identity": {"IDENTITY_LOGIN_MAX_FAILURES": "5"}},
    ) as system:
        yield system


@pytest.fixture
async def http(shop: ShopSystem) -> AsyncIterator[httpx.AsyncClient]:
    """A client that reaches the instances: an operator's certificate and service tokens (no user token)."""
    async with shop.async_client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def urls(shop: ShopSystem) -> dict[str, str]:
    return {s: shop.url(s) for s in ("identity", "order", "catalog", "inventory")}


async def _customer(http: httpx.AsyncClient, shop: ShopSystem, name: str) -> Shopper:
    urls = {s: shop.url(s) for s in ("identity", "order", "catalog", "inventory")}
    shopper = await Shopper(http, services=urls).register(f"{name}-{uuid.uuid4().hex[:8]}@attack.test", PASSWORD)
    SECRETS.update({str(shopper.access_token), str(shopper.refresh_token)})
    return shopper


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _without_request_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A problem body less what names the request itself (its path and correlation id)."""
    return {k: v for k, v in body.items() if k not in {"instance", "correlation_id"}}


async def _same_as_missing(foreign: httpx.Response, missing: httpx.Response) -> None:
    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert _without_request_fields(foreign.json()) == _without_request_fields(missing.json())


# -- ownership ---------------------------------------------------------------------------------------------------


async def test_another_customers_cart_and_order_answer_like_missing_ones(shop, http, urls):
    ada, eve = await _customer(http, shop, "ada"), await _customer(http, shop, "eve")
    cart = await ada.open_cart()
    await ada.add_item(cart, "p-espresso", 1)
    ordered_cart = await ada.open_cart()
    await ada.add_item(ordered_cart, "p-mug", 1)
    order_id = await ada.checkout(ordered_cart, email="ada@attack.test")
    order, as_eve = urls["order"], _bearer(str(eve.access_token))
    missing = uuid.uuid4().hex
    item = {"product_id": "p-filters", "quantity": 5}

    await _same_as_missing(
        await http.get(f"{order}/v1/carts/{cart}", headers=as_eve),
        await http.get(f"{order}/v1/carts/{missing}", headers=as_eve),
    )
    await _same_as_missing(
        await http.post(f"{order}/v1/carts/{cart}/items", json=item, headers=as_eve),
        await http.post(f"{order}/v1/carts/{missing}/items", json=item, headers=as_eve),
    )
    await _same_as_missing(
        await http.delete(f"{order}/v1/carts/{cart}", headers=as_eve),
        await http.delete(f"{order}/v1/carts/{missing}", headers=as_eve),
    )
    order_body = {"email": "eve@attack.test", "card_token": "tok_visa"}
    await _same_as_missing(
        await http.post(f"{order}/v1/orders", json={**order_body, "cart_id": cart}, headers=as_eve),
        await http.post(f"{order}/v1/orders", json={**order_body, "cart_id": missing}, headers=as_eve),
    )
    await _same_as_missing(
        await http.get(f"{order}/v1/orders/{order_id}", headers=as_eve),
        await http.get(f"{order}/v1/orders/{missing}", headers=as_eve),
    )
    # Eve's order list is hers only, whichever customer she names.
    listed = await http.get(f"{order}/v1/orders", params={"customer_id": ada.user_id}, headers=as_eve)
    assert listed.json()["items"] == []
    # Nothing changed for Ada.
    assert [i["product_id"] for i in (await ada.call("order", "GET", f"/v1/carts/{cart}"))["items"]] == ["p-espresso"]
    assert (await ada.order(order_id))["customer_id"] == ada.user_id


async def test_a_customer_sees_the_payments_of_their_own_orders_only(shop, http, urls):
    ada, eve = await _customer(http, shop, "ada"), await _customer(http, shop, "eve")
    cart = await ada.open_cart()
    await ada.add_item(cart, "p-filters", 1)
    order_id = await ada.checkout(cart, email="ada@attack.test")
    await ada.wait_final(order_id, timeout=60)
    mine = await ada.call("order", "GET", f"/v1/orders/{order_id}/payments")
    as_eve = _bearer(str(eve.access_token))
    await _same_as_missing(
        await http.get(f"{urls['order']}/v1/orders/{order_id}/payments", headers=as_eve),
        await http.get(f"{urls['order']}/v1/orders/{uuid.uuid4().hex}/payments", headers=as_eve),
    )
    assert [p["status"] for p in mine["items"]] in (["captured"], ["declined"], ["voided"], ["refunded"])
    assert "tok_" not in json.dumps(mine)


async def test_payments_are_not_reachable_by_customers(shop, http):
    eve = await _customer(http, shop, "eve")
    async with httpx.AsyncClient(timeout=10) as anyone:
        public = await anyone.get(f"{shop.gateway_url}/v1/payments", headers=_bearer(str(eve.access_token)))
        assert public.status_code == 404  # no public route: a customer sees a payment as their order's status
        with pytest.raises(httpx.HTTPError):
            # The instance serves mutual TLS: without a Baton client certificate there is no connection at all.
            await anyone.get(shop.url("payment") + "/v1/payments", headers=_bearer(str(eve.access_token)))


# -- roles -------------------------------------------------------------------------------------------------------


async def test_a_customer_is_refused_staff_and_control_plane_routes(shop, http, urls):
    eve = await _customer(http, shop, "eve")
    as_eve = _bearer(str(eve.access_token))
    before = await eve.price("p-moka-pot")
    price = await http.put(f"{urls['catalog']}/v1/products/p-moka-pot/price", json={"price_cents": 1}, headers=as_eve)
    spoofed = await http.put(
        f"{urls['catalog']}/v1/products/p-moka-pot/price",
        json={"price_cents": 1},
        headers={**as_eve, "X-Baton-Role": "staff", "X-Baton-Roles": "admin"},
    )
    stock = await http.put(f"{urls['inventory']}/v1/stock/p-moka-pot", json={"on_hand": 0}, headers=as_eve)
    assert price.status_code == spoofed.status_code == stock.status_code == 403
    assert (await eve.price("p-moka-pot"))["price_cents"] == before["price_cents"]
    # The control plane, as a customer reaches it: no operator certificate, the customer's access token.
    token_request = {"subject": "order", "audience": "payment"}
    async with httpx.AsyncClient(timeout=10) as anyone:
        for method, path, body in (
            ("GET", "/v1/instances", None),
            ("GET", "/v1/system", None),
            ("POST", "/v1/tokens", token_request),
            ("POST", "/v1/services/order/restart", None),
        ):
            answer = await anyone.request(method, f"{shop.control_url}{path}", headers=as_eve, json=body)
            assert answer.status_code in (401, 403), (path, answer.status_code)


# -- mass assignment ---------------------------------------------------------------------------------------------


async def test_mass_assignment_is_refused_and_changes_nothing(shop, http, urls):
    eve = await _customer(http, shop, "eve")
    order, as_eve = urls["order"], _bearer(str(eve.access_token))
    email = f"mallory-{uuid.uuid4().hex[:6]}@attack.test"
    role = await http.post(
        f"{urls['identity']}/v1/users",
        json={"email": email, "password": PASSWORD, "name": "M", "roles": ["admin"], "role": "admin"},
    )
    cart = await eve.open_cart()
    owner = await http.post(f"{order}/v1/carts", json={"customer_id": "someone-else"}, headers=as_eve)
    price = await http.post(
        f"{order}/v1/carts/{cart}/items",
        json={"product_id": "p-mug", "quantity": 1, "unit_price_cents": 1},
        headers=as_eve,
    )
    await eve.add_item(cart, "p-mug", 1)
    status = await http.post(
        f"{order}/v1/orders",
        json={"cart_id": cart, "email": "e@attack.test", "card_token": "tok_visa", "status": "CONFIRMED"},
        headers=as_eve,
    )
    assert role.status_code == owner.status_code == price.status_code == status.status_code == 422
    # Nothing changed: no account for the refused sign-up, the cart still open and holding one mug at the
    # catalog's price.
    login = await http.post(f"{urls['identity']}/v1/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401
    now = await eve.call("order", "GET", f"/v1/carts/{cart}")
    assert now["status"] == "open"
    assert now["items"] == [
        {"product_id": "p-mug", "quantity": 1, "unit_price_cents": (await eve.price("p-mug"))["price_cents"]}
    ]


# -- sessions ----------------------------------------------------------------------------------------------------


async def test_a_replayed_refresh_token_revokes_its_family(shop, http, urls):
    ada = await _customer(http, shop, "ada")
    stolen = str(ada.refresh_token)
    await ada.refresh()  # the user moves on; the thief holds the used token
    fresh = str(ada.refresh_token)
    SECRETS.update({fresh, str(ada.access_token)})
    replay = await http.post(f"{urls['identity']}/v1/refresh", json={"refresh_token": stolen})
    after = await http.post(f"{urls['identity']}/v1/refresh", json={"refresh_token": fresh})
    assert replay.status_code == 401
    assert after.status_code == 401  # the family is revoked: the user's newer token is dead too
    logout_target = await _customer(http, shop, "bob")
    await logout_target.log_out()


async def test_login_brute_force_is_locked_out_even_for_the_right_password(shop, http, urls):
    ada = await _customer(http, shop, "victim")
    me = await ada.call("identity", "GET", "/v1/me")
    statuses = []
    for attempt in range(6):
        answer = await http.post(
            f"{urls['identity']}/v1/login", json={"email": me["email"], "password": f"guess-{attempt}"}
        )
        statuses.append(answer.status_code)
    right = await http.post(f"{urls['identity']}/v1/login", json={"email": me["email"], "password": PASSWORD})
    nobody = [
        (await http.post(f"{urls['identity']}/v1/login", json={"email": "ghost@attack.test", "password": f"g{i}"}))
        for i in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429  # before the 6th password is even checked
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert nobody[5].status_code == 429
    assert _without_request_fields(nobody[5].json()) == _without_request_fields(right.json())


# -- forged user tokens ------------------------------------------------------------------------------------------


def _identity_key(shop: ShopSystem) -> SigningKey:
    """Identity's active signing key, from its sealed key file (dev mode: the sealing key sits beside it)."""
    [path] = list(shop.root.glob("**/identity-keys/tokens/signing-keys.json"))
    keyring, _ = load_keyring(path.parents[1], environ={})
    return load_keys(path, keyring)[1]


def _claims(subject: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "roles": ["customer", "staff", "admin"],
        "scope": "orders:read orders:write catalog:write stock:write staff admin",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _raw(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(sign(f'{head}.{body}'.encode()))}"


async def test_forged_user_tokens_are_401_at_the_service(shop, http, urls):
    key = _identity_key(shop)
    jwk = key.jwk
    attacker = Ed25519PrivateKey.generate()
    recorder = Recorder({"keys": [public_jwk(attacker.public_key())]})
    url = f"{urls['order']}/v1/orders"

    def signed(claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid, **header})

    # Control: the real key with correct claims gets in, so each refusal below is about its one defect.
    control = await http.get(url, headers=_bearer(signed(_claims("insider"))))
    assert control.status_code == 200, control.text

    async with serving(recorder) as attacker_url:
        attacker_jwk = public_jwk(attacker.public_key())
        forged = {
            "alg none": _raw({"alg": "none", "kid": key.kid}, _claims("x"), lambda _: b""),
            "alg none, no kid": _raw({"alg": "none"}, _claims("x"), lambda _: b""),
            "HS256 keyed with the public JWK": _raw(
                {"alg": "HS256", "kid": key.kid},
                _claims("x"),
                lambda m: hmac.new(json.dumps(jwk).encode(), m, hashlib.sha256).digest(),
            ),
            "HS256 keyed with the raw public key": _raw(
                {"alg": "HS256", "kid": key.kid},
                _claims("x"),
                lambda m: hmac.new(base64.urlsafe_b64decode(jwk["x"] + "=="), m, hashlib.sha256).digest(),
            ),
            "expired": signed(_claims("x", iat=int(time.time()) - 1200, nbf=None, exp=int(time.time()) - 600)),
            "not yet valid": signed(_claims("x", nbf=int(time.time()) + 600, exp=int(time.time()) + 900)),
            "lives longer than 15 min": signed(_claims("x", exp=int(time.time()) + 7200)),
            "wrong audience": signed(_claims("x", aud="catalog")),
            "audience list smuggling": signed(_claims("x", aud=["evil", AUDIENCE])),
            "wrong issuer": signed(_claims("x", iss="https://evil.example")),
            "issuer prefix match": signed(_claims("x", iss=ISSUER + ".evil.example")),
            "no sub": signed(_claims("x", sub=None)),
            "unknown crit": signed(_claims("x"), crit=["exp"]),
            "injected kid path": jwt.encode(
                _claims("x"), attacker, algorithm="EdDSA", headers={"kid": "../../../../dev/null"}
            ),
            "kid + jku to the attacker": jwt.encode(
                _claims("x"),
                attacker,
                algorithm="EdDSA",
                headers={"kid": attacker_jwk["kid"], "jku": f"{attacker_url}/jwks.json"},
            ),
            "x5u to the attacker": jwt.encode(
                _claims("x"),
                attacker,
                algorithm="EdDSA",
                headers={"kid": attacker_jwk["kid"], "x5u": f"{attacker_url}/cert.pem"},
            ),
            "embedded jwk": jwt.encode(
                _claims("x"), attacker, algorithm="EdDSA", headers={"kid": key.kid, "jwk": attacker_jwk}
            ),
        }
        for name, token in forged.items():
            answer = await http.get(url, headers=_bearer(token))
            assert answer.status_code == 401, (name, answer.status_code, answer.text)
            assert token not in answer.text
        assert recorder.requests == []  # no key URL from a token was ever fetched


async def test_through_the_gateway_the_same_answers(shop, http):
    ada, eve = await _customer(http, shop, "ada"), await _customer(http, shop, "eve")
    cart = await ada.open_cart()
    as_eve = _bearer(str(eve.access_token))
    async with httpx.AsyncClient(base_url=shop.gateway_url, timeout=30) as public:
        await _same_as_missing(
            await public.get(f"/v1/carts/{cart}", headers=as_eve),
            await public.get(f"/v1/carts/{uuid.uuid4().hex}", headers=as_eve),
        )
        price = await public.put("/v1/products/p-mug/price", json={"price_cents": 1}, headers=as_eve)
        anonymous = await public.post("/v1/carts", json={})
        assert price.status_code == 403
        assert anonymous.status_code == 401
        assert (await public.get(f"/v1/carts/{cart}", headers=_bearer(str(ada.access_token)))).status_code == 200


async def test_the_gateway_verifies_user_tokens_before_any_upstream(shop, http):
    """``auth: jwt`` routes: identity's keys found through discovery (``baton://identity/...``, over mTLS)."""
    ada = await _customer(http, shop, "gw-ada")
    key = _identity_key(shop)
    attacker = Ed25519PrivateKey.generate()
    forged = {
        "none": None,
        "signed by another key under identity's kid": jwt.encode(
            _claims("gw-mallory"), attacker, algorithm="EdDSA", headers={"kid": key.kid}
        ),
        "alg none": _raw({"alg": "none", "kid": key.kid}, _claims("gw-mallory"), lambda _: b""),
        "identity's key, wrong audience": jwt.encode(
            _claims("gw-mallory", aud="catalog"), key.private, algorithm="EdDSA", headers={"kid": key.kid}
        ),
    }
    async with httpx.AsyncClient(base_url=shop.gateway_url, timeout=30) as public:
        # The staff-only notification log as well: no valid token, no upstream (analytics' routes: see below).
        for route in ("/v1/orders", "/v1/me", "/v1/notifications"):
            for name, token in forged.items():
                answer = await public.get(route, headers=_bearer(token) if token else {})
                assert answer.status_code == 401, (route, name, answer.text)
                assert answer.headers["content-type"].startswith("application/problem+json")
                # The gateway's challenge (RFC 6750): the upstream was never asked.
                assert answer.headers["www-authenticate"].startswith('Bearer realm="baton"'), (route, name)
        cart = await public.post("/v1/carts", json={})
        assert cart.status_code == 401
        assert "www-authenticate" in cart.headers
        # A valid token passes to the services, which check it (and ownership) again.
        mine = await public.get("/v1/orders", headers=_bearer(str(ada.access_token)))
        me = await public.get("/v1/me", headers=_bearer(str(ada.access_token)))
        assert mine.status_code == 200, mine.text
        assert me.status_code == 200, me.text
        # ... and the services still decide: the notification log is staff's, never a customer's.
        log = await public.get("/v1/notifications", headers=_bearer(str(ada.access_token)))
        assert log.status_code == 403, log.text
        # Browsing and logging in stay anonymous.
        assert (await public.get("/v1/products")).status_code == 200
        wrong = await public.post("/v1/login", json={"email": "nobody@attack.test", "password": "not-it"})
        assert wrong.status_code == 401
        assert 'realm="baton"' not in wrong.headers.get("www-authenticate", "")  # identity's own answer


def test_every_public_route_to_a_user_only_service_needs_a_user_token_at_the_gateway():
    """The manifest's ``auth: jwt`` routes: the services behind them require a user's token on every path they
    expose (``require_scope``/``current_user`` in their api.py; this module's shop runs without analytics, so its
    /sales and /loyalty are pinned here rather than called)."""
    routes = load_config(SHOP_MANIFEST).routes
    guarded = {route.prefix for route in routes if route.auth is not None and route.auth.required and route.auth.jwt}
    assert guarded == {"/carts", "/orders", "/me", "/notifications", "/messages", "/sales", "/loyalty"}


# -- nothing leaked ----------------------------------------------------------------------------------------------


async def test_no_password_or_token_of_the_run_is_in_any_log_trace_or_metric(shop, http, urls):
    # Its own traffic too (through the gateway: its access log is checked as well), when it runs alone.
    async with httpx.AsyncClient(timeout=30) as plain:
        email = f"logs-{uuid.uuid4().hex[:8]}@a.test"  # personal data: in no log either
        own = await Shopper(plain, gateway=shop.gateway_url).register(email, PASSWORD)
        SECRETS.update({str(own.access_token), str(own.refresh_token)})
        await own.refresh()
        await own.open_cart()
        SECRETS.update({str(own.access_token), str(own.refresh_token)})
        await own.log_out()
    secrets = {s for s in SECRETS if s and s != "None"}
    assert len(secrets) >= 5
    logs = await asyncio.to_thread(_logs, Path(shop.home.root))
    assert logs, "the instances wrote no logs"
    for name, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"{name} holds a secret of the run"
        assert email not in text, f"{name} holds a customer's e-mail address"
    # Nor in the traces the control plane collected, nor in any service's metrics.
    listed = {
        t["trace_id"]
        for service in ("identity", "order", "catalog", "inventory", "gateway")
        for t in await asyncio.to_thread(shop.get, f"/v1/telemetry/traces?service={service}&limit=100")
    }
    traces = [await asyncio.to_thread(shop.get, f"/v1/telemetry/traces/{trace_id}") for trace_id in listed]
    print(f"checked {len(logs)} logs, {len(traces)} stored traces, {len(urls)} services' metrics")
    metrics = [(await http.get(f"{url}/metrics")).text for url in urls.values()]
    assert all("# TYPE" in m for m in metrics)
    for secret in secrets:
        assert secret not in json.dumps(traces), "a trace holds a secret of the run"
        assert not any(secret in m for m in metrics), "metrics hold a secret of the run"


def _logs(root: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in root.rglob("*.log") if p.is_file()}
