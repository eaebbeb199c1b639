"""Deadline maths, scopes and the ASGI middleware."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from baton.errors import DeadlineExceeded
from baton.resilience import deadline
from baton.resilience.deadline import DeadlineMiddleware, deadline_scope, header_value, parse_header, remaining


@pytest.mark.parametrize(
    ("seconds", "header"), [(1.5, "1500"), (0.0004, "0"), (-2.0, "0"), (0.25, "250"), (30, "30000")]
)
def test_header_value_is_whole_non_negative_milliseconds(seconds, header) -> None:
    assert header_value(seconds) == header


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("1500", 1.5), (b"250", 0.25), ("0", 0.0), ("-5", 0.0), ("12.5", 0.0125), ("soon", None), (None, None),
     ("nan", None)],
)  # fmt: skip
def test_parse_header(raw, seconds) -> None:
    assert parse_header(raw) == seconds


def test_scopes_only_ever_shrink() -> None:
    assert remaining() is None
    with deadline_scope(10.0):
        outer = remaining()
        assert outer is not None
        assert 9.9 < outer <= 10.0
        with deadline_scope(60.0):  # asks for more than the caller has: keeps the caller's
            inner = remaining()
            assert inner is not None
            assert inner <= outer
        with deadline_scope(1.0):
            inner = remaining()
            assert inner is not None
            assert inner <= 1.0
        with deadline_scope(None):
            assert remaining() is not None
    assert remaining() is None


def test_check_raises_when_spent() -> None:
    with deadline_scope(0.0), pytest.raises(DeadlineExceeded):
        deadline.check()
    deadline.check()  # no deadline: fine


async def _app(scope, receive, send):
    if scope["path"] == "/slow":
        await asyncio.sleep(5)
    left = remaining()
    body = b"none" if left is None else str(round(left * 1000)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def _call(path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=DeadlineMiddleware(_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get(path, headers=headers)


async def test_middleware_sets_the_deadline_for_the_handler() -> None:
    response = await _call("/", {"X-Request-Deadline": "800"})
    assert response.status_code == 200
    assert 700 <= int(response.text) <= 800


async def test_middleware_without_header_sets_nothing() -> None:
    assert (await _call("/", {})).text == "none"


async def test_middleware_answers_504_when_already_spent() -> None:
    response = await _call("/", {"X-Request-Deadline": "0"})
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 504


async def test_middleware_cuts_a_handler_that_outlives_the_deadline() -> None:
    started = time.monotonic()
    response = await _call("/slow", {"X-Request-Deadline": "100"})
    assert response.status_code == 504
    assert "outlived" in response.json()["detail"]
    assert time.monotonic() - started < 2.0
