"""A replica process for discovery tests: serves HTTP and registers itself in the NATS KV registry.

Usage: python replica_process.py <nats_url> <instance id> <port> <ttl>. Prints ``ready`` once registered.
"""

from __future__ import annotations

import asyncio
import sys

import nats
from aiohttp import web

from baton.discovery import Instance, NatsKvRegistry


async def main(nats_url: str, instance_id: str, port: int, ttl: float) -> None:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"instance": instance_id})

    app = web.Application()
    app.router.add_get("/item", item)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    nc = await nats.connect(nats_url)
    registry = NatsKvRegistry(nc, ttl=ttl)
    await registry.register(Instance(service="inventory", id=instance_id, host="127.0.0.1", port=port))
    print("ready", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
