"""Every error is RFC 9457 problem+json; an unhandled exception never leaks a traceback."""

from __future__ import annotations

import io

import orjson
import pytest
from fastapi import HTTPException
from pydantic import BaseModel

from baton.errors import CircuitOpen, StoreError
from baton.kit import Service
from baton.telemetry.logging import configure_logging, reset_logging


class Order(BaseModel):
    sku: str
    quantity: int


def _service() -> Service:
    service = Service("problems")

    @service.post("/v1/orders")
    async def create(order: Order) -> Order:
        return order

    @service.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("db password is hunter2")

    @service.get("/v1/open")
    async def open_circuit() -> None:
        raise CircuitOpen("inventory breaker is open")

    @service.get("/v1/store")
    async def store() -> None:
        raise StoreError()

    @service.get("/v1/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="short and stout", headers={"X-Kettle": "on"})

    return service


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging(service="problems", instance="problems-1", stream=stream)
    yield stream
    reset_logging()


def _problem(response):
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert body["correlation_id"] == response.headers["X-Correlation-ID"]
    return body


async def test_unknown_route_is_a_404_problem(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/missing")
    body = _problem(response)
    assert (response.status_code, body["title"], body["instance"]) == (404, "Not Found", "/v1/missing")


async def test_validation_errors_list_each_invalid_field(serving):
    async with serving(_service()) as client:
        response = await client.post("/v1/orders", json={"sku": "A-1", "quantity": "many", "secret": "x"})
        missing = await client.post("/v1/orders", json={})
    body = _problem(response)
    assert response.status_code == 422
    assert body["errors"] == [
        {
            "field": "quantity",
            "location": "body",
            "message": "Input should be a valid integer, unable to parse string as an integer",
            "code": "int_parsing",
        }
    ]
    assert "many" not in response.text  # input values are never echoed
    assert {e["field"] for e in _problem(missing)["errors"]} == {"sku", "quantity"}


async def test_unhandled_exception_is_a_bare_500_and_logged_with_traceback(serving, log_stream):
    async with serving(_service()) as client:
        response = await client.get("/v1/boom", headers={"X-Correlation-ID": "boom-1"})
    body = _problem(response)
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    lines = [orjson.loads(line) for line in log_stream.getvalue().splitlines()]
    errors = [line for line in lines if line["event"] == "unhandled error"]
    assert len(errors) == 1
    assert errors[0]["correlation_id"] == "boom-1" == body["correlation_id"]
    assert "Traceback" in errors[0]["exception"]
    assert "RuntimeError" in errors[0]["exception"]


@pytest.mark.parametrize(
    ("path", "status", "title", "type_"),
    [
        ("/v1/open", 503, "Circuit open", "urn:baton:problem:circuit-open"),
        ("/v1/store", 503, "Database error", "urn:baton:problem:store-error"),
    ],
)
async def test_baton_errors_take_status_and_title_from_their_class(serving, path, status, title, type_):
    async with serving(_service()) as client:
        response = await client.get(path)
    body = _problem(response)
    assert (response.status_code, body["title"], body["type"]) == (status, title, type_)


async def test_retryable_unavailability_advertises_retry_after(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/store")
    assert response.headers["Retry-After"] == "1"


async def test_http_exception_keeps_its_detail_and_headers(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/teapot")
    body = _problem(response)
    assert (response.status_code, body["detail"], response.headers["X-Kettle"]) == (418, "short and stout", "on")
