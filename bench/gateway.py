"""Gateway benchmark: Baton's gateway (full policy chain) vs nginx, in front of the same Starlette app.

Layout (the machine has 2 cores): the upstream app and the proxy under test share core 0; the load generator
(wrk, 1 thread, 50 connections, keep-alive) runs on core 1. Each proxy is measured in turn with the same
upstream and the same load — the same request, bearer token included, which nginx passes on as it is (the
upstream parses it behind both) — and the upstream alone is measured first as a reference.

Baton's chain in the run: IP allowlist ▸ JWT (HS256, verified once then cached) ▸ scope check ▸ rate limits
(consumer, IP, route; limits far above the load) ▸ daily quota (SQLite write-behind) ▸ validation (body
size) ▸ proxy ▸ response filtering (an internal field stripped from the JSON answer) with access logs,
metrics and trace ids on. Caching is off: a cache hit would skip the upstream and flatter the gateway.

Targets: >= 0.75x nginx's req/s; p99 <= nginx's p99 + 2 ms; gateway CPU <= 40 us per request.

"CPU per request" is the proxy process's user + system time (every thread; for nginx, master and worker)
over the measured run only, divided by the requests wrk completed in it: start-up, warm-up and the upstream
are not in it. The upstream's own CPU per request is printed beside each run, and nginx's CPU per request
is the reference for the gateway's. The kernel's loopback work for packets a process sends is largely
charged to that process, so both proxies carry part of the upstream's and wrk's networking. Each process's
allowed CPUs are read back from ``/proc`` and printed, as is the load average before and after: on a shared
machine req/s and p99 swing with other work, CPU per request much less.

    .venv/bin/python bench/gateway.py [--quick]
    .venv/bin/python bench/gateway.py --upstream-instructions ROUNDS   # the upstream's share, counted (callgrind)

``bench/gateway_inproc.py`` measures the gateway's own Python per request without sockets or a load generator
(CPU time, and ``--compare`` against another tree): the tool for work on the hot path on a shared machine.

nginx and wrk come from Debian (``apt-get install -y nginx-light wrk``); the bench installs them when run as
root and they are missing, otherwise it says what to install and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET = "bench-secret-0123456789abcdef0123456789"


# -- the upstream app (run in its own process: ``bench/gateway.py --upstream PORT``) ------------------------


def serve_upstream(port: int) -> None:
    """A Starlette hello app under uvicorn (uvloop + httptools), one process."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: object) -> JSONResponse:
        return JSONResponse({"message": "hello", "internal_note": "stripped by the gateway"})

    app = Starlette(routes=[Route("/v1/hello", hello)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, loop="uvloop", http="httptools")


# -- helpers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def find_tool(name: str, package: str) -> str | None:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found or os.geteuid() != 0:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, capture_output=True)
    return shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)


def start(cmd: list[str], *, core: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(["taskset", "-c", str(core), *cmd], stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, seconds: int, headers: list[str]) -> dict[str, float]:
    cmd = ["taskset", "-c", "1", wrk, "-t1", "-c50", f"-d{seconds}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"\s(50|90|99)%\s+([\d.]+)(us|ms|s)", out)
    }
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": pct.get("50", float("nan")),
        "p99_ms": pct.get("99", float("nan")),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, sock_errors.groups())) if sock_errors else 0,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (all threads; nginx's worker is a child)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in (pid, *children(pid)):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def affinity(pid: int) -> str:
    """The CPUs ``pid`` may run on (checks the layout the docstring promises)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


def measured(
    wrk: str, url: str, seconds: int, headers: list[str], proxy: subprocess.Popen[bytes] | None, upstream: int
) -> dict[str, float]:
    """One wrk run with the CPU seconds the proxy (and the upstream) spent during it, per request."""
    proxy_before = cpu_seconds(proxy.pid) if proxy is not None else 0.0
    upstream_before = cpu_seconds(upstream)
    result = run_wrk(wrk, url, seconds, headers)
    requests = max(1, result["requests"])
    if proxy is not None:
        result["cpu_us_per_request"] = (cpu_seconds(proxy.pid) - proxy_before) / requests * 1e6
    result["upstream_cpu_us_per_request"] = (cpu_seconds(upstream) - upstream_before) / requests * 1e6
    return result


def nginx_conf(tmp: Path, port: int, upstream: int) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""
    )
    return conf


def gateway_config(upstream: int, quota_db: Path, *, bare: bool = False) -> dict[str, Any]:
    """The gateway's config in this bench, also ``bench/gateway_inproc.py``'s (both measure the same chain).

    ``bare``: the proxy alone, no policies and no response filtering (access log, metrics and trace ids stay on).
    """
    services = {"hello": [f"http://127.0.0.1:{upstream}"]}
    if bare:
        return {"services": services, "routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}]}
    return {
        "issuers": [{"name": "bench", "issuer": "bench-idp", "audience": "gateway", "secret": SECRET}],
        "services": services,
        "quota_db": str(quota_db),
        "routes": [
            {
                "prefix": "/hello",
                "version": "v1",
                "service": "hello",
                "allow": ["127.0.0.0/8"],
                "auth": "jwt",
                "scopes": ["hello:read"],
                "rate_limit": {"consumer": "1000000/s", "ip": "1000000/s", "route": "1000000/s"},
                "quota": {"per_day": 1_000_000_000},
                "validation": {"max_body": "1MiB"},
                "filter": {"internal_fields": ["internal_note"]},
            }
        ],
    }


def gateway_conf(tmp: Path, upstream: int) -> Path:
    conf = tmp / "gateway.yaml"
    conf.write_text(json.dumps(gateway_config(upstream, tmp / "quotas.db")))
    return conf


def token() -> str:
    """A bearer token the bench's gateway accepts (HS256, an hour's validity, the ``hello:read`` scope)."""
    import jwt

    now = int(time.time())
    claims = {"iss": "bench-idp", "aud": "gateway", "sub": "bench-client", "scope": "hello:read", "iat": now}
    return jwt.encode({**claims, "exp": now + 3600}, SECRET, algorithm="HS256")


def start_gateway(tmp: Path, upstream: int, *, log: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m baton.gateway`` on core 0 with this bench's config, once it listens: ``(process, port)``."""
    port = free_port()
    cmd = [PYTHON, "-m", "baton.gateway", "--config", str(gateway_conf(tmp, upstream)), "--port", str(port)]
    with open(log or os.devnull, "ab") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", "0", *cmd],
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "BATON_HOME": str(tmp)},
        )
    wait_port(port)
    return proc, port


