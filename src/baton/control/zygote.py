"""The fork server ("zygote"): instances of ``module:`` services forked from a process that imported the kit once.

A plain instance spends most of its start-up importing (FastAPI and pydantic, SQLAlchemy, nats-py, OpenTelemetry,
uvicorn and uvloop: about a CPU-second), and a system of eleven instances on two cores pays that eleven times.
Like gunicorn's ``--preload`` or :mod:`multiprocessing`'s forkserver, the supervisor starts one clean helper
process — ``python -P -m baton.control.zygote``, spawned by the supervisor and *not* forked from the asyncio
control plane — that imports :data:`PRELOAD` with no thread, loop or socket open, freezes the garbage collector
(so the shared objects' pages stay shared after fork), and then forks an instance per request. The child:

1. starts its own session (``os.setsid``), like a spawned instance, so it outlives the control plane and is
   signalled as a process group;
2. takes the full environment the supervisor computed (:func:`baton.control.launch.environment_for`), its working
   directory, ``sys.path`` as ``python -m`` in that directory with that ``PYTHONPATH`` would have it, and appends
   stdout and stderr to the instance's log file;
3. runs :func:`baton.kit.serve.main` for the module target — or, for a ``command:`` service that runs one of
   Baton's own modules (``["{python}", "-m", "baton.gateway", ...]``, see :func:`forkable_command`), that module
   as ``python -m`` would with those arguments — and exits with its code.

Alembic is preloaded only for a system's first start (:data:`FIRST_START_PRELOAD`): after that, instances
whose databases are at head never import it, and RSS counts every preloaded page in every instance.

Only Baton's and third-party modules are preloaded, never a service's own code, so a restarted instance always
runs the service's current code (a change to Baton itself needs a new control plane, as with any preloading
server). Modules a service imports beyond :data:`PRELOAD` are imported in the child as usual.

The protocol is one JSON object per line: requests on the zygote's stdin (``{"id", "target", "env", "cwd",
"log"}``, plus ``"argv"`` — module and arguments — for a command), answers on its stdout (``{"ready": pid}``
once, ``{"id", "pid"}`` or ``{"id", "error"}`` per request, ``{"exit": pid, "code": c}`` whenever it reaped a
child, ``code`` negative for a signal as in
:attr:`subprocess.Popen.returncode`). The zygote exits when its stdin closes (the control plane stopped or died);
its children keep running and are re-adopted by the next control plane like any instance. The zygote's
environment is the operator's minus every ``BATON_*`` variable (so no ``BATON_MASTER_KEY``), plus
``BATON_HOME`` and ``BATON_ZYGOTE=1`` so :func:`baton.control.adoption.find_strays` recognises it and its children.

:class:`ForkServer` is the supervisor's side. ``BATON_SPAWN=exec`` turns the zygote off (``fork``, the default on
Linux, turns it on); when it is unavailable (not started yet, crashed, failed its preload) instances are spawned
as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import io
import json
import logging
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("baton.control.zygote")

SPAWN_ENV = "BATON_SPAWN"
"""``fork`` (default on Linux) or ``exec``: how ``module:`` instances are started."""

MARKER_ENV = "BATON_ZYGOTE"
"""Set to ``1`` in the zygote's environment (and so in what ``/proc/<pid>/environ`` shows for its children)."""

PRELOAD = (
    # Module names, or ``module:function`` for a function that imports what it names itself.
    # What every kit instance imports before it answers: the kit and what it pulls (FastAPI, pydantic,
    # SQLAlchemy, structlog, OpenTelemetry, prometheus_client), the database and bus drivers the kit connects
    # with, and uvicorn's implementations that serve() selects (uvloop, httptools, lifespan "on").
    "baton.kit.serve",
    "baton.kit.service",
    "baton.kit.db",
    "baton.kit.bus",
    "baton.kit.health",
    "baton.kit.events",
    "baton.kit.migrator",
    "baton.kit.live_config",
    "baton.kit.monitor",
    # The peer clients (aiohttp, ~6 MB): most services of a system call a peer (8 of the shop's 11 instances),
    # and a library each of them imported privately would cost the machine a copy per instance.
    "baton.kit.clients",
    "baton.kit.problems",
    "baton.kit.runtime",
    # Events and discovery: every service with a bus (outbox relay, inbox, JetStream, registration).
    "baton.events.runtime",
    "baton.events.outbox",
    "baton.events.inbox",
    "baton.events.jetstream",
    "baton.discovery.registration",
    "baton.discovery.nats_kv",
    # FastAPI imports pydantic.v1 lazily on the first route with a response model (every service has some).
    "pydantic.v1",
    "baton.telemetry.export",
    "baton.telemetry.otlp_json",
    # Mutual TLS and service tokens (cryptography, PyJWT), on in every instance the control plane starts.
    "baton.security.wiring",
    "baton.security.mtls.asgi",
    # Under the control plane every kit instance serves mutual TLS with service tokens (~50 ms CPU to import).
    "baton.security.mtls.authorization",
    "baton.security.tokens.middleware",
    "baton.security.tokens.verifier",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
    "nats",
    "nats.js",
    "uvloop",
    "httptools",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
)

