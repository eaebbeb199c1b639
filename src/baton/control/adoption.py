"""Re-adoption after a control-plane restart: no duplicates, no orphans.

Instances live in their own sessions, so they outlive a crashed control plane. On start the new control
plane reads ``state.json`` and takes every still-running instance back under supervision (matched by pid and
create time), gracefully stops instances of services the manifest no longer has, and finally sweeps for
*strays*: processes carrying this home's ``BATON_HOME`` and a ``BATON_INSTANCE`` that no record explains
(e.g. started just before a crash, before the state file was written). ``/proc/<pid>/environ`` of an instance
forked by the zygote shows the zygote's environment (``BATON_ZYGOTE=1``, no ``BATON_INSTANCE``), so that marker
counts too: a zygote and its forked instances are strays unless kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Collection
from pathlib import Path

import psutil

from baton.control.instance import InstanceSlot
from baton.control.manifest import Manifest
from baton.control.process import InstanceProcess
from baton.control.state import ProcessRecord, SupervisorState
from baton.control.zygote import MARKER_ENV

log = logging.getLogger("baton.control.adoption")

SlotFactory = Callable[[str, int, int], InstanceSlot]
"""``(service, index, port) -> slot``."""

STRAY_STOP_TIMEOUT = 5.0


async def adopt_instances(
    saved: SupervisorState, manifest: Manifest, new_slot: SlotFactory
) -> list[tuple[InstanceSlot, InstanceProcess]]:
    """Slots for the saved instances that still run and that the manifest still wants.

    Instances of removed services are stopped; dead records are dropped (their slots are started afresh).
    """
    adopted: list[tuple[InstanceSlot, InstanceProcess]] = []
    unwanted: list[InstanceProcess] = []
    seen: set[str] = set()
    for record in saved.instances:
        process = InstanceProcess.adopt(record.process)
        if process is None:
            continue
        if record.service not in manifest.services or record.id in seen:
            unwanted.append(process)
            continue
        seen.add(record.id)
        slot = new_slot(record.service, record.index, record.port)
        slot.version = record.version
        slot.track = record.track
        slot.started_at = record.started_at
        slot.tracker.total = record.restarts
        adopted.append((slot, process))
        log.info("re-adopted %s pid=%s port=%s", record.id, record.pid, record.port)
    for process in unwanted:
        log.info("stopping pid=%s: its service is no longer in the manifest", process.pid)
    await asyncio.gather(*(p.stop(STRAY_STOP_TIMEOUT) for p in unwanted))
    return adopted


def find_strays(home: Path, *, keep: Collection[int] = ()) -> list[ProcessRecord]:
    """Instance processes of ``home`` that are not (in the process group of) a pid in ``keep``."""
    home_text = str(home)
    strays = []
    for proc in psutil.process_iter(["pid"]):
        pid = proc.info["pid"]
        if pid == os.getpid() or pid in keep:
            continue
        try:
            env = proc.environ()
            if env.get("BATON_HOME") != home_text:
                continue
            if "BATON_INSTANCE" not in env and env.get(MARKER_ENV) != "1":
                continue
            if os.getpgid(pid) in keep:
                continue  # a child of a supervised instance (a command wrapper's worker)
            strays.append(ProcessRecord(pid, proc.create_time()))
        except (psutil.Error, ProcessLookupError, OSError):
            continue
    return strays


async def kill_strays(home: Path, *, keep: Collection[int] = ()) -> list[int]:
    """Stop every stray of ``home`` (SIGTERM, then SIGKILL); return their pids."""
    processes = [p for p in (InstanceProcess.adopt(r) for r in find_strays(home, keep=keep)) if p is not None]
    for process in processes:
        log.warning("stopping stray instance process pid=%s", process.pid)
    await asyncio.gather(*(p.stop(STRAY_STOP_TIMEOUT) for p in processes))
    return [p.pid for p in processes]
