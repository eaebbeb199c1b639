"""The hello service: its domain operations, transport-free, and the ``Service`` that runs them.

Run it with ``python -m baton.kit.serve apps.hello.service:service``. The HTTP routes live in
:mod:`apps.hello.api`, imported at the bottom so that importing this module yields a complete service.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.hello.models import greetings, metadata
from apps.hello.settings import HelloSettings
from baton.errors import BatonError
from baton.kit import Service

GREETING_CREATED = "example.hello.greeting.created.v1"

service = Service(
    "hello",
    settings=HelloSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)


@dataclass(frozen=True, slots=True)
class Greeting:
    """A greeting someone asked the service to remember."""

    id: int
    name: str
    message: str
    created_at: float


def compose(name: str | None, *, greeting: str) -> str:
    """The greeting for ``name`` (``"Hello, world!"`` when nobody is named)."""
    return f"{greeting}, {name or 'world'}!"


async def create_greeting(session: AsyncSession, *, name: str, greeting: str) -> Greeting:
    """Store a greeting for ``name`` and announce it (the event commits with the row, via the outbox)."""
    message = compose(name, greeting=greeting)
    now = time.time()
    result = await session.execute(
        insert(greetings).values(name=name, message=message, created_at=now).returning(greetings.c.id)
    )
    created = Greeting(id=result.scalar_one(), name=name, message=message, created_at=now)
    await service.emit(
        session,
        type=GREETING_CREATED,
        subject=str(created.id),
        data={"id": created.id, "name": name, "message": message},
    )
    return created


async def list_greetings(session: AsyncSession, *, limit: int, after: int | None = None) -> list[Greeting]:
    """Greetings in creation order, ``limit`` at a time, starting after the id ``after``."""
    query = select(greetings).order_by(greetings.c.id).limit(limit)
    if after is not None:
        query = query.where(greetings.c.id > after)
    rows = (await session.execute(query)).all()
    return [Greeting(id=r.id, name=r.name, message=r.message, created_at=r.created_at) for r in rows]


@service.readiness_check("maintenance")
async def not_in_maintenance() -> None:
    """Not ready while ``HELLO_MAINTENANCE_FILE`` exists: the instance leaves rotation and keeps running."""
    path = service.settings.maintenance_file
    if path and await asyncio.to_thread(os.path.exists, path):
        raise BatonError(f"in maintenance ({path} exists)")


# Registers the HTTP routes on ``service``; last, because the routes call the operations above.
from apps.hello import api  # noqa: E402, F401