def upstream_instructions(wrk: str, nginx: str, rounds: int) -> int:
    """The upstream's instructions per request behind nginx and behind the gateway (callgrind, same request).

    What the upstream spends per request behind each proxy, counted rather than timed: the same on a loaded
    machine. The upstream runs under callgrind (slowly, so it is the bottleneck behind both proxies); its counters
    are zeroed before each measured wrk run and dumped after it.
    """
    headers = [f"Authorization: Bearer {token()}"]
    with tempfile.TemporaryDirectory(prefix="baton-bench-gw-upcg-") as tmpdir:
        tmp = Path(tmpdir)
        up_port = free_port()
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/upstream.%p"]
        upstream = start([*cmd, PYTHON, __file__, "--upstream", str(up_port)], core=0, log=tmp / "valgrind.log")

        def count(port: int) -> float:
            url = f"http://127.0.0.1:{port}/v1/hello"
            run_wrk(wrk, url, 3, headers)
            subprocess.run(["callgrind_control", "-z", str(upstream.pid)], capture_output=True, check=True)
            requests = run_wrk(wrk, url, 8, headers)["requests"]
            subprocess.run(["callgrind_control", "-d", str(upstream.pid)], capture_output=True, check=True)
            dump = max(tmp.glob(f"upstream.{upstream.pid}.*"), key=lambda path: path.stat().st_mtime)
            totals = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
            assert totals is not None, f"no totals in {dump}"
            return int(totals.group(1)) / max(1, requests)

        try:
            wait_port(up_port, timeout=120)
            for _ in range(rounds):
                ng_port = free_port()
                ng = start(
                    [nginx, "-c", str(nginx_conf(tmp, ng_port, up_port)), "-p", str(tmp)], core=0, log=tmp / "ng"
                )
                try:
                    wait_port(ng_port)
                    behind_nginx = count(ng_port)
                finally:
                    stop(ng)
                gw, gw_port = start_gateway(tmp, up_port)
                try:
                    behind_gateway = count(gw_port)
                finally:
                    stop(gw)
                print(
                    f"upstream instructions/request: behind nginx {behind_nginx:,.0f}, behind the gateway"
                    f" {behind_gateway:,.0f} ({behind_gateway / behind_nginx:.3f}x)"
                )
        finally:
            stop(upstream)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (<= 60 s in all)")
    parser.add_argument(
        "--upstream-instructions",
        type=int,
        metavar="ROUNDS",
        help="count the upstream's instructions per request behind each proxy (callgrind) instead",
    )
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(args.upstream)
        return 0
    seconds, warmup = (8, 2) if args.quick else (20, 4)
    nginx, wrk = find_tool("nginx", "nginx-light"), find_tool("wrk", "wrk")
    if not nginx or not wrk or not shutil.which("taskset"):
        print("bench skipped: needs nginx, wrk and taskset (apt-get install -y nginx-light wrk util-linux)")
        result = {"bench": "gateway", "metric": "rps_ratio_vs_nginx", "value": None, "target": ">= 0.75"}
        print(json.dumps({**result, "met": False, "skipped": True}))
        return 1
    if args.upstream_instructions:
        if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
            print("needs valgrind (apt-get install -y valgrind)")
            return 1
        return upstream_instructions(wrk, nginx, args.upstream_instructions)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    print("note: figures on a shared machine are noisy; the lead re-measures on a quiet one")
    load_before = f"{os.getloadavg()[0]:.2f}"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-gw-") as tmpdir:
        tmp = Path(tmpdir)
        up_port = free_port()
        upstream = start([PYTHON, __file__, "--upstream", str(up_port)], core=0, log=tmp / "upstream.log")
        # One request for every target, so the upstream's share is alike behind each proxy.
        headers = [f"Authorization: Bearer {token()}"]
        try:
            wait_port(up_port)
            url = f"http://127.0.0.1:{up_port}/v1/hello"
            run_wrk(wrk, url, warmup, headers)
            results["direct"] = measured(wrk, url, seconds, headers, None, upstream.pid)
            layout = {"upstream": affinity(upstream.pid)}

            ng_port = free_port()
            ng = start(
                [nginx, "-c", str(nginx_conf(tmp, ng_port, up_port)), "-p", str(tmp)], core=0, log=tmp / "ng.log"
            )
            try:
                wait_port(ng_port)
                url = f"http://127.0.0.1:{ng_port}/v1/hello"
                run_wrk(wrk, url, warmup, headers)
                results["nginx"] = measured(wrk, url, seconds, headers, ng, upstream.pid)
                layout["nginx"] = ",".join(sorted({affinity(p) for p in (ng.pid, *children(ng.pid))}))
            finally:
                stop(ng)

            gw, gw_port = start_gateway(tmp, up_port, log=tmp / "gw-access.log")
            try:
                url = f"http://127.0.0.1:{gw_port}/v1/hello"
                check = subprocess.run(["curl", "-s", "-H", headers[0], url], capture_output=True, text=True)
                if "internal_note" in check.stdout or '"hello"' not in check.stdout:
                    print(f"gateway answered unexpectedly: {check.stdout[:200]}")
                run_wrk(wrk, url, warmup, headers)
                # CPU of the gateway process only (every thread), over the measured run only: not the upstream's,
                # not start-up's, not the warm-up's.
                results["baton"] = measured(wrk, url, seconds, headers, gw, upstream.pid)
                layout["gateway"] = affinity(gw.pid)
            finally:
                stop(gw)
        finally:
            stop(upstream)

    print(f"layout: cpus allowed {layout}, wrk on 1; load average {load_before} -> {os.getloadavg()[0]:.2f}")
    for name, r in results.items():
        extra = f"  cpu/req {r['cpu_us_per_request']:.1f} us" if "cpu_us_per_request" in r else ""
        extra += f"  (upstream {r['upstream_cpu_us_per_request']:.1f} us)"
        bad = (
            f"  non-2xx {r['non_2xx']:.0f} socket-errors {r['socket_errors']:.0f}"
            if r["non_2xx"] or r["socket_errors"]
            else ""
        )
        print(f"{name:>7}: {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms{extra}{bad}")
    ratio = results["baton"]["rps"] / results["nginx"]["rps"]
    p99_delta = results["baton"]["p99_ms"] - results["nginx"]["p99_ms"]
    cpu_us = results["baton"]["cpu_us_per_request"]
    nginx_cpu_us = results["nginx"]["cpu_us_per_request"]
    print(
        f"gateway cpu/req {cpu_us:.1f} us (target <= 40), nginx's {nginx_cpu_us:.1f} us in the same run:"
        f" {cpu_us / max(nginx_cpu_us, 1e-9):.1f}x nginx"
    )
    clean = results["baton"]["non_2xx"] == 0 and results["baton"]["socket_errors"] == 0
    print(f"baton/nginx req/s ratio: {ratio:.2f}x (target >= 0.75); p99 delta {p99_delta:+.2f} ms (target <= +2 ms)")
    met = ratio >= 0.75 and p99_delta <= 2.0 and cpu_us <= 40.0 and clean
    print(
        json.dumps(
            {
                "bench": "gateway",
                "metric": "rps_ratio_vs_nginx",
                "value": round(ratio, 3),
                "target": ">= 0.75 (and p99 <= nginx + 2 ms, cpu <= 40 us/req)",
                "met": met,
                "baton_rps": round(results["baton"]["rps"]),
                "nginx_rps": round(results["nginx"]["rps"]),
                "direct_rps": round(results["direct"]["rps"]),
                "p99_delta_ms": round(p99_delta, 2),
                "cpu_us_per_request": round(cpu_us, 1),
                "nginx_cpu_us_per_request": round(nginx_cpu_us, 1),
                "load_average": [float(load_before), round(os.getloadavg()[0], 2)],
                "errors": int(results["baton"]["non_2xx"] + results["baton"]["socket_errors"]),
                "quick": args.quick,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
