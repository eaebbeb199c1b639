"""TLS benchmark: hello over plain HTTP vs over mTLS with service-token verification, in the same run.

Layout (2 cores): the server (uvicorn, uvloop + httptools, one process) is pinned to core 0, the load
generator (aiohttp, keep-alive, a fixed number of connections) to core 1. The server's CPU time (user + system,
from psutil) is measured over a fixed number of requests after a warm-up, for each mode in turn:

* ``plain``: ``GET /v1/hello`` over HTTP, no authentication — the reference;
* ``mtls``: the same app behind ``ServiceTokenAuth`` (EdDSA JWT, verified locally, cached until expiry) and
  ``SpiffeAuthorization`` (per-route SPIFFE allow list), served over TLS 1.3 with client certificates from
  the Baton CA; the client presents its leaf and a service token on every request.

Metric: server CPU per request, mTLS+token ÷ plain. Target: ≤ 1.3. Keep-alive is on, as between services.

    .venv/bin/python bench/tls.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3
SERVER_CORE, CLIENT_CORE = 0, 1


# -- server process: ``bench/tls.py --serve plain|mtls --port N --dir D`` -----------------------------------


def serve(mode: str, port: int, directory: Path) -> None:
    """Run the hello app in ``mode`` until killed."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: object) -> JSONResponse:
        return JSONResponse({"message": "hello"})

    app: object = Starlette(routes=[Route("/v1/hello", hello)])
    options: dict[str, object] = {"http": "httptools"}
    if mode in ("mtls", "tlsonly", "token"):
        from baton.security.mtls import Credentials, SpiffeAuthorization, server_context, uvicorn_tls_options
        from baton.security.tokens import ServiceTokenAuth, StaticJwksFetcher, TokenVerifier

        creds = Credentials.read(directory / "server")
        jwks = json.loads((directory / "jwks.json").read_text())
        verifier = TokenVerifier("https://control.bench", StaticJwksFetcher(lambda: jwks), "hello")
        if mode == "mtls":
            app = SpiffeAuthorization(app, allow={"/v1/hello": ["client"]})  # type: ignore[arg-type]
        if mode in ("mtls", "token"):
            app = ServiceTokenAuth(app, verifier)  # type: ignore[arg-type]
        if mode != "token":
            options = uvicorn_tls_options(server_context(creds.leaf, creds.bundle_pem))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, loop="uvloop", **options)  # type: ignore[arg-type]


# -- load generator -----------------------------------------------------------------------------------------


async def load(url: str, *, requests: int, connections: int, ssl: object, token: str | None) -> float:
    """Send ``requests`` GETs over ``connections`` keep-alive connections; return the elapsed seconds."""
    import aiohttp

    headers = {"X-Baton-Service-Token": token} if token else {}
    connector = aiohttp.TCPConnector(limit=connections, ssl=ssl)  # type: ignore[arg-type]
    remaining = requests
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"HTTP {answer.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - started


def free_port() -> int:
    from baton.events.server import free_port as pick

    return pick()


def measure(mode: str, directory: Path, *, requests: int, warmup: int, connections: int) -> dict[str, float]:
    """Start the server in ``mode``, warm up, then measure its CPU over ``requests`` requests."""
    from baton.testing import wait_until_sync

    port = free_port()
    command = [sys.executable, __file__, "--serve", mode, "--port", str(port), "--dir", str(directory)]
    server = subprocess.Popen(command, cwd=ROOT)
    try:
        _pin(server.pid, SERVER_CORE)
        proc = psutil.Process(server.pid)
        wait_until_sync(lambda: _listening(port), timeout=20, message=f"{mode} server did not start")
        ssl_context: object = False
        token = None
        scheme = "http"
        if mode in ("mtls", "tlsonly"):
            from baton.security.mtls import Credentials, client_context, only

            creds = Credentials.read(directory / "client")
            ssl_context = client_context(creds.leaf, creds.bundle_pem, expect=only("hello"))
            scheme = "https"
        if mode in ("mtls", "token"):
            token = (directory / "token").read_text()
        url = f"{scheme}://127.0.0.1:{port}/v1/hello"
        asyncio.run(load(url, requests=warmup, connections=connections, ssl=ssl_context, token=token))
        before = proc.cpu_times()
        elapsed = asyncio.run(load(url, requests=requests, connections=connections, ssl=ssl_context, token=token))
        after = proc.cpu_times()
    finally:
        server.terminate()
        server.wait(10)
    cpu = (after.user - before.user) + (after.system - before.system)
    return {"cpu_us_per_req": cpu / requests * 1e6, "req_per_s": requests / elapsed}


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(pid, {core})