NOT_PRELOADED = ("sqlalchemy.dialects.postgresql", "alembic", "mako")
"""Never imported by :data:`PRELOAD`, because every page the zygote holds counts in the RSS of every instance:
the PostgreSQL dialect is imported by an instance on PostgreSQL (~2.3 MB), Alembic and Mako only through
:data:`FIRST_START_PRELOAD`."""

FIRST_START_PRELOAD = ("baton.kit.migrator:load_alembic",)
"""Preloaded too when the home's data directory holds no database yet. Alembic (with Mako and its DDL dialects,
loaded as the migrator does) runs in every instance on a system's first start: shared, it saves each instance
~0.1 s of CPU and ~4 MB. At a later start an instance whose database is at head never imports it, and the ~3 MB
it would map into every instance are left out; one with a pending migration imports it itself."""


def preload_for(home: Path | None) -> tuple[str, ...]:
    """What the zygote of ``home`` preloads: :data:`PRELOAD`, plus :data:`FIRST_START_PRELOAD` unless
    ``<home>/data`` holds a SQLite database already (with no home, or databases elsewhere, it preloads both)."""
    data = home / "data" if home is not None else None
    if data is not None and data.is_dir() and any(data.glob("*.db")):
        return PRELOAD
    return PRELOAD + FIRST_START_PRELOAD


READY_TIMEOUT = 30.0
"""Seconds the supervisor waits for the zygote's preload before spawning without it."""

SPAWN_TIMEOUT = 5.0
"""Seconds to wait for the zygote to answer one fork request."""


class ZygoteUnavailable(RuntimeError):
    """The zygote cannot fork right now (not ready, gone, or the fork failed); spawn the instance instead."""


INSTANCE_DEFAULTS = {"MALLOC_ARENA_MAX": "2"}
"""Environment defaults of every instance (the operator's own value wins): an asyncio instance has a handful of
threads (SQLite, span export), and glibc's default of one malloc arena per thread costs megabytes each."""


def zygote_environment(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The zygote's own environment: the operator's minus every ``BATON_*`` variable, plus the instance defaults,
    ``BATON_HOME`` and the marker.

    Dropping all of ``BATON_*`` (not only what the control plane decides, :data:`baton.control.launch.CONTROLLED`)
    keeps this module light enough to start the zygote before the control plane's own imports; an instance gets
    its complete environment at fork anyway, and the master key never reaches the zygote.
    """
    source = os.environ if environ is None else environ
    env = {key: value for key, value in source.items() if not key.startswith("BATON_")}
    for key, value in INSTANCE_DEFAULTS.items():
        env.setdefault(key, value)
    env.update({"BATON_HOME": str(home), MARKER_ENV: "1", "PYTHONUNBUFFERED": "1"})
    return env


def start_fork_server(home: Path, log_file: Path) -> ForkServer | None:
    """Start a zygote for the home ``home`` (it preloads in the background); ``None`` when it cannot be started."""
    zygote = ForkServer(env=zygote_environment(home), log_file=log_file)
    try:
        zygote.start()
    except OSError as exc:
        log.warning("no zygote (instances are spawned): %s", exc)
        return None
    return zygote


def forkable_command(argv: Sequence[str]) -> list[str] | None:
    """Module and arguments of a command the zygote can fork instead of spawning: ``python -m baton.<module> ...``
    with this interpreter (the gateway); ``None`` for anything else, which is spawned as written.

    Only Baton's own modules: they expect what a kit instance gets (a fresh asyncio loop, the preloaded
    libraries); a third-party program keeps its exec.
    """
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2].startswith("baton."):
        return list(argv[2:])
    return None


def fork_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``module:`` instances are forked from the zygote (``BATON_SPAWN``; default: on Linux)."""
    choice = (os.environ if environ is None else environ).get(SPAWN_ENV, "").strip().lower()
    if choice in ("exec", "spawn"):
        return False
    return sys.platform == "linux" and hasattr(os, "fork")


