"""The control plane's side of mutual TLS: its CA and token issuer, leaves for instances and NATS, its own identity.

The daemon (:mod:`baton.control.daemon`) holds one :class:`ControlPlaneSecurity`::

    security = ControlPlaneSecurity.open(home, control_url="http://127.0.0.1:7700")
    tls_dir = security.issue("inventory", "inventory-1")     # before spawning: BATON_TLS_DIR=<tls_dir>
    nats = NatsServerConfig(..., tls=security.nats_block(["order", "inventory", ...]))
    listener = security.bind_listener()                      # BATON_CONTROL_TLS_URL: renewals and tokens
    await security.listener_server(admin_token).serve(sockets=[listener])

It also holds the control plane's own leaf (``spiffe://baton.local/svc/control``, :attr:`instance`, installed as
the process's :meth:`~baton.security.wiring.InstanceSecurity.current`), used for probes, scrapes and every other
call the control plane makes on instances, and for its NATS connection.

The mutual-TLS listener serves only the security routes (:mod:`baton.security.api`): an instance renews its
own leaf and gets service tokens in its own name by presenting its certificate. The operator interface on
``127.0.0.1:7700`` stays plain HTTP with the admin token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from baton.security.ca import CertificateAuthority
from baton.security.crypto import write_private
from baton.security.mtls.contexts import client_context, only
from baton.security.mtls.credentials import Credentials, LocalCertificateSource
from baton.security.mtls.nats import nats_tls_block
from baton.security.tokens.issuer import TokenIssuer
from baton.security.tokens.provider import LocalTokenSource
from baton.security.wiring import CONTROL_SERVICE, JWKS_FILE, NATS_SERVICE, InstanceSecurity

if TYPE_CHECKING:
    from fastapi import FastAPI

    from baton.kit.component import InstanceContext

log = logging.getLogger("baton.security.plane")

CERTS_DIR = "certs"
"""Under the home: one directory of credentials per instance (``certs/<instance>/``)."""
LISTENER_PORT_FILE = "control-tls.port"
"""Under the home: the mTLS listener's port, reused by the next daemon so adopted instances keep reaching it."""
ADMISSION_TIMEOUT = 5.0
"""Seconds :meth:`ControlPlaneSecurity.nats_admits` waits for a reloaded NATS server to admit a service."""
ADMISSION_POLL = 0.02
"""Seconds between its connection attempts."""
OPERATOR_SERVICE = "operator"
"""The identity tools and tests use to call instances directly (``POST /v1/certificates`` with the admin token)."""