def prepare(directory: Path) -> None:
    """A CA, server and client leaves, an issuer's JWKS and one service token, written for both sides."""
    from datetime import timedelta

    from baton.security.ca import CertificateAuthority
    from baton.security.crypto import Keyring, MasterKey
    from baton.security.mtls import Credentials
    from baton.security.tokens import TokenIssuer

    ca = CertificateAuthority.open(directory / "home", keyring=Keyring(MasterKey.generate()))
    Credentials(ca.issue_leaf("hello", "hello-1"), ca.trust_bundle()).write(directory / "server")
    Credentials(ca.issue_leaf("client", "client-1"), ca.trust_bundle()).write(directory / "client")
    issuer = TokenIssuer("https://control.bench")
    (directory / "jwks.json").write_text(json.dumps(issuer.jwks()))
    ttl = timedelta(minutes=10).total_seconds()
    (directory / "token").write_text(issuer.issue(sub="client", aud="hello", ttl=ttl))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shortened run (≤ 60 s)")
    parser.add_argument("--serve", choices=["plain", "mtls", "tlsonly", "token"], help=argparse.SUPPRESS)
    parser.add_argument("--modes", default="plain,mtls", help="modes to compare (diagnosis: tlsonly, token)")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.dir)
        return 0

    requests, warmup, rounds = (4000, 500, 2) if args.quick else (30000, 3000, 3)
    connections = 8
    _pin(os.getpid(), CLIENT_CORE)
    modes = args.modes.split(",")
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="baton-bench-tls-") as tmp:
        directory = Path(tmp)
        prepare(directory)
        for _ in range(rounds):  # alternate modes so drift on a shared machine hits both alike
            for mode in modes:
                results[mode].append(
                    measure(mode, directory, requests=requests, warmup=warmup, connections=connections)
                )

    def best(mode: str, key: str, pick: type[min] | type[max]) -> float:
        return pick(r[key] for r in results[mode])  # type: ignore[operator]

    subject = modes[-1]  # compared against the first mode (plain unless --modes says otherwise)
    plain_cpu, mtls_cpu = best(modes[0], "cpu_us_per_req", min), best(subject, "cpu_us_per_req", min)
    ratio = mtls_cpu / plain_cpu
    machine = platform.processor() or platform.machine()
    print(
        f"machine: {machine}, {os.cpu_count()} cpus, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )
    print(f"requests per round: {requests} (+{warmup} warm-up), {connections} keep-alive connections, {rounds} rounds")
    for mode in modes:
        cpus = ", ".join(f"{r['cpu_us_per_req']:.1f}" for r in results[mode])
        rates = ", ".join(f"{r['req_per_s']:.0f}" for r in results[mode])
        print(f"{mode:>5}: server CPU µs/req [{cpus}]  req/s [{rates}]")
    print(f"ratio (mTLS + token ÷ plain, best rounds): {ratio:.2f}x  (target ≤ {TARGET})")
    print(
        json.dumps(
            {
                "bench": "tls",
                "metric": "server_cpu_per_request_ratio_mtls_token_vs_plain",
                "value": round(ratio, 3),
                "target": f"<= {TARGET}",
                "met": ratio <= TARGET,
                "plain_cpu_us_per_req": round(plain_cpu, 2),
                "mtls_cpu_us_per_req": round(mtls_cpu, 2),
                "plain_req_per_s": round(best(modes[0], "req_per_s", max)),
                "mtls_req_per_s": round(best(subject, "req_per_s", max)),
                "modes": modes,
                "quick": args.quick,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
