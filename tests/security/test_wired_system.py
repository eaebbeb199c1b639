"""Security on by default: a real control plane runs two kit services over mutual TLS with service tokens.

One module-scoped system (``front`` calls ``back``; ``back`` allows ``/v1/echo`` to ``front`` only and
``/v1/admin`` to nobody) and the attacks against it: no client certificate, a foreign CA, an identity not on
the route's list, no token, a token for another audience, NATS without a certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio

from baton.control.adoption import find_strays
from baton.control.home import Home
from baton.errors import ControlError
from baton.events.server import free_port
from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls import ControlPlaneCertificateSource, client_context, only
from baton.security.operator import OperatorAccess
from baton.security.plane import LISTENER_PORT_FILE
from baton.security.tokens import ControlPlaneTokenSource
from baton.security.wiring import CONTROL_SERVICE, TOKEN_HEADER
from baton.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

PEERS = Path(__file__).with_name("peers")
PROBES = {"interval": 0.2, "timeout": 1.0, "failure_threshold": 3}


@dataclass
class System:
    root: Path
    home: Home
    control_url: str
    nats_url: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    _operator: OperatorAccess | None = None

    @property
    def operator(self) -> OperatorAccess:
        if self._operator is None:
            self._operator = OperatorAccess.for_control(self.control_url, self.home.admin_token() or "")
        return self._operator

    async def start(self) -> None:
        self.process = _spawn(self.argv, self.root / "daemon.out")
        await wait_until(self._ready, timeout=60, interval=0.1, message="both instances ready over mTLS")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError((self.root / "daemon.out").read_text()[-3000:])
        with contextlib.suppress(httpx.HTTPError, OSError):
            answer = httpx.get(self.control_url + "/v1/instances", headers=self.admin())
            views = answer.json() if answer.status_code == 200 else []
            return len(views) == 2 and all(v["ready"] for v in views)
        return False

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.admin_token()}"}

    def instances(self) -> list[dict[str, Any]]:
        answer = httpx.get(self.control_url + "/v1/instances", headers=self.admin(), timeout=30)
        answer.raise_for_status()
        views: list[dict[str, Any]] = answer.json()
        return views

    def url_of(self, service: str) -> str:
        return next(str(v["url"]) for v in self.instances() if v["service"] == service)

    def as_service(self, service: str) -> OperatorAccess:
        return OperatorAccess.for_control(self.control_url, self.home.admin_token() or "", service=service)


def _manifest(root: Path) -> Path:
    common = {"cwd": str(PEERS), "probes": PROBES, "drain_delay": 0, "stop_timeout": 5}
    services = {
        "back": {"module": "peers:back", "allow": {"/v1/echo": ["front"], "/v1/admin": []}, **common},
        "front": {"module": "peers:front", "depends_on": ["back"], **common},
    }
    path = root / "baton.yaml"
    path.write_text(json.dumps({"name": "wired", "services": services}))  # JSON is YAML
    return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    root = tmp_path_factory.mktemp("wired")
    manifest = _manifest(root)
    home = Home(root / ".baton")
    home.root.mkdir(parents=True)
    control_port, nats_port = free_port(), free_port()
    argv = [sys.executable, "-m", "baton.control", "-f", str(manifest), "--home", str(home.root)]
    argv += ["--control-port", str(control_port), "--port-base", str(free_port()), "--nats-port", str(nats_port)]
    argv += ["--nats-monitor-port", "0"]
    control_url = f"http://127.0.0.1:{control_port}"
    system = System(root, home, control_url, f"nats://127.0.0.1:{nats_port}", argv)
    try:
        await system.start()
        yield system
    finally:
        if system.process is not None:
            await asyncio.to_thread(_stop, system.process, control_url, home)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def _stop(process: subprocess.Popen[bytes], control_url: str, home: Home) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(control_url + "/v1/shutdown", headers={"Authorization": f"Bearer {home.admin_token()}"})
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(30)
    if process.poll() is None:
        process.kill()
    for record in find_strays(home.root):
        if record.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)


async def test_instances_serve_https_and_the_peer_call_succeeds_over_mtls(system: System) -> None:
    assert system.url_of("back").startswith("https://")
    assert system.url_of("front").startswith("https://")
    async with system.operator.async_client() as http:
        answer = await http.get(system.url_of("front") + "/v1/relay")
    assert answer.status_code == 200, answer.text
    # back saw front's certificate and front's service token, sent by the kit's client on its own.
    assert answer.json() == {"back": {"peer": "spiffe://baton.local/svc/front", "subject": "front"}}


def _handshake_refused(url: str, context: ssl.SSLContext) -> bool:
    try:
        httpx.get(url + "/livez", verify=context, timeout=10)
    except httpx.ConnectError:
        return True
    except httpx.RemoteProtocolError:  # TLS 1.3: the alert may arrive as the connection closing
        return True
    return False


async def test_without_a_client_certificate_the_handshake_fails(system: System) -> None:
    bundle = system.operator.credentials.bundle_pem
    assert _handshake_refused(system.url_of("back"), client_context(None, bundle))


async def test_a_certificate_from_a_foreign_ca_fails_the_handshake(system: System, tmp_path: Path) -> None:
    foreign = CertificateAuthority.open(tmp_path / "elsewhere", keyring=Keyring(MasterKey.generate()))
    context = client_context(foreign.issue_leaf("front", "front-1"), system.operator.credentials.bundle_pem)
    assert _handshake_refused(system.url_of("back"), context)


async def test_an_identity_not_on_the_routes_list_is_forbidden(system: System) -> None:
    back = system.url_of("back")
    async with system.operator.async_client() as http:
        denied = await http.get(back + "/v1/echo")
        nobody = await http.get(back + "/v1/admin")
        open_route = await http.get(back + "/v1/open")
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert nobody.status_code == 403
    assert open_route.status_code == 200
    assert open_route.json() == {"peer": "spiffe://baton.local/svc/operator"}


async def test_without_a_service_token_or_with_one_for_another_audience_401(system: System) -> None:
    as_front = system.as_service("front")
    back = system.url_of("back")
    async with httpx.AsyncClient(verify=as_front.ssl_context("back"), timeout=30) as http:
        missing = await http.get(back + "/v1/echo")
        elsewhere = await http.get(back + "/v1/echo", headers={TOKEN_HEADER: as_front.token_for("front")})
        right = await http.get(back + "/v1/echo", headers={TOKEN_HEADER: as_front.token_for("back")})
        probe = await http.get(back + "/readyz")
    assert missing.status_code == 401
    assert elsewhere.status_code == 401
    assert "aud" not in elsewhere.text  # the reason stays in the logs
    assert right.status_code == 200
    assert right.json()["subject"] == "front"
    assert probe.status_code == 200  # probes need the certificate only


async def test_nats_refuses_a_connection_without_a_client_certificate(system: System) -> None:
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    with pytest.raises(Exception):  # noqa: B017,PT011 - nats-py raises assorted errors for a refused TLS
        await nats.connect(
            system.nats_url, allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0, error_cb=record
        )
    client = await nats.connect(system.nats_url, tls=system.operator.nats_context(), connect_timeout=5)
    try:
        assert client.is_connected
    finally:
        await client.close()


async def test_instances_renew_and_get_tokens_with_their_own_certificate_only(system: System) -> None:
    port = (system.home.root / LISTENER_PORT_FILE).read_text().strip()
    listener = f"https://127.0.0.1:{port}"
    front = system.as_service("front").credentials
    to_control = client_context(front.leaf, front.bundle_pem, expect=only(CONTROL_SERVICE))
    renewed = await ControlPlaneCertificateSource(
        listener, service="front", instance="front-9", ssl_context=to_control
    ).fetch()
    assert renewed.leaf.spiffe_id == "spiffe://baton.local/svc/front"
    assert renewed.leaf.fullchain_pem != front.leaf.fullchain_pem
    with pytest.raises(ControlError, match="HTTP 403"):
        await ControlPlaneCertificateSource(listener, service="back", instance="back-9", ssl_context=to_control).fetch()
    issued = await ControlPlaneTokenSource(listener, subject="front", ssl_context=to_control).issue("back")
    assert issued.token.count(".") == 2
    with pytest.raises(ControlError, match="HTTP 403"):
        await ControlPlaneTokenSource(listener, subject="back", ssl_context=to_control).issue("front")
    # Without a certificate the listener does not even finish the handshake.
    bare = client_context(None, front.bundle_pem, expect=only(CONTROL_SERVICE))
    with pytest.raises(ControlError, match="unreachable"):
        await ControlPlaneTokenSource(listener, subject="front", ssl_context=bare).issue("back")


async def test_a_restarted_control_plane_readopts_instances_that_keep_talking_mtls(system: System) -> None:
    """Runs last: the daemon dies (kill -9); instances keep serving; the next daemon adopts them, NATS and the
    listener stay where the instances expect them, and a new peer call (new connections) succeeds."""
    before = {v["id"]: v["pid"] for v in system.instances()}
    listener = (system.home.root / LISTENER_PORT_FILE).read_text()
    assert system.process is not None
    system.process.kill()
    await asyncio.to_thread(system.process.wait)
    await system.start()
    assert {v["id"]: v["pid"] for v in system.instances()} == before
    assert (system.home.root / LISTENER_PORT_FILE).read_text() == listener
    async with system.operator.async_client() as http:
        answer = await http.get(system.url_of("front") + "/v1/relay")
    assert answer.status_code == 200, answer.text
    client = await nats.connect(system.nats_url, tls=system.operator.nats_context(), connect_timeout=5)
    await client.close()
