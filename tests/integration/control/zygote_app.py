"""A kit service for the zygote tests: ``/v1/whoami`` shows what the instance's process looks like from inside.

Run by the supervisor as ``module: zygote_app:service`` with this directory as ``cwd``, so it is forked by the
zygote like any kit service (or spawned with ``BATON_SPAWN=exec``).
"""

from __future__ import annotations

import logging
import os
import sys

from baton.kit import Service

service = Service("zapp", discovery=False)

log = logging.getLogger("zygote_app")


@service.get("/v1/whoami")
async def whoami() -> dict[str, object]:
    """This process: pid, parent, session, working directory, import path head and chosen environment."""
    log.warning("whoami answered by %s", os.environ.get("BATON_INSTANCE"))
    return {
        "pid": os.getpid(),
        "sid": os.getsid(0),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "instance": os.environ.get("BATON_INSTANCE"),
        "port": os.environ.get("BATON_PORT"),
        "own": os.environ.get("ZAPP_OWN"),
        "master_key": "BATON_MASTER_KEY" in os.environ,
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "zygote_loaded_fastapi": "fastapi" in sys.modules,
    }
