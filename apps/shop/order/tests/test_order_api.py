"""Carts and orders through the HTTP API (peers are fakes; the saga runs for real on SQLite)."""

from __future__ import annotations

import asyncio

import pytest
from apps.shop.common.testusers import STAFF, USERS
from apps.shop.order.service import service
from order_helpers import as_customer, cart_with, checkout, final_order
from sqlalchemy import func, select

from baton.errors import SecretError
from baton.events.tables import outbox


async def test_a_cart_accumulates_items_priced_from_the_read_model(shop):
    cart_id = await cart_with(shop.http, ("p1", 1), ("p2", 2), ("p1", 2), customer_id="cust-1")
    cart = (await shop.http.get(f"/v1/carts/{cart_id}")).json()
    assert cart["customer_id"] == "cust-1"
    assert cart["status"] == "open"
    assert cart["items"] == [
        {"product_id": "p1", "quantity": 3, "unit_price_cents": 1000},
        {"product_id": "p2", "quantity": 2, "unit_price_cents": 250},
    ]


async def test_checkout_answers_202_with_a_pending_order(shop):
    cart_id = await cart_with(shop.http, ("p1", 2), ("p2", 1))
    accepted = await checkout(shop.http, cart_id)
    order = (await shop.http.get(f"/v1/orders/{accepted.json()['order_id']}")).json()
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "PENDING"
    assert accepted.headers["Location"] == f"/v1/orders/{order['order_id']}"
    assert order["total_cents"] == 2 * 1000 + 250
    assert order["saga"]["id"] == order["order_id"]
    assert "card_token" not in order


