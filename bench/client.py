"""Client benchmark: raw pooled aiohttp vs ``ServiceClient`` with every layer on, against the same upstream.

Layout (2 cores): the upstream (a minimal uvloop HTTP/1.1 server, so it is never the bottleneck) runs in its
own process pinned to core 1; the client under test runs in this process pinned to core 0. Both clients use
the same event loop kind (uvloop) and the same connection pool size. CPU per call is this process's CPU time
divided by the calls, i.e. the client side only. Raw and ServiceClient rounds are interleaved in pairs (ABBA
order) and the figure reported is the median of the per-pair ratios, so drift on a shared machine hits both
alike; the per-client rows are medians over the rounds.

``ServiceClient`` in the run: deadline ▸ retry (budget) ▸ breaker ▸ bulkhead ▸ peak-EWMA + outlier ejection
▸ per-try timeout ▸ trace/correlation/deadline headers ▸ aiohttp, with Prometheus metrics on.

Target: ServiceClient CPU per call <= 1.25x raw aiohttp's at 50 in flight. A failover run follows: three
replicas, one killed (SIGKILL) under 50 in-flight load; success rate and retry ratio are reported.

    .venv/bin/python bench/client.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


# --- the upstream (runs in a child process) -------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")  # GETs without bodies: one blank line per request
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(ANSWER * count)  # type: ignore[attr-defined]


def serve(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        await server.serve_forever()

    uvloop.run(main())


def start_upstream(port: int, core: int | None) -> subprocess.Popen[bytes]:
    preexec = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, preexec_fn=preexec
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("upstream did not start")
    return proc


# --- the measured clients --------------------------------------------------------------------------------


async def drive(call, *, in_flight: int, seconds: float, warm: int = 50) -> dict[str, float]:
    """Run ``call`` with ``in_flight`` workers for ``seconds``; return req/s, p50, p99 (ms), CPU us/call.

    CPU is ``time.process_time()`` of this process only: the client under test, never the upstream (a separate
    process on another core).
    """
    for _ in range(warm):  # the other client ran last: bring this one's code and connections back in
        await call()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - started)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / wall,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "cpu_us": cpu / n * 1e6,
        "calls": n,
        "errors": errors,
    }


async def measure(port: int, seconds: float, pairs: int) -> tuple[dict[str, dict[str, float]], dict[int, float]]:
    """Interleave raw and ServiceClient rounds; return the per-client medians and the median paired CPU ratio.

    On a shared machine the CPU cost of a call drifts by tens of percent within seconds (other processes evict
    the caches). Each pair runs the two clients back to back, in alternating order (ABBA), and yields one
    ratio; the median of the ratios is robust to drift and to the odd disturbed round.
    """
    import aiohttp
    from prometheus_client import CollectorRegistry

    from baton.client import ServiceClient

    url = f"http://127.0.0.1:{port}/v1/item"
    results: dict[str, dict[str, float]] = {}
    ratios: dict[int, float] = {}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def raw() -> None:
        async with session.get(url) as response:
            await response.read()

    client = ServiceClient("bench", base_url=f"http://127.0.0.1:{port}", metrics_registry=CollectorRegistry())
    await client.__aenter__()

    async def baton() -> None:
        await client.get("/v1/item")

    try:
        for call in (raw, baton):
            for _ in range(500):
                await call()
        for in_flight in (1, 50):
            samples: dict[str, list[dict[str, float]]] = {"raw": [], "baton": []}
            pair_ratios: list[float] = []
            for n in range(pairs):
                order = [("raw", raw), ("baton", baton)]
                if n % 2:
                    order.reverse()
                run = {name: await drive(call, in_flight=in_flight, seconds=seconds) for name, call in order}
                for name, stats in run.items():
                    samples[name].append(stats)
                pair_ratios.append(run["baton"]["cpu_us"] / run["raw"]["cpu_us"])
            for name, runs in samples.items():
                summary = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                summary["errors"] = sum(r["errors"] for r in runs)
                results[f"{name}@{in_flight}"] = summary
            ratios[in_flight] = statistics.median(pair_ratios)
    finally:
        await client.aclose()
        await session.close()
    return results, ratios


async def failover(ports: list[int], procs: list[subprocess.Popen[bytes]], seconds: float) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from baton.client import ServiceClient
    from baton.discovery import Instance, StaticRegistry

    registry = StaticRegistry(
        Instance(service="bench", id=f"bench-{n}", host="127.0.0.1", port=port) for n, port in enumerate(ports)
    )
    metrics = CollectorRegistry()
    ok = failed = 0
    async with ServiceClient("bench", registry=registry, metrics_registry=metrics) as client:
        stop = time.perf_counter() + seconds
        killed = False

        async def worker() -> None:
            nonlocal ok, failed, killed
            while time.perf_counter() < stop:
                if not killed and time.perf_counter() > stop - seconds * 2 / 3:
                    killed = True
                    procs[0].send_signal(signal.SIGKILL)  # one replica dies under load
                try:
                    await client.get("/v1/item")
                    ok += 1
                except Exception:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(50)))
    retries = sum(
        s.value
        for m in metrics.collect()
        for s in m.samples
        if s.name == "baton_client_attempts_total" and s.labels.get("kind") == "retry"
    )
    total = ok + failed
    return {"requests": total, "success_rate": ok / total, "retry_ratio": retries / total, "retries": retries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shortened run (<= 60 s)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    sys.path.insert(0, str(ROOT / "src"))
    from baton.events.server import free_port

    cores = sorted(os.sched_getaffinity(0))
    client_core, server_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    if client_core is not None:
        os.sched_setaffinity(0, {client_core})
    seconds, pairs = (0.5, 10) if args.quick else (1.5, 20)

    import uvloop

    port = free_port()
    upstream = start_upstream(port, server_core)
    try:
        results, ratios = uvloop.run(measure(port, seconds, pairs))
    finally:
        upstream.kill()
        upstream.wait()

    ports = [free_port() for _ in range(3)]
    replicas = [start_upstream(p, server_core) for p in ports]
    try:
        fo = uvloop.run(failover(ports, replicas, 3.0 if args.quick else 10.0))
    finally:
        for proc in replicas:
            proc.kill()
            proc.wait()

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, cores {cores}, "
        f"client on {client_core}, upstream on {server_core}, python {platform.python_version()}"
    )
    print(f"{'run':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/call':>13}{'errors':>8}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['cpu_us']:>13.1f}{r['errors']:>8.0f}"
        )
    ratio_1, ratio_50 = ratios[1], ratios[50]
    print(
        f"CPU per call, ServiceClient / raw aiohttp (median of {pairs} interleaved pairs): "
        f"{ratio_1:.2f}x at 1 in flight, {ratio_50:.2f}x at 50"
    )
    print(
        f"failover (1 of 3 replicas killed under 50 in flight): {fo['requests']:.0f} requests, "
        f"success {fo['success_rate'] * 100:.3f}%, retry ratio {fo['retry_ratio']:.4f}"
    )
    print(json.dumps({
        "bench": "client",
        "metric": "cpu_per_call_ratio_vs_raw_aiohttp_at_50_in_flight",
        "value": round(ratio_50, 3),
        "target": "<= 1.25",
        "met": ratio_50 <= 1.25,
        "ratio_at_1": round(ratio_1, 3),
        "raw_rps_50": round(results["raw@50"]["rps"]),
        "client_rps_50": round(results["baton@50"]["rps"]),
        "raw_cpu_us_50": round(results["raw@50"]["cpu_us"], 1),
        "client_cpu_us_50": round(results["baton@50"]["cpu_us"], 1),
        "client_p99_ms_50": round(results["baton@50"]["p99_ms"], 2),
        "failover_success_rate": round(fo["success_rate"], 5),
        "failover_retry_ratio": round(fo["retry_ratio"], 4),
        "pairs": pairs,
        "quick": args.quick,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
