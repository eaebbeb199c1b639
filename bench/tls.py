"""TLS benchmark: hello over plain HTTP vs over mTLS with service-token verification, in the same run.

Layout (2 cores): the server (uvicorn, uvloop + httptools, one process) is pinned to core 0, the load
generator (aiohttp, keep-alive, a fixed number of connections) to core 1. The server's CPU time (user + system,
from psutil) is measured over a fixed number of requests after a warm-up, for each mode in turn:

* ``plain``: ``GET /v1/hello`` over HTTP, no authentication — the reference;
* ``mtls``: the same app behind ``ServiceTokenAuth`` (EdDSA JWT, verified locally, cached until expiry) and
  ``SpiffeAuthorization`` (per-route SPIFFE allow list), served over TLS 1.3 with client certificates from
  the Baton CA; the client presents its leaf and a service token on every request.

Metric: server CPU per request, mTLS+token ÷ plain. Target: ≤ 1.3. Keep-alive is on, as between services: the
measured requests run on the connections the warm-up opened, so no handshake falls into the measurement (the
CPU of a new connection — TCP accept, or TLS handshake with both chains verified — is measured apart, with
``force_close`` connections, and printed beside). Server CPU is the process's scheduler runtime
(``/proc/<pid>/task/*/schedstat``, nanoseconds; psutil's 10 ms ticks elsewhere), so the figure is CPU the
server used, not throughput, which a shared machine's load would skew.

``--callgrind`` runs each server under ``valgrind --tool=callgrind`` instead and counts the instructions it
executes per request (user space only: the kernel's share is not counted), which no load on the machine
changes; the counters are zeroed after the warm-up and dumped after the measured requests. ``--keep DIR`` keeps
the dumps (``callgrind.<mode>.<port>.1`` holds the measured requests) for ``callgrind_annotate``, per function;
``--modes plain,tlsonly,mtls`` splits TLS's share from the middlewares'. Under ``--callgrind`` every server
runs with ``PYTHONHASHSEED=0`` (unless set): the count moves by ~±1k instructions per request with the seed.

``--syscalls`` counts the server's system calls per request instead (``strace -c -f`` attached for the measured
requests only), with the calls per name: whether TLS adds reads, writes or wake-ups.

    .venv/bin/python bench/tls.py [--quick] [--callgrind [--keep DIR] | --syscalls] [--modes plain,tlsonly,token,mtls]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
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


async def drive(
    url: str,
    server: Server,
    *,
    requests: int,
    warmup: int,
    connections: int,
    handshakes: int,
    ssl: object,
    token: str | None,
) -> dict[str, float]:
    """Warm up, then measure ``requests`` GETs on the same keep-alive connections, then ``handshakes`` GETs on
    a new connection each; the server's cost of each phase comes from ``server``."""
    import aiohttp

    headers = {"X-Baton-Service-Token": token} if token else {}

    async def send(session: aiohttp.ClientSession, count: int, parallel: int) -> None:
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"HTTP {answer.status}")

        await asyncio.gather(*(worker() for _ in range(parallel)))

    connector = aiohttp.TCPConnector(limit=connections, ssl=ssl)  # type: ignore[arg-type]
    async with aiohttp.ClientSession(connector=connector) as session:
        await send(session, warmup, connections)
        server.zero()
        started = time.perf_counter()
        await send(session, requests, connections)
        elapsed = time.perf_counter() - started
        per_request = server.cost() / requests
    result = {"per_req": per_request, "req_per_s": requests / elapsed}
    result.update({f"syscall:{name}": calls / requests for name, calls in server.calls.items()})
    if handshakes:
        closing = aiohttp.TCPConnector(limit=1, ssl=ssl, force_close=True)  # type: ignore[arg-type]
        async with aiohttp.ClientSession(connector=closing) as session:
            server.zero()
            await send(session, handshakes, 1)
            result["per_conn"] = server.cost() / handshakes - per_request
    return result


