"""A throwaway instance for supervisor tests: /livez, /readyz, /work, and switches to misbehave.

Run as ``python toyapp.py``; it reads ``BATON_PORT``, ``BATON_INSTANCE``, ``BATON_DRAIN_DELAY`` like a kit
service. ``POST /fail-readiness`` makes /readyz answer 503 (``/heal`` undoes it); ``TOY_FAIL_START=1`` makes
it exit at once (a crash loop). On SIGTERM it first answers 503 on /readyz, keeps serving for the drain delay,
then exits, like the kit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

INSTANCE = os.environ.get("BATON_INSTANCE", "toy")
STATE = {"ready": True, "draining": False}


async def livez(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> PlainTextResponse:
    ok = STATE["ready"] and not STATE["draining"]
    return PlainTextResponse("ok" if ok else "not ready", status_code=200 if ok else 503)


async def work(request: Request) -> JSONResponse:
    return JSONResponse({"instance": INSTANCE, "pid": os.getpid(), "version": os.environ.get("BATON_VERSION")})


async def fail_readiness(request: Request) -> PlainTextResponse:
    STATE["ready"] = False
    return PlainTextResponse("unready")


async def heal(request: Request) -> PlainTextResponse:
    STATE["ready"] = True
    return PlainTextResponse("ready")


app = Starlette(
    routes=[
        Route("/livez", livez),
        Route("/readyz", readyz),
        Route("/work", work),
        Route("/fail-readiness", fail_readiness, methods=["POST"]),
        Route("/heal", heal, methods=["POST"]),
    ]
)


class DrainingServer(uvicorn.Server):
    """Keeps serving for BATON_DRAIN_DELAY after SIGTERM (readiness already failing), then stops."""

    def handle_exit(self, sig: int, frame: object) -> None:
        if STATE["draining"]:
            return super().handle_exit(sig, frame)  # type: ignore[arg-type]
        STATE["draining"] = True
        delay = float(os.environ.get("BATON_DRAIN_DELAY", "0"))
        asyncio.get_event_loop().call_later(delay, lambda: setattr(self, "should_exit", True))


def main() -> None:
    if os.environ.get("TOY_FAIL_START") == "1":
        print('{"event": "refusing to start", "level": "error"}', flush=True)
        sys.exit(3)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=int(os.environ["BATON_PORT"]), log_level="warning", lifespan="off"
    )
    server = DrainingServer(config)
    signal.signal(signal.SIGTERM, lambda *_: None)  # replaced by uvicorn's capture in serve()
    server.run()


if __name__ == "__main__":
    main()
