"""The control plane daemon: embedded NATS, the supervisor and the API in one long-lived process.

Run with ``python -m baton.control -f baton.yaml`` (``baton up`` does it, detached). Exits:

* ``POST /v1/shutdown`` (``baton down``): every instance is stopped gracefully, then NATS, then the daemon;
* SIGTERM / SIGINT: the daemon alone exits; instances and NATS keep running (they live in their own
  sessions) and the next daemon re-adopts them from ``state.json``;
* ``kill -9``: same as above, minus the final state write (which is why adoption also sweeps for strays).

Security is on by default (:mod:`baton.security.plane`): the daemon opens the CA and the token issuer in its
home, issues every instance's leaf before spawning it (``BATON_TLS_DIR``), runs NATS with client certificates
required, serves renewals and service tokens on a mutual-TLS listener (``BATON_CONTROL_TLS_URL``) and probes,
scrapes and reads instances with its own leaf (``spiffe://baton.local/svc/control``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from baton.control.home import DEFAULT_CONTROL_PORT, DEFAULT_PORT_BASE, DaemonInfo, Home, resolve_home
from baton.control.launch import LaunchContext, enable_tls, local_secrets
from baton.control.manifest import Manifest, load_manifest
from baton.control.observe import ObservePolicy, Observer, targets_of
from baton.control.observe_logs import incident_logs
from baton.control.process import InstanceProcess
from baton.control.rotation import Rotation
from baton.control.state import ProcessRecord, StateFile
from baton.control.supervisor import Supervisor, SupervisorOptions, start_zygote, wants_zygote
from baton.control.zygote import ForkServer
from baton.errors import BrokerUnavailable, ControlError
from baton.events.server import DEFAULT_MONITOR_PORT, DEFAULT_PORT, EmbeddedNats, NatsServerConfig
from baton.security.plane import ControlPlaneSecurity
from baton.security.spiffe import spiffe_id
from baton.security.wiring import NATS_SERVICE, InstanceSecurity

log = logging.getLogger("baton.control.daemon")

GATEWAY_PORT = 7780
BUS_CLOSE_TIMEOUT = 5.0
"""Seconds the daemon waits for its discovery registry and NATS client to close on exit."""


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """Where the daemon listens and what it runs. Tests pass free ports."""

    manifest: Path
    home: Path | None = None
    """Data directory; default ``$BATON_HOME`` or ``.baton`` beside the manifest."""
    control_port: int = DEFAULT_CONTROL_PORT
    port_base: int = DEFAULT_PORT_BASE
    nats_port: int = DEFAULT_PORT
    nats_monitor_port: int | None = DEFAULT_MONITOR_PORT
    environment: str = "local"


class Daemon:
    """One control plane process for one manifest and home."""

    def __init__(self, options: DaemonOptions, *, zygote: ForkServer | None = None) -> None:
        """``zygote``: one already started for this home (``python -m baton.control`` starts it before importing
        this module); it is used when the manifest has ``module:`` services and closed otherwise."""
        self.options = options
        self._early_zygote = zygote
        self.manifest_path = options.manifest.resolve()
        self.manifest: Manifest = load_manifest(self.manifest_path)
        self.home = Home(options.home.resolve() if options.home else resolve_home(self.manifest_path))
        self.token = ""
        self.nats_url: str | None = None
        self.supervisor: Supervisor
        self._nats_server: EmbeddedNats | None = None
        self._nats_reloaded = False
        """Whether the adopted NATS server already re-read its files (its config changed) during this start."""
        self.security: ControlPlaneSecurity
        self._listener: socket.socket | None = None
        self._nats_client: Any = None
        self._registry: Any = None
        self._span_store: Any = None
        self._exit = asyncio.Event()
        self._stop_system = False
        self._started = time.time()

    async def run(self) -> None:
        """Serve until shutdown (stop everything) or a signal (detach).

        Raises:
            ControlError: another control plane already runs on this home.
            BrokerUnavailable, ConfigError: NATS could not be started.
        """
        self.home.root.mkdir(parents=True, exist_ok=True)
        with self._exclusive():
            # The zygote's preload (about a CPU-second) overlaps the CA, NATS and the rest of this start-up.
            zygote, self._early_zygote = self._early_zygote, None
            if not wants_zygote(self.manifest):
                if zygote is not None:
                    zygote.close()
                zygote = None
            elif zygote is None:
                zygote = start_zygote(self.home)
            self.token = self.home.admin_token(create=True) or ""
            control_url = f"http://127.0.0.1:{self.options.control_port}"
            self.security = await asyncio.to_thread(_open_security, self.home.root, control_url)
            self._listener = self.security.bind_listener()
            await self._start_nats()
            ctx = LaunchContext(
                manifest=self.manifest,
                manifest_dir=self.manifest_path.parent,
                home=self.home.root,
                nats_url=self.nats_url,
                environment=self.options.environment,
                control_url=control_url,
                telemetry_url=control_url if _available("baton.telemetry.receiver") else None,
                credentials=self.security.issue,
                control_tls_url=f"https://127.0.0.1:{self._listener.getsockname()[1]}",
                nats_tls=self._nats_server is not None,
            )
            rotation = Rotation()
            self.supervisor = Supervisor(
                ctx,
                home=self.home,
                rotation=rotation,
                options=SupervisorOptions(port_base=self.options.port_base),
                secrets=local_secrets(self.home.root),
                zygote=zygote,
            )
            self.supervisor.nats = self._nats_record()
            # Instances are launched first; everything below (NATS client, discovery, the API and its imports,
            # about a CPU-second) overlaps with their own start-up instead of delaying it.
            await self.supervisor.start()
            await self._connect_bus(rotation)
            # An adopted server (started by an earlier daemon) still holds the leaf it read at its start: reload it
            # now with the one written above; from then on both get renewed at half-life.
            nats = self.supervisor.nats
            reused = self._nats_server is not None and self._nats_server.reused and not self._nats_reloaded
            self.security.start(nats.pid if nats is not None else None, reload_now=reused)
            self._span_store = _span_store(self.home.root)
            await self._serve()

    async def shutdown(self) -> None:
        """Stop every instance gracefully; the daemon then stops NATS and exits."""
        self._stop_system = True
        await self.supervisor.stop_all()
        self._exit.set()

    def detach(self) -> None:
        """Exit without touching the instances (they keep serving; the next daemon re-adopts them)."""
        self._exit.set()

    def reload_manifest(self) -> Manifest:
        """Re-read the manifest from disk (for rolling restarts that pick up a new version).

        Raises:
            ManifestError: the file is now invalid; nothing changes.
        """
        return load_manifest(self.manifest_path)

    def system_view(self) -> dict[str, Any]:
        """Name, paths and URLs of the running system."""
        services: dict[str, str] = {}
        for view in self.supervisor.views():
            services.setdefault(view["service"], f"{view['url']}/docs")
        urls: dict[str, Any] = {
            "control": f"http://127.0.0.1:{self.options.control_port}",
            "dashboard": f"http://127.0.0.1:{self.options.control_port}/",
            "nats": self.nats_url,
            "services": services,
        }
        gateway = self.manifest.services.get("gateway")
        if gateway is not None:
            urls["gateway"] = f"http://127.0.0.1:{gateway.port or GATEWAY_PORT}"
        if self._nats_server is not None and self.options.nats_monitor_port:
            urls["nats_monitor"] = f"http://127.0.0.1:{self.options.nats_monitor_port}"
        return {
            "name": self.manifest.name,
            "manifest": str(self.manifest_path),
            "home": str(self.home.root),
            "pid": os.getpid(),
            "started_at": self._started,
            "urls": urls,
        }

    async def _serve(self) -> None:
        import uvicorn

        from baton.control.api import ApiServer, create_app

        observer = self._observer()
        app = create_app(self, span_store=self._span_store, observer=observer)
        app.state.nats = self._nats_client
        app.state.secrets = _secret_store(self.home.root)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.options.control_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            # Open dashboard event streams end when the observer stops; this bounds the wait if one lingers.
            timeout_graceful_shutdown=3,
        )
        server = ApiServer(config)
        serving = asyncio.create_task(server.serve(), name="control api")
        tls_server = self.security.listener_server(self.token)
        assert self._listener is not None
        tls_serving = asyncio.create_task(tls_server.serve(sockets=[self._listener]), name="control mTLS listener")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.detach)
        try:
            while not server.started:
                if serving.done():
                    await serving
                    raise ControlError(f"control API could not listen on port {self.options.control_port}")
                await asyncio.sleep(0.02)
            self.home.write_daemon(self._info())
            log.info("control plane ready", extra={"url": f"http://127.0.0.1:{self.options.control_port}"})
            async with observer.running():
                await self._exit.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if self._stop_system:
                await self.supervisor.stop_all()
            else:
                await self.supervisor.detach()
            server.should_exit = True
            tls_server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
            with contextlib.suppress(Exception):
                await tls_serving
            await self.security.stop()
            await self._close_bus()
            if self._span_store is not None:
                with contextlib.suppress(Exception):
                    await self._span_store.aclose()
            self.home.clear_daemon(os.getpid())

    def _observer(self) -> Observer:
        """The observation loop over the supervisor's instances (scrape, SLOs, incidents; see ``observe``)."""
        supervisor = self.supervisor
        return Observer.for_home(
            self.manifest,
            self.home.root,
            lambda: targets_of(supervisor.views()),
            span_store=self._span_store,
            policy=ObservePolicy.from_env(),
            logs=incident_logs(self.home, supervisor.views),
        )

    async def _start_nats(self) -> None:
        bus = self.manifest.backends.bus
        if bus != "embedded":
            self.nats_url = bus
        else:
            config = NatsServerConfig(
                store_dir=self.home.nats_store,
                port=self.options.nats_port,
                monitor_port=self.options.nats_monitor_port,
                tls=self.security.nats_block(self.manifest.services),
            )
            self._nats_server = EmbeddedNats(config, log_file=self.home.log_file("nats"))
            await asyncio.to_thread(self._nats_server.start)
            self.nats_url = self._nats_server.url
            if self._nats_server.reused:
                await self._admit_services(self._nats_server)

    async def _admit_services(self, server: EmbeddedNats) -> None:
        """Make a server an earlier daemon started admit this manifest's services before any instance starts.

        It still runs the ``authorization`` list of the manifest it was started for: a service added since (the
        manifest changed while the control plane was down) would be refused. Its config is rewritten and
        reloaded once, when the list changed, and a service it did not list is let in before this returns.
        """
        record = self._nats_record()
        if record is None:  # a server on the port that no daemon of this home started: not ours to reconfigure
            log.warning("NATS on %s was not started by this control plane; its config is left alone", server.url)
            return
        try:
            previous = server.config_path.read_text()
        except OSError:
            previous = ""
        if not await asyncio.to_thread(server.write_config):
            return
        if not self.security.reload_nats(record.pid):
            return
        self._nats_reloaded = True
        added = sorted(name for name in self.manifest.services if f'"{spiffe_id(name)}"' not in previous)
        log.info("NATS reloaded with the manifest's services", extra={"added": added})
        if added and not await self.security.nats_admits(server.url, added[0]):
            log.error("NATS did not admit %s after a reload; see %s", ", ".join(added), self.home.log_file("nats"))

    async def _connect_bus(self, rotation: Rotation) -> None:
        if self.nats_url is None:
            return
        try:
            import nats

            self._nats_client = await nats.connect(
                self.nats_url,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                name="baton-control",
                # The embedded server requires certificates; an external one is reached as configured.
                tls=self.security.instance.client_context(NATS_SERVICE) if self._nats_server is not None else None,
            )
        except Exception as exc:  # nats-py raises a variety of errors; translate at this boundary
            raise BrokerUnavailable(f"cannot connect to NATS at {self.nats_url}: {exc}") from exc
        if self.manifest.backends.discovery == "nats_kv":
            try:
                from baton.discovery.nats_kv import NatsKvRegistry
            except ImportError:  # discovery not installed in this build: supervise without registering
                return
            self._registry = NatsKvRegistry(self._nats_client)
            await rotation.attach(self._registry)

    def _nats_record(self) -> ProcessRecord | None:
        server = self._nats_server
        if server is None:
            return None
        if server.pid is not None:
            return ProcessRecord.of(server.pid)
        # Reused a server on the port: it is ours if the state file says an earlier daemon started it.
        saved = StateFile(self.home.state_file).load().nats
        return saved if saved is not None and saved.alive() else None

    async def _close_bus(self) -> None:
        # Bounded: a client stuck reconnecting must not keep `baton down` waiting.
        if self._registry is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(BUS_CLOSE_TIMEOUT):
                    await self._registry.aclose()
        if self._nats_client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(BUS_CLOSE_TIMEOUT):
                    await self._nats_client.close()
        if not self._stop_system:
            return
        if self._nats_server is not None and self._nats_server.pid is not None:
            await asyncio.to_thread(self._nats_server.stop)
        elif self.supervisor.nats is not None:
            adopted = InstanceProcess.adopt(self.supervisor.nats)
            if adopted is not None:
                await adopted.stop(10.0)
        self.supervisor.nats = None
        self.supervisor.save()

    def _info(self) -> DaemonInfo:
        return DaemonInfo(
            pid=os.getpid(),
            create_time=psutil.Process().create_time(),
            control_port=self.options.control_port,
            port_base=self.options.port_base,
            nats_url=self.nats_url or "",
            nats_monitor_port=self.options.nats_monitor_port if self._nats_server else None,
            manifest=str(self.manifest_path),
        )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        lock_path = self.home.root / "daemon.lock"
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = self.home.read_daemon()
                where = f" (pid {info.pid}, {info.url})" if info else ""
                raise ControlError(f"a control plane already runs for {self.home.root}{where}") from None
            yield


def _open_security(home: Path, control_url: str) -> ControlPlaneSecurity:
    """The CA, token issuer and the control plane's own leaf; installed as this process's identity."""
    security = ControlPlaneSecurity.open(home, control_url=control_url)
    InstanceSecurity.install(security.instance)
    enable_tls()
    return security


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _span_store(home: Path) -> Any:
    """The local trace store behind the telemetry receiver, when that building block is present."""
    try:
        from baton.telemetry.sqlite_spans import SqliteSpanStore, default_span_db
    except ImportError:
        return None
    try:
        return SqliteSpanStore(default_span_db(home))
    except Exception as exc:  # a broken trace store must not keep the control plane down
        log.error("trace store unavailable: %s", exc)
        return None


def _secret_store(home: Path) -> Any:
    try:
        from baton.security.secrets import LocalSecretStore
    except ImportError:
        return None
    try:
        return LocalSecretStore.open(home)
    except Exception as exc:  # a broken key file must not keep the control plane down
        log.error("secret store unavailable: %s", exc)
        return None
