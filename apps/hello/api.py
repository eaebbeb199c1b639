"""The hello service's HTTP API: thin adapters from ``/v1/...`` to the operations in :mod:`apps.hello.service`."""

from __future__ import annotations

import asyncio
import itertools

from fastapi import Query, Response
from pydantic import BaseModel, Field

from apps.hello.service import Greeting, compose, create_greeting, list_greetings, service
from apps.hello.settings import HelloSettings
from baton.errors import BatonError
from baton.kit import SessionDep

_answered = itertools.count()
"""Requests to /v1/hello so far: injected faults are spread evenly (every n-th request), not at random."""


class NewGreeting(BaseModel):
    """Body of ``POST /v1/greetings``."""

    name: str = Field(min_length=1, max_length=100)


class GreetingOut(BaseModel):
    """A stored greeting."""

    id: int
    name: str
    message: str
    created_at: float

    @classmethod
    def of(cls, greeting: Greeting) -> GreetingOut:
        """Encode a domain greeting."""
        return cls(id=greeting.id, name=greeting.name, message=greeting.message, created_at=greeting.created_at)


class GreetingPage(BaseModel):
    """One page of greetings; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[GreetingOut]
    next_cursor: str | None


class Hello(BaseModel):
    """Body of ``GET /v1/hello``."""

    message: str


def _settings() -> HelloSettings:
    settings: HelloSettings = service.settings
    return settings


@service.get("/v1/hello")
async def hello(
    name: str | None = Query(default=None, max_length=100),
    delay_ms: int = Query(default=0, ge=0, description="Answer this much later (shows graceful draining)."),
) -> Hello:
    """Say hello, optionally after a delay."""
    settings = _settings()
    if delay_ms or settings.fault_delay_ms:
        await asyncio.sleep((min(delay_ms, settings.max_delay_ms) + settings.fault_delay_ms) / 1000)
    rate = settings.fault_error_rate
    if rate > 0:
        n = next(_answered)
        if int((n + 1) * rate) > int(n * rate):
            raise BatonError("injected fault (HELLO_FAULT_ERROR_RATE)")
    return Hello(message=compose(name, greeting=settings.greeting))


@service.get("/v1/greetings")
async def get_greetings(
    session: SessionDep,
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, pattern=r"^\d{1,18}$"),  # fits a 64-bit row id
) -> GreetingPage:
    """List stored greetings, oldest first."""
    items = await list_greetings(session, limit=limit, after=int(cursor) if cursor else None)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return GreetingPage(items=[GreetingOut.of(g) for g in items], next_cursor=next_cursor)


@service.post("/v1/greetings", status_code=201)
@service.idempotent
async def post_greeting(body: NewGreeting, session: SessionDep, response: Response) -> GreetingOut:
    """Store a greeting (send ``Idempotency-Key`` to make retries safe)."""
    created = await create_greeting(session, name=body.name, greeting=_settings().greeting)
    response.headers["Location"] = f"/v1/greetings/{created.id}"
    return GreetingOut.of(created)
