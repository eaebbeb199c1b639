"""A kit service on the bus for the NATS admission tests: ``/v1/roundtrip`` publishes and reads back a message.

Run by the supervisor as ``module: bus_app:service`` with this directory as ``cwd``. Like every kit service with
``BATON_NATS_URL``, it connects to NATS at start (with its own certificate) and its readiness includes the bus.
"""

from __future__ import annotations

import os

from baton.kit import Service

service = Service("worker", discovery=False)


@service.get("/v1/roundtrip")
async def roundtrip() -> dict[str, str]:
    """Subscribe to a subject of this instance, publish on it and return what came back."""
    nats = service.context.nats
    assert nats is not None, "started without BATON_NATS_URL"
    subject = f"itest.roundtrip.{os.environ.get('BATON_INSTANCE', 'worker')}"
    subscription = await nats.subscribe(subject)
    try:
        await nats.publish(subject, b"hello")
        message = await subscription.next_msg(timeout=5)
    finally:
        await subscription.unsubscribe()
    return {"subject": subject, "data": message.data.decode()}
