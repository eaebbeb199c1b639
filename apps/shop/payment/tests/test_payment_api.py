"""The payment provider simulator through its HTTP API, on a real SQLite database."""

from __future__ import annotations

import asyncio
import time

import pytest
from apps.shop.payment.service import issuer_decision


def _authorize(payment_id="pay-1", **overrides):
    body = {
        "payment_id": payment_id,
        "order_id": "order-1",
        "amount_cents": 2500,
        "currency": "EUR",
        "card_token": "tok_visa",
    }
    return {**body, **overrides}


async def test_authorize_capture_refund(client):
    authorized = await client.post("/v1/payments/authorize", json=_authorize())
    captured = await client.post("/v1/payments/pay-1/capture")
    refunded = await client.post("/v1/payments/pay-1/refund")
    assert authorized.status_code == 201
    assert authorized.json()["status"] == "authorized"
    assert captured.json()["status"] == "captured"
    assert refunded.json()["status"] == "refunded"
    assert (await client.get("/v1/payments/pay-1")).json()["amount_cents"] == 2500


async def test_every_operation_replays_instead_of_repeating(client):
    first = await client.post("/v1/payments/authorize", json=_authorize())
    again = await client.post("/v1/payments/authorize", json=_authorize())
    capture_1 = await client.post("/v1/payments/pay-1/capture")
    capture_2 = await client.post("/v1/payments/pay-1/capture")
    refund_1 = await client.post("/v1/payments/pay-1/refund")
    refund_2 = await client.post("/v1/payments/pay-1/refund")
    capture_3 = await client.post("/v1/payments/pay-1/capture")  # the capture did happen: still a success
    assert first.status_code == again.status_code == 201
    assert first.json()["payment_id"] == again.json()["payment_id"]
    assert (capture_1.status_code, capture_2.status_code, capture_3.status_code) == (200, 200, 200)
    assert refund_1.json() == refund_2.json()
    assert capture_3.json()["status"] == "refunded"
    listed = await client.get("/v1/payments", params={"order_id": "order-1"})
    assert len(listed.json()["items"]) == 1


@pytest.mark.parametrize(
    ("setup", "operation"),
    [
        (["void"], "capture"),
        (["void"], "refund"),
        (["capture"], "void"),
        ([], "refund"),
        (["capture", "refund"], "void"),
    ],
)
async def test_invalid_transitions_are_409_problems(client, setup, operation):
    await client.post("/v1/payments/authorize", json=_authorize())
    for step in setup:
        assert (await client.post(f"/v1/payments/pay-1/{step}")).status_code == 200
    before = (await client.get("/v1/payments/pay-1")).json()["status"]
    response = await client.post(f"/v1/payments/pay-1/{operation}")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/payments/pay-1")).json()["status"] == before


async def test_decline_token_is_recorded_and_replayed_as_402(client):
    first = await client.post("/v1/payments/authorize", json=_authorize(card_token="tok_decline"))
    again = await client.post("/v1/payments/authorize", json=_authorize(card_token="tok_decline"))
    capture = await client.post("/v1/payments/pay-1/capture")
    assert first.status_code == again.status_code == 402
    assert first.json()["payment_id"] == "pay-1"
    assert (await client.get("/v1/payments/pay-1")).json()["status"] == "declined"
    assert capture.status_code == 409


async def test_failure_rate_declines_deterministically(tmp_path, payment_env, client):
    payment_env(failure_rate=0.5)
    ids = [f"pay-{n}" for n in range(40)]
    answers = {}
    for payment_id in ids:
        response = await client.post("/v1/payments/authorize", json=_authorize(payment_id))
        answers[payment_id] = response.status_code
    retried = {pid: (await client.post("/v1/payments/authorize", json=_authorize(pid))).status_code for pid in ids}
    expected = {pid: 402 if issuer_decision(pid, "tok_visa", failure_rate=0.5) else 201 for pid in ids}
    assert answers == retried == expected
    assert 5 < list(answers.values()).count(402) < 35


async def test_unknown_payments_are_404_but_a_void_is_remembered(client):
    assert (await client.post("/v1/payments/nope/capture")).status_code == 404
    assert (await client.get("/v1/payments/nope")).status_code == 404
    voided = await client.post("/v1/payments/late/void")
    late_authorize = await client.post("/v1/payments/authorize", json=_authorize("late"))
    assert voided.json()["status"] == "voided"
    assert late_authorize.status_code == 409
    assert (await client.get("/v1/payments/late")).json()["amount_cents"] is None


async def test_reusing_a_payment_id_with_other_details_is_422(client):
    await client.post("/v1/payments/authorize", json=_authorize())
    response = await client.post("/v1/payments/authorize", json=_authorize(amount_cents=9999))
    assert response.status_code == 422
    assert (await client.get("/v1/payments/pay-1")).json()["amount_cents"] == 2500


@pytest.mark.parametrize(
    "body",
    [
        _authorize(card_token="4111111111111111"),
        _authorize(card_token="tok_4111111111111111"),
        {**_authorize(), "card_number": "4111 1111 1111 1111"},
        _authorize(order_id="4111111111111111"),
    ],
)
async def test_card_numbers_are_refused_and_never_stored(client, body):
    response = await client.post("/v1/payments/authorize", json=body)
    listed = await client.get("/v1/payments")
    assert response.status_code == 422
    assert "4111" not in response.text
    assert listed.json()["items"] == []


async def test_concurrent_duplicate_authorizes_make_one_payment(client):
    answers = await asyncio.gather(*(client.post("/v1/payments/authorize", json=_authorize()) for _ in range(8)))
    assert {a.status_code for a in answers} == {201}
    assert len((await client.get("/v1/payments")).json()["items"]) == 1


async def test_latency_setting_slows_each_operation(payment_env, client):
    payment_env(latency_ms=120)
    started = time.perf_counter()
    response = await client.post("/v1/payments/authorize", json=_authorize())
    assert response.status_code == 201
    assert time.perf_counter() - started >= 0.12


async def test_listing_pages_by_payment_id(client):
    for n in range(5):
        await client.post("/v1/payments/authorize", json=_authorize(f"pay-{n}", order_id=f"order-{n}"))
    first = (await client.get("/v1/payments", params={"limit": 3})).json()
    rest = (await client.get("/v1/payments", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [p["payment_id"] for p in first["items"] + rest["items"]] == [f"pay-{n}" for n in range(5)]
    assert rest["next_cursor"] is None