class ControlPlaneSecurity:
    """CA, token issuer and the control plane's own identity, all under one home."""

    def __init__(self, home: Path, ca: CertificateAuthority, issuer: TokenIssuer) -> None:
        self.home = home
        self.ca = ca
        self.issuer = issuer
        self.certs = home / CERTS_DIR
        own = self.certs / CONTROL_SERVICE
        credentials = Credentials(ca.issue_leaf(CONTROL_SERVICE, CONTROL_SERVICE), ca.trust_bundle())
        credentials.write(own)
        self.instance = InstanceSecurity(
            CONTROL_SERVICE,
            credentials,
            certificates=LocalCertificateSource(ca, CONTROL_SERVICE, CONTROL_SERVICE),
            tokens=LocalTokenSource(issuer, CONTROL_SERVICE),
            issuer=issuer.issuer,
            store=own,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def open(cls, home: Path, *, control_url: str) -> ControlPlaneSecurity:
        """Open (or create) the CA and the issuer of ``home``; tokens name ``control_url`` as their issuer."""
        return cls(home, CertificateAuthority.open(home), TokenIssuer.open(home, issuer=control_url))

    def issue(self, service: str, instance: str) -> Path:
        """Issue a fresh leaf for ``instance`` of ``service``, write it to ``certs/<instance>/`` and return that.

        The token issuer's current JWKS goes beside it (:data:`~baton.security.wiring.JWKS_FILE`): an instance
        (re)started while the control plane is down still verifies service tokens.
        """
        directory = self.certs / instance
        Credentials(self.ca.issue_leaf(service, instance), self.ca.trust_bundle()).write(directory)
        self._write_jwks(directory)
        return directory

    def rotate_signing_key(self) -> str:
        """Rotate the token issuer's keys and rewrite the JWKS beside every issued leaf; the new active ``kid``."""
        kid = self.issuer.rotate()
        for directory in sorted(self.certs.iterdir()) if self.certs.is_dir() else ():
            if (directory / JWKS_FILE).is_file():
                self._write_jwks(directory)
        return kid

    def _write_jwks(self, directory: Path) -> None:
        write_private(directory / JWKS_FILE, json.dumps(self.issuer.jwks()))

    def nats_block(self, services: Iterable[str]) -> str:
        """Issue the NATS server's leaf and render its ``tls`` block admitting ``services`` (by SPIFFE ID).

        The control plane itself and the operator identity are always admitted.
        """
        directory = self.issue(NATS_SERVICE, NATS_SERVICE)
        names = sorted({*services, CONTROL_SERVICE, OPERATOR_SERVICE})
        return nats_tls_block(directory, services=names)

    def reload_nats(self, pid: int) -> bool:
        """Make the NATS server re-read its configuration and files (``SIGHUP``); ``False`` when it is gone."""
        return _reload(pid)

    async def nats_admits(self, url: str, service: str, *, timeout: float = ADMISSION_TIMEOUT) -> bool:
        """Whether the NATS server at ``url`` accepts a client of ``service`` within ``timeout`` seconds.

        A server applies a reloaded ``authorization`` list shortly after its ``SIGHUP``, not before the signal
        returns: this connects with a fresh leaf of ``service`` until one is let in.
        """
        import nats

        async def quiet(exc: Exception) -> None:  # refusals are expected until the reload lands
            return None

        context = client_context(
            self.ca.issue_leaf(service, f"{service}-admission"), self.ca.trust_bundle(), expect=only(NATS_SERVICE)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                client = await nats.connect(
                    url, tls=context, allow_reconnect=False, connect_timeout=1, error_cb=quiet, name="baton-admission"
                )
            except Exception:  # nats-py raises a variety of errors for a refused client
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(ADMISSION_POLL)
                continue
            await client.close()
            return True

    def bind_listener(self, host: str = "127.0.0.1") -> socket.socket:
        """Bind the mTLS listener's socket now (so its URL can go into instances' environments before it
        serves); the port of the previous daemon when free, else any."""
        port_file = self.home / LISTENER_PORT_FILE
        wanted = 0
        with contextlib.suppress(OSError, ValueError):
            wanted = int(port_file.read_text().strip())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted))
        except OSError:
            sock.bind((host, 0))
        sock.listen(128)
        port_file.write_text(str(sock.getsockname()[1]))
        return sock

    def listener_app(self, admin_token: str) -> FastAPI:
        """The app of the mTLS listener: only the security routes."""
        from fastapi import FastAPI

        from baton.errors import BatonError
        from baton.kit.problems import problem_response, problem_type
        from baton.security.api import security_router

        app = FastAPI(title="Baton control plane (mTLS)", docs_url=None, redoc_url=None, openapi_url=None)
        app.state.token = admin_token
        app.include_router(security_router(self.ca, self.issuer))

        async def problem(request: Any, exc: BatonError) -> Any:
            return problem_response(
                exc.status, type=problem_type(type(exc)), title=exc.title, detail=exc.message, instance=request.url.path
            )

        app.add_exception_handler(BatonError, problem)  # type: ignore[arg-type]
        return app

    def listener_server(self, admin_token: str) -> Any:
        """A ``uvicorn.Server`` for :meth:`listener_app` over mutual TLS; run ``serve(sockets=[sock])`` with the
        socket of :meth:`bind_listener`, stop with ``should_exit = True``. It leaves signals to the daemon."""
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn.Config(
            self.listener_app(admin_token),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            **self.instance.uvicorn_options(),
        )
        return Server(config)

    def start(self, nats_pid: int | None = None, *, reload_now: bool = False) -> None:
        """Renew the control plane's leaf (and the NATS server's, reloading it) at half-life, in the background.

        Args:
            nats_pid: the embedded server's process (``None``: an external NATS, not ours to reload).
            reload_now: make the server re-read its files at once (an adopted server with an older leaf).
        """
        self._tasks.append(asyncio.create_task(self._renew_own(), name="baton-control-certificate"))
        if nats_pid is not None:
            if reload_now:
                _reload(nats_pid)
            self._tasks.append(asyncio.create_task(self._renew_nats(nats_pid), name="baton-nats-certificate"))

    async def stop(self) -> None:
        """Stop renewing."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.instance.renewer.stop()

    async def _renew_own(self) -> None:
        # The renewer reads nothing from the instance context; the control plane has none.
        await self.instance.renewer.start(cast("InstanceContext", None))

    async def _renew_nats(self, pid: int) -> None:
        directory = self.certs / NATS_SERVICE
        while True:
            leaf = Credentials.read(directory).leaf
            wait = (leaf.renew_at() - datetime.now(UTC)).total_seconds()
            if wait > 0:
                # A timer, not synchronisation: the renewal is due at a wall-clock time.
                await asyncio.sleep(wait)
            self.issue(NATS_SERVICE, NATS_SERVICE)
            if not _reload(pid):
                return
            log.info("nats certificate renewed")


def _reload(pid: int) -> bool:
    """SIGHUP: nats-server re-reads its configuration and certificate files. ``False`` when it is gone."""
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True
