"""The gateway's service-token lines: cached per target, refreshed in the background before expiry."""

from __future__ import annotations

import jwt
import pytest

from baton.errors import ControlError, SecurityError
from baton.gateway.servicetokens import UpstreamTokens
from baton.testing import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_source(clock: Clock, ttl: float = 300.0) -> tuple[list[str], object]:
    issued: list[str] = []

    async def fetch(target: str) -> str:
        token = jwt.encode({"aud": target, "exp": int(clock.now + ttl), "n": len(issued)}, "k" * 32)
        issued.append(token)
        return token

    return issued, fetch


async def test_first_token_is_awaited_then_served_from_the_cache():
    clock = Clock()
    issued, fetch = make_source(clock)
    tokens = UpstreamTokens(fetch, clock=clock)  # type: ignore[arg-type]
    assert tokens.line("inventory") is None
    line = await tokens.get("inventory")
    assert line == b"x-baton-service-token: " + issued[0].encode() + b"\r\n"
    assert tokens.line("inventory") == line
    assert len(issued) == 1


async def test_a_token_near_expiry_is_still_sent_while_one_refresh_runs():
    clock = Clock()
    issued, fetch = make_source(clock)
    tokens = UpstreamTokens(fetch, refresh_margin=20.0, expiry_margin=2.0, clock=clock)  # type: ignore[arg-type]
    first = await tokens.get("inventory")
    clock.now += 290.0  # 10 s left: within the refresh margin, outside the expiry margin
    assert tokens.line("inventory") == first
    assert tokens.line("inventory") == first  # one refresh, not one per request
    await wait_until(lambda: len(issued) == 2, timeout=5)
    await wait_until(lambda: tokens.line("inventory") != first, timeout=5)
    assert len(issued) == 2
    clock.now += 299.0  # the new token is about to expire and no refresh can help in time
    assert tokens.line("inventory") is None


async def test_a_failed_fetch_is_a_security_error():
    async def refuse(target: str) -> str:
        raise ControlError("control plane unreachable for tokens")

    tokens = UpstreamTokens(refuse)
    with pytest.raises(SecurityError, match="cannot obtain a service token for inventory"):
        await tokens.get("inventory")
    await tokens.aclose()