class Server:
    """The server process under measurement: its CPU nanoseconds, (``callgrind``) its instruction count or
    (``syscalls``) the system calls it makes, counted by ``strace -c -f`` attached between zero and cost."""

    def __init__(
        self, process: subprocess.Popen[bytes], *, callgrind: Path | None, syscalls: Path | None = None
    ) -> None:
        self.process = process
        self.callgrind = callgrind
        self.syscalls = syscalls
        self.calls: dict[str, int] = {}
        """With ``syscalls``: calls per system call name over the last zero..cost span."""
        self._mark = 0.0
        self._strace: subprocess.Popen[bytes] | None = None

    def zero(self) -> None:
        """Start counting from now."""
        if self.callgrind is not None:
            subprocess.run(["callgrind_control", "--zero", str(self.process.pid)], check=True, capture_output=True)
        elif self.syscalls is not None:
            command = ["strace", "-c", "-f", "-o", str(self.syscalls), "-p", str(self.process.pid)]
            self._strace = subprocess.Popen(command, stderr=subprocess.PIPE)
            assert self._strace.stderr is not None
            self._strace.stderr.readline()  # "strace: Process N attached": counting from here
        else:
            self._mark = self._cpu()

    def cost(self) -> float:
        """CPU µs (or instructions, or system calls) since :meth:`zero`."""
        if self._strace is not None and self.syscalls is not None:
            self._strace.send_signal(signal.SIGINT)
            self._strace.communicate(timeout=60)
            self._strace = None
            self.calls = _strace_counts(self.syscalls.read_text())
            return float(self.calls.pop("total"))
        if self.callgrind is None:
            return (self._cpu() - self._mark) / 1e3
        before = set(self.callgrind.parent.glob(self.callgrind.name + "*"))
        subprocess.run(["callgrind_control", "--dump", str(self.process.pid)], check=True, capture_output=True)
        (dump,) = set(self.callgrind.parent.glob(self.callgrind.name + "*")) - before
        for line in dump.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return float(line.split()[1])
        raise RuntimeError(f"no totals in {dump}")

    def _cpu(self) -> float:
        """Nanoseconds on a CPU, all threads (scheduler accounting; psutil's tick-based times as a fallback)."""
        tasks = Path(f"/proc/{self.process.pid}/task")
        if tasks.is_dir():
            return float(sum(int((task / "schedstat").read_text().split()[0]) for task in tasks.iterdir()))
        times = psutil.Process(self.process.pid).cpu_times()
        return (times.user + times.system) * 1e9


def _strace_counts(summary: str) -> dict[str, int]:
    """``{syscall: calls, "total": calls}`` from ``strace -c``'s table (its errors column may be empty)."""
    counts: dict[str, int] = {}
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def free_port() -> int:
    from baton.events.server import free_port as pick

    return pick()


