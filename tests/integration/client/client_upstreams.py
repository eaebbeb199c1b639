"""Real HTTP upstreams for the client's integration tests: in-process aiohttp servers on free ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from baton.discovery import Instance
from baton.events.server import free_port


@dataclass
class Upstream:
    """One replica: answers ``GET /item`` with its name; ``status`` and ``delay`` are steerable."""

    name: str
    status: int = 200
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    hits: int = 0
    deadlines: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def instance(self) -> Instance:
        return Instance(service="inventory", id=self.name, host="127.0.0.1", port=self.port)

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.deadlines.append(request.headers.get("X-Request-Deadline", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"instance": self.name}, status=self.status)

    async def start(self) -> Upstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
