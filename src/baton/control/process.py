"""Instance processes: launched as children, or adopted from the state file after a control-plane restart.

Instances run in their own session (``start_new_session=True``) so they survive the control plane, and are
signalled as a process group so a ``command:`` wrapper (a shell script, ``uv run``…) never leaves its child
behind. A child is reaped through ``Popen.poll``; an adopted process is watched through psutil with its
create time, because it is not our child any more. An instance forked by the zygote
(:mod:`baton.control.zygote`) is watched the same way, and its exit code comes from the zygote, which reaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from baton.control.state import ProcessRecord

if TYPE_CHECKING:
    from baton.control.zygote import ForkServer

EXIT_REPORT_WAIT = 0.5
"""Seconds to wait for the zygote's report of a forked instance's exit once the process is seen gone."""


class InstanceProcess:
    """One OS process of an instance, whether we launched it, had the zygote fork it, or adopted it."""

    def __init__(
        self,
        record: ProcessRecord,
        *,
        child: subprocess.Popen[bytes] | None = None,
        forked_by: ForkServer | None = None,
    ) -> None:
        self.record = record
        self._child = child
        self._forked_by = forked_by

    @property
    def pid(self) -> int:
        """Process id."""
        return self.record.pid

    @property
    def adopted(self) -> bool:
        """Whether the process was started by an earlier control plane."""
        return self._child is None and self._forked_by is None

    @property
    def forked(self) -> bool:
        """Whether the zygote forked the process."""
        return self._forked_by is not None

    @classmethod
    def launch(cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_file: Path) -> InstanceProcess:
        """Start ``argv`` in its own session with stdout and stderr appended to ``log_file``.

        Raises:
            OSError: the executable cannot be started.
        """
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:
            child = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            record = ProcessRecord.of(child.pid)
        except psutil.NoSuchProcess:
            # Exited before we could look at it: keep a record that can never match a live process.
            record = ProcessRecord(child.pid, 0.0)
        return cls(record, child=child)

    @classmethod
    def fork(
        cls,
        server: ForkServer,
        target: str,
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_file: Path,
        argv: Sequence[str] | None = None,
    ) -> InstanceProcess:
        """Have the zygote fork an instance running the kit service ``target`` (or the module command ``argv``,
        see :func:`~baton.control.zygote.forkable_command`).

        Raises:
            ZygoteUnavailable: the zygote cannot fork now (the caller spawns instead).
        """
        pid = server.spawn(target, env=env, cwd=cwd, log_file=log_file, argv=argv)
        try:
            record = ProcessRecord.of(pid)
        except psutil.NoSuchProcess:
            record = ProcessRecord(pid, 0.0)
        return cls(record, forked_by=server)

    @classmethod
    def adopt(cls, record: ProcessRecord) -> InstanceProcess | None:
        """Watch an already running process; ``None`` when it is gone (or the pid now belongs to another)."""
        return cls(record) if record.alive() else None

    def alive(self) -> bool:
        """Whether the process still runs."""
        if self._child is not None:
            return self._child.poll() is None
        if self._forked_by is not None and self._forked_by.exit_code(self.pid) is not None:
            return False
        return self.record.alive()

    @property
    def exit_code(self) -> int | None:
        """Exit status once a launched process ended (negative: killed by that signal); unknown if adopted."""
        if self._child is not None:
            return self._child.poll()
        if self._forked_by is not None and not self.record.alive():
            # Gone: the zygote's report of it is a moment away at most (unless the zygote is gone too).
            return self._forked_by.exit_code(self.pid, wait=EXIT_REPORT_WAIT)
        return None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the instance's process group (or just the process if it leads none)."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if _leads_group(self.pid):
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to end; whether it did."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while self.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.1)
        return True

    async def stop(self, timeout: float) -> None:
        """SIGTERM (the kit drains), then SIGKILL after ``timeout`` seconds; returns once it is gone."""
        self.signal(signal.SIGTERM)
        if await self.wait(timeout):
            self._kill_leftovers()
            return
        self.signal(signal.SIGKILL)
        await self.wait(5.0)
        self._kill_leftovers()

    def kill(self) -> None:
        """SIGKILL the process group at once."""
        self.signal(signal.SIGKILL)

    def _kill_leftovers(self) -> None:
        # The leader is gone but a child it spawned may still hold the group: no orphans.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