def measure(
    mode: str,
    directory: Path,
    *,
    requests: int,
    warmup: int,
    connections: int,
    handshakes: int,
    callgrind: bool,
    syscalls: bool = False,
) -> dict[str, float]:
    """Start the server in ``mode``, warm up, then measure its CPU (or instructions, or syscalls) per request."""
    from baton.testing import wait_until_sync

    port = free_port()
    command = [sys.executable, __file__, "--serve", mode, "--port", str(port), "--dir", str(directory)]
    out: Path | None = None
    env = dict(os.environ)
    if callgrind:
        out = directory / f"callgrind.{mode}.{port}"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", *command]
        # One string-hash seed for every server: dict layouts (and so probe counts) vary with it by ~±1k
        # instructions per request, which would blur A/B comparisons of a few thousand.
        env.setdefault("PYTHONHASHSEED", "0")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL if callgrind else None)
    try:
        _pin(process.pid, SERVER_CORE)
        wait_until_sync(
            lambda: _listening(port) or process.poll() is not None,
            timeout=300,  # valgrind's start on a loaded machine
            message=f"{mode} server did not start",
        )
        if process.poll() is not None:
            raise RuntimeError(f"{mode} server exited with {process.returncode} before listening")
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
        server = Server(process, callgrind=out, syscalls=directory / f"strace.{mode}" if syscalls else None)
        return asyncio.run(
            drive(
                url,
                server,
                requests=requests,
                warmup=warmup,
                connections=connections,
                handshakes=handshakes,
                ssl=ssl_context,
                token=token,
            )
        )
    finally:
        process.terminate()
        process.wait(60)


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
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind, not CPU time")
    parser.add_argument(
        "--keep", type=Path, help="with --callgrind: copy the dumps here (callgrind_annotate them per function)"
    )
    parser.add_argument(
        "--syscalls", action="store_true", help="count the server's system calls per request (strace -c -f)"
    )
    parser.add_argument("--serve", choices=["plain", "mtls", "tlsonly", "token"], help=argparse.SUPPRESS)
    parser.add_argument("--modes", default="plain,mtls", help="modes to compare (diagnosis: tlsonly, token)")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.dir)
        return 0

    if args.callgrind:
        requests, warmup, rounds, handshakes = 1000, 300, 1, 20
    elif args.syscalls:
        requests, warmup, rounds, handshakes = 3000, 500, 1, 20
    else:
        requests, warmup, rounds, handshakes = (6000, 1000, 3, 100) if args.quick else (30000, 3000, 3, 300)
    connections = 8
    _pin(os.getpid(), CLIENT_CORE)
    modes = args.modes.split(",")
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="baton-bench-tls-") as tmp:
        directory = Path(tmp)
        prepare(directory)
        for _ in range(rounds):  # alternate modes so drift on a shared machine hits both alike
            for mode in modes:
                figures = measure(
                    mode,
                    directory,
                    requests=requests,
                    warmup=warmup,
                    connections=connections,
                    handshakes=handshakes,
                    callgrind=args.callgrind,
                    syscalls=args.syscalls,
                )
                results[mode].append(figures)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for dump in directory.glob("callgrind.*"):
                shutil.copy(dump, args.keep / dump.name)

    def best(mode: str, key: str, lowest: bool = True) -> float:
        values = [r[key] for r in results[mode] if key in r]
        return min(values) if lowest else max(values)

    subject = modes[-1]  # compared against the first mode (plain unless --modes says otherwise)
    plain_cost, mtls_cost = best(modes[0], "per_req"), best(subject, "per_req")
    ratio = mtls_cost / plain_cost
    unit = "instructions" if args.callgrind else "syscalls" if args.syscalls else "CPU µs"
    machine = platform.processor() or platform.machine()
    print(
        f"machine: {machine}, {os.cpu_count()} cpus, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"requests per round: {requests} (+{warmup} warm-up on the same connections), {connections} keep-alive "
        f"connections, {rounds} rounds; {handshakes} new connections apart"
    )
    for mode in modes:
        costs = ", ".join(
            f"{r['per_req']:.{0 if args.callgrind else 2 if args.syscalls else 1}f}" for r in results[mode]
        )
        rates = ", ".join(f"{r['req_per_s']:.0f}" for r in results[mode])
        conns = ", ".join(f"{r['per_conn']:.0f}" for r in results[mode] if "per_conn" in r)
        print(f"{mode:>7}: server {unit}/req [{costs}]  req/s [{rates}]  {unit}/new connection [{conns}]")
        if args.syscalls:
            calls = {k.partition(":")[2]: v for k, v in results[mode][-1].items() if k.startswith("syscall:")}
            print(" " * 9 + ", ".join(f"{name} {n:.2f}" for name, n in sorted(calls.items(), key=lambda kv: -kv[1])))
    # Each round measures both modes back to back, so its own ratio shares that round's load; the best rounds of
    # the two modes may come from different moments on a shared machine.
    paired = [s["per_req"] / r["per_req"] for r, s in zip(results[modes[0]], results[subject], strict=True)]
    print(f"ratio ({subject} ÷ {modes[0]}, best rounds): {ratio:.2f}x  (target ≤ {TARGET})")
    print(f"ratio per round: {', '.join(f'{x:.2f}' for x in paired)}  (median {statistics.median(paired):.2f}x)")
    key = "instructions" if args.callgrind else "syscalls" if args.syscalls else "cpu_us"
    print(
        json.dumps(
            {
                "bench": "tls",
                "metric": f"server_{key}_per_request_ratio_mtls_token_vs_plain",
                "value": round(ratio, 3),
                "target": f"<= {TARGET}",
                "met": None if args.syscalls else ratio <= TARGET,  # the target is about CPU, not syscall counts
                f"plain_{key}_per_req": round(plain_cost, 2),
                f"mtls_{key}_per_req": round(mtls_cost, 2),
                f"plain_{key}_per_new_connection": round(best(modes[0], "per_conn")),
                f"mtls_{key}_per_new_connection": round(best(subject, "per_conn")),
                "plain_req_per_s": round(best(modes[0], "req_per_s", lowest=False)),
                "mtls_req_per_s": round(best(subject, "req_per_s", lowest=False)),
                "modes": modes,
                "quick": args.quick,
                "ratio_per_round": [round(x, 3) for x in paired],
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