# --------------------------------------------------------------------------------------------------------------
# The supervisor's side


class ForkServer:
    """A running zygote: ask it to fork instances, learn their exit codes.

    A reader thread takes every line the zygote writes; :meth:`spawn` blocks for the few milliseconds a fork
    takes. All methods are safe to call from the event loop's thread.
    """

    def __init__(self, *, env: Mapping[str, str], log_file: Path) -> None:
        self._env = dict(env)
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Condition()
        self._ready = threading.Event()
        self._replies: dict[int, dict[str, Any]] = {}
        self._exits: dict[int, int] = {}
        self._next_id = 0
        self._closed = False
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The zygote's process id once started."""
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        """Whether the zygote preloaded and is answering."""
        return self._ready.is_set() and not self._closed

    @property
    def failed(self) -> bool:
        """Whether the zygote worked and is gone now (a new one should serve the next launches)."""
        return self._ready.is_set() and self._closed

    def start(self) -> None:
        """Launch the zygote (returns at once; :meth:`wait_ready` waits for its preload).

        Raises:
            OSError: the interpreter cannot be started.
        """
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log_file, "ab") as log_out:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "baton.control.zygote"],
                env=self._env,
                cwd="/",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_out,
                # Its own session: a Ctrl-C meant for `baton up` must not reach it (the control plane stops it).
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, name="baton-zygote-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """Block until the zygote is ready (or gone); whether it is ready."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._closed or time.monotonic() > deadline:
                return False
        return self.ready

    def spawn(
        self, target: str, *, env: Mapping[str, str], cwd: Path, log_file: Path, argv: Sequence[str] | None = None
    ) -> int:
        """Fork an instance running the kit service ``target`` — or, given ``argv`` (see :func:`forkable_command`),
        the module ``argv[0]`` with the arguments ``argv[1:]``; its pid.

        Raises:
            ZygoteUnavailable: not ready, gone, or the fork failed.
        """
        process = self._process
        if process is None or process.stdin is None or not self.ready:
            raise ZygoteUnavailable("the zygote is not ready")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
        request: dict[str, Any] = {
            "id": request_id,
            "target": target,
            "env": dict(env),
            "cwd": str(cwd),
            "log": str(log_file),
        }
        if argv is not None:
            request["argv"] = list(argv)
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except (OSError, ValueError) as exc:
            self._gone()
            raise ZygoteUnavailable(f"cannot reach the zygote: {exc}") from exc
        deadline = time.monotonic() + SPAWN_TIMEOUT
        with self._lock:
            while request_id not in self._replies:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise ZygoteUnavailable("the zygote did not answer")
                self._lock.wait(remaining)
            reply = self._replies.pop(request_id)
        if "pid" not in reply:
            raise ZygoteUnavailable(f"the zygote could not fork: {reply.get('error', 'unknown error')}")
        return int(reply["pid"])

    def exit_code(self, pid: int, *, wait: float = 0.0) -> int | None:
        """Exit status of a forked child once the zygote reaped it (waiting up to ``wait`` seconds for that)."""
        deadline = time.monotonic() + wait
        with self._lock:
            while pid not in self._exits:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._lock.wait(remaining)
            return self._exits[pid]

    def close(self, timeout: float = 5.0) -> None:
        """Stop the zygote (its children keep running)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout)
        self._gone()

    def _read(self) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "ready" in message:
                    for failure in message.get("failed", []):
                        log.warning("zygote: not preloaded (instances import it themselves): %s", failure)
                    self._ready.set()
                elif "exit" in message:
                    self._exits[int(message["exit"])] = int(message["code"])
                elif isinstance(message.get("id"), int):
                    self._replies[message["id"]] = message
                self._lock.notify_all()
        self._gone()

    def _gone(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()


# --------------------------------------------------------------------------------------------------------------
# The zygote's side: `python -P -m baton.control.zygote`


def main() -> int:
    """Preload, then fork on request until stdin closes."""
    # The channel moves off fds 0 and 1, which become /dev/null: nothing a preloaded module prints can corrupt it,
    # and a child inherits no end of it on its standard streams.
    requests = os.dup(0)
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.set_inheritable(requests, False)
    os.set_inheritable(replies, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # With -P nothing was prepended to sys.path; the zygote's own PYTHONPATH is not the instances' business.
    own = {p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    base_path = [p for p in sys.path if p not in own]

    home = os.environ.get("BATON_HOME")
    failed = _preload(preload_for(Path(home) if home else None))
    # Native threads too (a C library may start its own): /proc lists every task of the process.
    tasks = Path("/proc/self/task")
    threads = len(list(tasks.iterdir())) if tasks.is_dir() else threading.active_count()
    if threads != 1:
        # Forking a process with threads copies their locks in whatever state they were: refuse.
        print(f"zygote: {threads} threads after preload; not forking", file=sys.stderr, flush=True)
        return 1
    gc.collect()
    gc.freeze()  # objects that exist now are never scanned again, so a collection in a child does not copy them

    wake_read, wake_write = os.pipe()
    for fd in (wake_read, wake_write):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    channel = _Channel(replies)
    channel.send({"ready": os.getpid(), "failed": failed})
    buffer = b""
    private = (requests, replies, wake_read, wake_write)
    while True:
        try:
            readable, _, _ = select.select([requests, wake_read], [], [])
        except InterruptedError:
            continue
        if wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_read, 512):
                    pass
        _reap(channel)
        if requests not in readable:
            continue
        chunk = os.read(requests, 65536)
        if not chunk:
            return 0  # the control plane is gone; the instances keep running
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                _handle(line, channel, base_path=base_path, private=private)


class _Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            try:
                written = os.write(self.fd, data)
            except BrokenPipeError:
                raise SystemExit(0) from None
            data = data[written:]


def _preload(modules: tuple[str, ...]) -> list[str]:
    failed = []
    for name in modules:
        try:
            module, _, loader = name.partition(":")
            imported = importlib.import_module(module)
            if loader:
                getattr(imported, loader)()
        except Exception as exc:  # an optional driver may be missing; the child imports what it needs itself
            failed.append(f"{name}: {exc}")
    return failed


def _reap(channel: _Channel) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel.send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _handle(line: bytes, channel: _Channel, *, base_path: list[str], private: tuple[int, ...]) -> None:
    try:
        request = json.loads(line)
        request_id = request["id"]
        target, env, cwd, log_file = request["target"], request["env"], request["cwd"], request["log"]
        argv = request.get("argv")
    except (ValueError, KeyError, TypeError) as exc:
        channel.send({"id": None, "error": f"bad request: {exc}"})
        return
    try:
        pid = os.fork()
    except OSError as exc:
        channel.send({"id": request_id, "error": str(exc)})
        return
    if pid == 0:
        _child(target, argv=argv, env=env, cwd=cwd, log_file=log_file, base_path=base_path, private=private)
    channel.send({"id": request_id, "pid": pid})


def _child(
    target: str,
    *,
    argv: list[str] | None,
    env: dict[str, str],
    cwd: str,
    log_file: str,
    base_path: list[str],
    private: tuple[int, ...],
) -> None:
    """Become the instance; never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for fd in private:
            with contextlib.suppress(OSError):
                os.close(fd)
        out = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=True, write_through=True)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.path[:] = _child_path(cwd, env.get("PYTHONPATH", ""), base_path)
        importlib.invalidate_caches()
        if argv:
            # As `python -m module args...`: runpy sets sys.argv[0] to the module's file.
            sys.argv = list(argv)
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
            code = 0
        else:
            sys.argv = ["baton.kit.serve", target]
            from baton.kit.serve import main as serve_main

            code = serve_main([target])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # What the interpreter would do at exit (atexit handlers: log and span flushes), then leave without
        # unwinding into the zygote's loop.
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _child_path(cwd: str, pythonpath: str, base_path: list[str]) -> list[str]:
    """``sys.path`` of ``python -m`` run in ``cwd`` with ``PYTHONPATH``, from the zygote's own (``-P``) path."""
    extra = [os.path.abspath(p) for p in pythonpath.split(os.pathsep) if p]
    path = [cwd]
    for entry in [*extra, *base_path]:
        if entry not in path:
            path.append(entry)
    return path


if __name__ == "__main__":
    sys.exit(main())
