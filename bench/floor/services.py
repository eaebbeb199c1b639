"""The services of ``bench/checkout_floor.py``: one checkout's message pattern with empty handlers.

::

    customer ─▶ front   POST /v1/carts, POST /v1/carts/{id}/items, POST /v1/orders
                  │ place order: 3 calls through the kit's resilient client (mutual TLS + service token)
                  ├─▶ stock  POST /v1/reservations
                  ├─▶ pay    POST /v1/payments/authorize
                  ├─▶ pay    POST /v1/payments/{id}/capture
                  │ then one event through the outbox (one INSERT in its own transaction) ▸ relay ▸ JetStream
                  └─▶ mail, stats, points   one durable consumer each, inbox transaction, empty handler

No business logic and no tables of the services' own: what remains is what the kit does for every request and
every event (middleware, mutual TLS, tokens, outbox and inbox rows in each service's SQLite file). Each
consumer counts the events it received in memory (``GET /v1/received``) so the bench knows when the last
checkout's event has reached all three.

``FRONT_MODE`` in front's environment chooses what "place order" does, so the bench can take the pattern apart
by subtraction:

- ``requests``: nothing (the customer's three requests alone);
- ``calls``: the three calls, no event;
- ``messages`` (default): the three calls, then the event;
- ``saga``: log a saga (``baton.saga``, the kit's durable orchestrator) in the request's transaction and answer
  202; the saga's steps make the same three calls and its last step emits the event, as the shop's checkout saga
  does — the floor *with* the durable saga log the shop's architecture requires.

Run each with ``python -m baton.kit.serve bench.floor.services:<name>`` (the bench's manifest does).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import Response

from baton.events import CloudEvent
from baton.kit import Service, SessionDep
from baton.kit.clients import ServiceClients
from baton.saga import Saga, SagaComponent, Step, StepContext

PLACED = "floor.order.placed.v1"
FLOOR_SAGA = "floor_checkout"

front = Service("front")
stock = Service("stock")
pay = Service("pay")
mail = Service("mail", discovery=False)
stats = Service("stats", discovery=False)
points = Service("points", discovery=False)

clients = ServiceClients()
front.add_component(clients)


# -- front: the customer's three requests ---------------------------------------------------------------------


@front.post("/v1/carts", status_code=201)
async def open_cart() -> dict[str, str]:
    """Open a cart (nothing is stored)."""
    return {"cart_id": uuid.uuid4().hex}


@front.post("/v1/carts/{cart_id}/items", status_code=201)
async def add_item(cart_id: str) -> dict[str, Any]:
    """Add an item to a cart (nothing is stored)."""
    return {"cart_id": cart_id, "lines": 1}


async def reserve(order_id: str, key: str) -> None:
    """``POST /v1/reservations`` on stock."""
    body = {"reservation_id": order_id, "order_id": order_id, "lines": [{"product_id": "p-1", "quantity": 1}]}
    await clients["stock"].post("/v1/reservations", json=body, idempotency_key=key)


async def authorize(order_id: str, key: str) -> None:
    """``POST /v1/payments/authorize`` on pay."""
    body = {"payment_id": order_id, "order_id": order_id, "amount_cents": 1250, "currency": "EUR"}
    await clients["pay"].post("/v1/payments/authorize", json=body, idempotency_key=key)


async def capture(order_id: str, key: str) -> None:
    """``POST /v1/payments/{id}/capture`` on pay."""
    await clients["pay"].post(f"/v1/payments/{order_id}/capture", idempotency_key=key)


async def announce(order_id: str) -> None:
    """One event through the outbox, in a transaction of its own (as the shop's confirm step writes it)."""
    async with front.transaction() as session:
        await front.emit(session, type=PLACED, subject=order_id, data={"order_id": order_id, "total_cents": 1250})


# -- front, without a saga: the calls in the request -----------------------------------------------------------

MODE = os.environ.get("FRONT_MODE", "messages")


async def place_order_inline() -> dict[str, str]:
    """The three calls (modes ``calls``, ``messages``), then the event (``messages``)."""
    order_id = uuid.uuid4().hex
    if MODE in ("calls", "messages"):
        await reserve(order_id, f"{order_id}:reserve")
        await authorize(order_id, f"{order_id}:authorize")
        await capture(order_id, f"{order_id}:capture")
    if MODE == "messages":
        await announce(order_id)
    return {"order_id": order_id, "status": "CONFIRMED"}


# -- front, with the durable saga log: the calls in saga steps -------------------------------------------------


async def _reserve_step(ctx: StepContext) -> Mapping[str, Any] | None:
    await reserve(ctx.saga_id, ctx.idempotency_key)
    return None


async def _authorize_step(ctx: StepContext) -> Mapping[str, Any] | None:
    await authorize(ctx.saga_id, ctx.idempotency_key)
    return None


async def _capture_step(ctx: StepContext) -> Mapping[str, Any] | None:
    await capture(ctx.saga_id, ctx.idempotency_key)
    return None


async def _confirm_step(ctx: StepContext) -> Mapping[str, Any] | None:
    await announce(ctx.saga_id)
    return None


async def _nothing_to_undo(ctx: StepContext) -> Mapping[str, Any] | None:
    return None


floor_saga = Saga(
    FLOOR_SAGA,
    steps=[
        Step("reserve_stock", action=_reserve_step, compensation=_nothing_to_undo),
        Step("authorize_payment", action=_authorize_step, compensation=_nothing_to_undo),
        Step("capture_payment", action=_capture_step, compensation=_nothing_to_undo),
        Step("confirm_order", action=_confirm_step),
    ],
)
sagas: SagaComponent | None = None
if MODE == "saga":
    # Only in saga mode: the component's lease heartbeat and sweep would otherwise be CPU the floor does not need.
    sagas = SagaComponent([floor_saga])
    front.add_component(sagas)


async def place_order_saga(session: SessionDep, response: Response) -> dict[str, str]:
    """Log the saga with the request's transaction; its steps make the calls and emit the event."""
    assert sagas is not None
    order_id = uuid.uuid4().hex
    await sagas.orchestrator.start(FLOOR_SAGA, {"order_id": order_id}, saga_id=order_id, session=session)
    response.status_code = 202
    return {"order_id": order_id, "status": "PENDING"}


front.post("/v1/orders", status_code=201)(place_order_saga if sagas is not None else place_order_inline)


# -- stock and pay: empty handlers -----------------------------------------------------------------------------


@stock.post("/v1/reservations", status_code=201)
async def hold() -> dict[str, str]:
    """Hold stock (nothing is stored; the body is not even read)."""
    return {"status": "held"}


@pay.post("/v1/payments/authorize", status_code=201)
async def authorize_payment() -> dict[str, str]:
    """Authorize a payment (nothing is stored)."""
    return {"status": "authorized"}


@pay.post("/v1/payments/{payment_id}/capture")
async def capture_payment(payment_id: str) -> dict[str, str]:
    """Capture a payment (nothing is stored)."""
    return {"payment_id": payment_id, "status": "captured"}


# -- mail, stats, points: empty handlers behind the inbox ------------------------------------------------------

_received = itertools.count()
_seen = 0


async def _count(event: CloudEvent, session: Any) -> None:
    global _seen
    _seen = next(_received) + 1


for _consumer in (mail, stats, points):
    _consumer.handler(PLACED)(_count)

    @_consumer.get("/v1/received")
    async def received() -> dict[str, int]:
        """Events this instance's handler ran for (in memory, since it started)."""
        return {"received": _seen}
