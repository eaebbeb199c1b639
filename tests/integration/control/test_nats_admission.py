"""A service added to the manifest is admitted by NATS, even when the control plane reuses a running server.

NATS lists the services it admits by SPIFFE ID (``authorization``, :mod:`baton.security.mtls.nats`). A control
plane restarted on a changed manifest re-adopts the server an earlier one started (``baton up`` after the daemon
exited on a signal or a crash): that server must re-read a config listing the new service before the service's
instance starts, or the instance's first connection is refused and it never becomes ready.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from baton.security.operator import OperatorAccess
from baton.testing import wait_until

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent

WORKER: dict[str, Any] = {
    "module": "bus_app:service",
    "cwd": str(HERE),
    "allow": {"/v1": ["operator"]},
    "drain_delay": 0,
    "probes": {"interval": 0.2, "timeout": 1, "failure_threshold": 2},
}
"""A kit service that uses the bus (:mod:`bus_app`)."""


async def test_a_service_added_while_the_control_plane_was_down_uses_the_reused_nats(control_plane, toy):
    plane = control_plane({"web": toy(1)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(1), timeout=30)
    nats_pid = plane.recorded()[-1].pid

    # SIGTERM: the daemon alone exits (instances and NATS keep running); the next one re-adopts them.
    assert plane.process is not None
    plane.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(plane.process.wait, 30)
    manifest = json.loads(plane.manifest.read_text())  # the test writes JSON (which is YAML)
    manifest["services"]["worker"] = WORKER
    plane.manifest.write_text(json.dumps(manifest))

    await plane.start()
    # The worker's readiness includes its NATS connection, made at start with its own certificate.
    await wait_until(lambda: plane.all_ready(2), timeout=60, message="web and the new worker ready")
    assert plane.recorded()[-1].pid == nats_pid  # the same server, reconfigured rather than restarted
    [worker] = await plane.instances("worker")
    assert worker["restarts"] == 0  # admitted at its first connection, not after a crash loop

    access = OperatorAccess.for_control(plane.url, plane.home.admin_token() or "")
    async with access.async_client(timeout=10) as http:
        answer = await http.get(worker["url"] + "/v1/roundtrip")
    answer.raise_for_status()
    assert answer.json()["data"] == "hello"