async def test_one_idempotency_key_makes_one_order(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    first = await checkout(shop.http, cart_id, key="checkout-1")
    again = await checkout(shop.http, cart_id, key="checkout-1")
    other_body = await shop.http.post(
        "/v1/orders",
        json={"cart_id": cart_id, "email": "bob@example.com", "card_token": "tok_visa"},
        headers={"Idempotency-Key": "checkout-1"},
    )
    await final_order(shop.http, first.json()["order_id"])
    listed = (await shop.http.get("/v1/orders")).json()["items"]
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    assert [o["order_id"] for o in listed] == [first.json()["order_id"]]
    assert shop.payments.calls.count(("authorize", first.json()["order_id"])) == 1


async def test_concurrent_duplicates_with_one_key_make_one_order(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    answers = await asyncio.gather(*(checkout(shop.http, cart_id, key="dup") for _ in range(5)))
    accepted = {a.json()["order_id"] for a in answers if a.status_code == 202}
    assert {a.status_code for a in answers} <= {202, 409}
    assert len(accepted) == 1
    assert len((await shop.http.get("/v1/orders")).json()["items"]) == 1


async def test_a_cart_checks_out_once(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    first = await checkout(shop.http, cart_id)
    second = await checkout(shop.http, cart_id)
    late_add = await shop.http.post(f"/v1/carts/{cart_id}/items", json={"product_id": "p2", "quantity": 1})
    assert first.status_code == 202
    assert second.status_code == late_add.status_code == 409
    assert first.json()["order_id"] in second.json()["detail"]


async def test_an_order_needs_known_prices_and_items(shop):
    empty = await cart_with(shop.http)
    unknown = await cart_with(shop.http, ("mystery", 1))
    no_items = await checkout(shop.http, empty)
    no_price = await checkout(shop.http, unknown)
    assert no_items.status_code == 422
    assert no_price.status_code == 409
    assert "mystery" in no_price.json()["detail"]
    assert (await shop.http.get("/v1/orders")).json()["items"] == []


async def test_card_numbers_are_refused_at_the_edge(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    response = await checkout(shop.http, cart_id, card_token="4111111111111111")
    assert response.status_code == 422
    assert "4111" not in response.text


async def test_orders_list_by_customer_and_status(shop):
    mine = await cart_with(shop.http, ("p1", 1), customer_id="cust-9")
    theirs = await cart_with(shop.http, ("p2", 1), customer_id="cust-8")
    order_id = (await checkout(shop.http, mine, customer_id="cust-9")).json()["order_id"]
    other_id = (await checkout(shop.http, theirs, card_token="tok_decline", customer_id="cust-8")).json()["order_id"]
    staff = USERS.headers("boss", roles=STAFF)
    await final_order(shop.http, order_id, headers=staff)
    await final_order(shop.http, other_id, headers=staff)
    by_customer = (await shop.http.get("/v1/orders", params={"customer_id": "cust-9"}, headers=staff)).json()
    cancelled = (await shop.http.get("/v1/orders", params={"status": "CANCELLED"}, headers=staff)).json()
    # A customer lists their own orders whatever customer_id they ask for.
    own = (await shop.http.get("/v1/orders", params={"customer_id": "cust-8"}, headers=as_customer("cust-9"))).json()
    assert [o["order_id"] for o in by_customer["items"]] == [order_id]
    assert [o["order_id"] for o in cancelled["items"]] == [other_id]
    assert [o["order_id"] for o in own["items"]] == [order_id]


async def test_unknown_cart_and_order_are_404_problems(shop):
    for path in ("/v1/carts/nope", "/v1/orders/nope", "/v1/sagas/nope"):
        response = await shop.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await checkout(shop.http, "nope")).status_code == 404


async def test_placing_an_order_emits_nothing_until_the_saga_decides(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    order_id = (await checkout(shop.http, cart_id)).json()["order_id"]
    await final_order(shop.http, order_id)
    async with service.transaction() as session:
        emitted = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()
    assert emitted == 1  # order.confirmed, nothing at placement


def _same_404(answer, missing) -> None:
    """A foreign object's 404 is a missing one's: only the path (and the request's correlation id) differ."""
    differs = {"instance", "correlation_id"}
    assert answer.status_code == missing.status_code == 404
    assert {k: v for k, v in answer.json().items() if k not in differs} == {
        k: v for k, v in missing.json().items() if k not in differs
    }


async def test_another_customers_cart_and_order_are_missing_to_me(shop):
    theirs = await cart_with(shop.http, ("p1", 1), customer_id="cust-8")
    order_cart = await cart_with(shop.http, ("p1", 1), customer_id="cust-8")
    order_id = (await checkout(shop.http, order_cart, customer_id="cust-8")).json()["order_id"]
    me = as_customer("cust-9")
    item = {"product_id": "p2", "quantity": 1}
    _same_404(await shop.http.get(f"/v1/carts/{theirs}", headers=me), await shop.http.get("/v1/carts/nope", headers=me))
    _same_404(
        await shop.http.post(f"/v1/carts/{theirs}/items", json=item, headers=me),
        await shop.http.post("/v1/carts/nope/items", json=item, headers=me),
    )
    _same_404(
        await shop.http.delete(f"/v1/carts/{theirs}", headers=me),
        await shop.http.delete("/v1/carts/nope", headers=me),
    )
    # Checked out already: still the 404 of a missing cart, not the owner's 409.
    _same_404(await checkout(shop.http, order_cart, customer_id="cust-9"), await checkout(shop.http, "nope"))
    _same_404(
        await shop.http.get(f"/v1/orders/{order_id}", headers=me), await shop.http.get("/v1/orders/nope", headers=me)
    )
    owner = as_customer("cust-8")
    cart = (await shop.http.get(f"/v1/carts/{theirs}", headers=owner)).json()
    assert cart["items"] == [{"product_id": "p1", "quantity": 1, "unit_price_cents": 1000}]  # nothing changed
    assert (await shop.http.delete(f"/v1/carts/{theirs}", headers=owner)).status_code == 204
    assert (await shop.http.get(f"/v1/carts/{theirs}", headers=owner)).status_code == 404


async def test_the_owner_comes_from_the_token_not_the_body(shop):
    cart = await shop.http.post("/v1/carts", json={"customer_id": "someone-else"})
    cart_id = await cart_with(shop.http, ("p1", 1))
    order = await shop.http.post(
        "/v1/orders",
        json={"cart_id": cart_id, "email": "a@example.com", "card_token": "tok_visa", "customer_id": "x"},
    )
    priced = await shop.http.post(f"/v1/carts/{cart_id}/items", json={"product_id": "p1", "quantity": 1, "price": 1})
    assert cart.status_code == order.status_code == priced.status_code == 422
    assert (await shop.http.get(f"/v1/carts/{cart_id}")).json()["customer_id"] == "cust-1"


async def test_carts_and_orders_need_a_valid_access_token(shop):
    anonymous = {"Authorization": ""}
    expired = {"Authorization": f"Bearer {USERS.expired_token('cust-1')}"}
    for headers in (anonymous, expired):
        assert (await shop.http.post("/v1/carts", headers=headers)).status_code == 401
        assert (await shop.http.get("/v1/orders", headers=headers)).status_code == 401


async def test_the_email_is_sealed_at_rest_and_bound_to_its_order(shop):
    from apps.shop.order.models import orders
    from apps.shop.order.service import fields

    first = (await checkout(shop.http, await cart_with(shop.http, ("p1", 1)))).json()["order_id"]
    second = (await checkout(shop.http, await cart_with(shop.http, ("p2", 1)))).json()["order_id"]
    async with service.transaction() as session:
        stored = dict((await session.execute(select(orders.c.order_id, orders.c.email))).tuples().all())
    assert all(value.startswith("enc1:") and "example.com" not in value for value in stored.values())
    assert (await shop.http.get(f"/v1/orders/{first}")).json()["email"] == "ada@example.com"
    # A ciphertext moved to another order does not open there.
    with pytest.raises(SecretError):
        fields.open(stored[first], context=f"order.email:{second}")


async def test_a_customer_reads_the_payments_of_their_own_orders_only(shop, monkeypatch):
    from apps.shop.order import wiring

    asked: list[dict] = []

    class Payments:
        async def get_json(self, path: str, *, params: dict) -> dict:
            asked.append(params)
            return {
                "items": [
                    {
                        "payment_id": "pay-1",
                        "order_id": params["order_id"],
                        "status": "captured",
                        "amount_cents": 1000,
                        "currency": "EUR",
                        "decline_reason": None,
                        "created_at": 1.0,
                        "updated_at": 2.0,
                        "card_token": "tok_visa",
                    }
                ]
            }

    monkeypatch.setattr(wiring, "clients", {"payment": Payments()})
    order_id = (await checkout(shop.http, await cart_with(shop.http, ("p1", 1)))).json()["order_id"]
    mine = await shop.http.get(f"/v1/orders/{order_id}/payments")
    theirs = await shop.http.get(f"/v1/orders/{order_id}/payments", headers=as_customer("cust-8"))
    missing = await shop.http.get("/v1/orders/nope/payments", headers=as_customer("cust-8"))
    assert mine.json()["items"][0]["status"] == "captured"
    assert "card_token" not in mine.text
    _same_404(theirs, missing)
    assert asked == [{"order_id": order_id, "limit": "100"}]  # payment never asked about a foreign order
