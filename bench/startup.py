"""Startup benchmark: seconds from ``baton up`` to every instance ready, and RSS per instance.

For N = 1, 3, 6 copies of the example service (``apps.hello.service:service``, one replica each, distinct
names so each has its own database) — and for the shop when ``apps/shop/baton.yaml`` exists — the real CLI
runs ``baton up --detach`` on free ports with a throwaway home; the wall time until it returns (everything
ready) is the figure. The shop is brought up a second time on the same home ("shop again": databases at head,
no migration to run, as at every start after the first). Memory is read with psutil from every instance
process (the pids ``baton up`` reports): RSS, and USS/PSS, because instances forked from the zygote share its
pages copy-on-write and RSS counts the shared pages in every process. CPU seconds spent until ready
(instances, zygote, control plane) are printed too: unlike wall time they do not depend on what else the
machine is doing. The largest instance's RSS is split by kind of mapping (malloc heap, other anonymous memory,
shared libraries, other files) from ``/proc/<pid>/smaps``. Then ``baton down`` stops it all.

References, measured in the same run: a bare FastAPI app under uvicorn, launched as one process, until its
first answered request (the floor any supervisor sits on; the ratio is up-time / reference), and its RSS then;
the same app with the stack's libraries imported (SQLAlchemy's ORM, nats-py, OpenTelemetry, prometheus-client,
aiohttp, PyJWT + cryptography, structlog — what every instance uses while serving), whose RSS is the memory
floor of an instance on this stack (the ratio is instance RSS / floor); and, unless
``--quick``, the shop again with ``BATON_SPAWN=exec`` (every instance spawned and importing on its own).

Targets: the whole shop (or, until it exists, the largest N) ready in <= 5 s; <= 80 MB RSS per instance.

    .venv/bin/python bench/startup.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from baton.control.adoption import find_strays  # noqa: E402
from baton.control.home import DaemonInfo, Home  # noqa: E402
from baton.control.ports import bindable  # noqa: E402
from baton.control.state import ProcessRecord  # noqa: E402
from baton.events.server import free_port  # noqa: E402

BATON = Path(sys.executable).with_name("baton")
TARGET_SECONDS = 5.0
TARGET_RSS_MB = 80.0

REFERENCE_APP = """
import os, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/")
def root():
    return {"ok": True}
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
"""


#: The libraries an instance uses while serving, which the issues name as the stack (FastAPI on uvicorn with
#: uvloop and httptools, SQLAlchemy's asyncio ORM on aiosqlite, nats-py's JetStream, OpenTelemetry's SDK,
#: prometheus-client, PyJWT with cryptography, structlog, orjson) plus aiohttp, the kit's HTTP client. A process
#: that imports them and serves the bare FastAPI hello is the memory floor of any instance on this stack.
STACK_IMPORTS = (
    "import sqlalchemy.ext.asyncio, sqlalchemy.orm, aiosqlite, nats, nats.js, opentelemetry.sdk.trace, "
    "prometheus_client, aiohttp, jwt, cryptography.hazmat.primitives.asymmetric.ed25519, structlog, orjson, uvloop, "
    "httptools\n"
)


def reference_first_request(prelude: str = "") -> tuple[float, float]:
    """Seconds from launching a bare FastAPI process (after ``prelude``) to its first 200, and its RSS (MB) then."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", prelude + REFERENCE_APP], env={**os.environ, "PORT": str(port)})
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5).status_code == 200:
                    elapsed = time.perf_counter() - started
                    return elapsed, psutil.Process(proc.pid).memory_info().rss / 2**20
            except httpx.HTTPError:
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait()


def hello_manifest(n: int) -> str:
    services = {
        f"hello{i}": {"module": "apps.hello.service:service", "replicas": 1, "cwd": str(ROOT)} for i in range(1, n + 1)
    }
    return json.dumps({"name": f"hello-x{n}", "services": services}, indent=2)


def run_system(label: str, manifest: Path, home: Path, *, spawn: str = "fork") -> dict[str, object]:
    """``baton up --detach`` → all ready; memory and CPU of every instance; ``baton down``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(
        BATON_SPAWN=spawn,
        BATON_HOME=str(home),
        BATON_CONTROL_PORT=str(free_port()),
        BATON_PORT_BASE=str(_port_block()),
        BATON_NATS_PORT=str(free_port()),
        BATON_NATS_MONITOR_PORT="0",
    )
    started = time.perf_counter()
    up = subprocess.run(
        [str(BATON), "up", "--detach", "--json", "-f", str(manifest)], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - started
    try:
        if up.returncode != 0:
            raise SystemExit(f"{label}: baton up failed:\n{up.stderr}")
        report = json.loads(up.stdout)
        pids = {int(view["pid"]) for view in report["instances"] if view.get("pid")}
        processes = [p for p in map(_pid_process, sorted(pids)) if p is not None]
        # The zygote (BATON_SPAWN=fork) carries the home's BATON_HOME like the instances, but is none of them.
        helpers = [p for p in map(_process, find_strays(home)) if p is not None and p.pid not in pids]
        memory = [p.memory_full_info() for p in processes]
        largest = max(zip(memory, processes, strict=True), key=lambda pair: pair[0].rss)[1] if processes else None
        breakdown = rss_breakdown(largest.pid) if largest is not None else {}
        rss = [m.rss / 2**20 for m in memory]
        uss = [m.uss / 2**20 for m in memory]
        pss = [m.pss / 2**20 for m in memory]
        cpu = [sum(p.cpu_times()[:2]) for p in processes]
        helper_cpu = sum(sum(p.cpu_times()[:2]) for p in helpers)
        helper_pss = sum(p.memory_full_info().pss / 2**20 for p in helpers)
        daemon = _process(Home(home).read_daemon())
        daemon_cpu = sum(daemon.cpu_times()[:2]) if daemon is not None else None
    finally:
        subprocess.run([str(BATON), "down", "-f", str(manifest)], capture_output=True, env=env, timeout=120)
    result = {
        "system": label,
        "spawn": spawn,
        "instances": len(report["instances"]),
        "up_seconds": round(elapsed, 2),
        "rss_mb_mean": round(statistics.fmean(rss), 1) if rss else None,
        "rss_mb_max": round(max(rss), 1) if rss else None,
        "uss_mb_mean": round(statistics.fmean(uss), 1) if uss else None,
        "pss_mb_mean": round(statistics.fmean(pss), 1) if pss else None,
        "pss_mb_max": round(max(pss), 1) if pss else None,
        "zygote_pss_mb": round(helper_pss, 1) if helpers else None,
        "largest_rss_mb_by_mapping": breakdown,
        "instance_cpu_s_mean": round(statistics.fmean(cpu), 2) if cpu else None,
        "zygote_cpu_s": round(helper_cpu, 2) if helpers else None,
        "control_plane_cpu_s": round(daemon_cpu, 2) if daemon_cpu is not None else None,
        "total_cpu_s": round(sum(cpu) + helper_cpu + (daemon_cpu or 0.0), 2),
    }
    # CPU seconds spent until ready do not depend on how busy the machine is; wall time does.
    print(
        f"{label:<10} {spawn:<5} {result['instances']:>3} instances  ready in {elapsed:5.2f} s   "
        f"RSS mean {result['rss_mb_mean']} MB (max {result['rss_mb_max']}), USS {result['uss_mb_mean']}, "
        f"PSS {result['pss_mb_mean']} (+ zygote PSS {result['zygote_pss_mb']})   "
        f"CPU to ready: {result['instance_cpu_s_mean']} s/instance, zygote {result['zygote_cpu_s']} s, "
        f"control plane {result['control_plane_cpu_s']} s, total {result['total_cpu_s']} s",
        flush=True,
    )
    if breakdown:
        print(f"{'':<10} the largest instance's RSS by mapping (MB): {breakdown}", flush=True)
    return result


def rss_breakdown(pid: int) -> dict[str, float]:
    """RSS of ``pid`` by kind of mapping (MB): the malloc heap, other anonymous memory (pymalloc's arenas,
    thread stacks, big allocations), shared libraries and other files; empty where ``/proc`` has no smaps."""
    totals = {"heap": 0, "anonymous": 0, "shared_libraries": 0, "other_files": 0}
    kind = "anonymous"
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
                    path = fields[5] if len(fields) > 5 else ""
                    if path == "[heap]":
                        kind = "heap"
                    elif not path or path.startswith("["):
                        kind = "anonymous"
                    else:
                        kind = "shared_libraries" if ".so" in path else "other_files"
                elif fields[0] == "Rss:":
                    totals[kind] += int(fields[1])
    except OSError:
        return {}
    return {key: round(kb / 1024, 1) for key, kb in totals.items()}


def _port_block() -> int:
    # Below the ephemeral range (32768+), where outgoing connections cannot grab an instance's port.
    while True:
        base = random.randrange(20000, 32000, 50)
        if all(bindable("127.0.0.1", port) for port in range(base, base + 10)):
            return base


def _process(record: ProcessRecord | DaemonInfo | None) -> psutil.Process | None:
    return None if record is None else _pid_process(record.pid)


def _pid_process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="N = 1, 3, the shop twice, one reference run, no exec comparison"
    )
    args = parser.parse_args()
    sizes = (1, 3) if args.quick else (1, 3, 6)

    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    references = [reference_first_request() for _ in range(1 if args.quick else 3)]
    reference = statistics.median(seconds for seconds, _ in references)
    bare_rss = statistics.median(rss for _, rss in references)
    _, stack_rss = reference_first_request(STACK_IMPORTS)
    print(f"reference  bare FastAPI process → first answered request: {reference:.2f} s")
    print(
        f"reference  RSS after the first request: bare FastAPI {bare_rss:.1f} MB; the same app with the stack's "
        f"libraries imported (SQLAlchemy ORM, nats-py, OpenTelemetry SDK, prometheus-client, aiohttp, PyJWT + "
        f"cryptography, structlog) {stack_rss:.1f} MB — the floor of an instance on this stack"
    )

    results = []
    work = Path(tempfile.mkdtemp(prefix="baton-bench-startup-"))
    try:
        for n in sizes:
            manifest = work / f"hello{n}.yaml"
            manifest.write_text(hello_manifest(n))
            results.append(run_system(f"hello x{n}", manifest, work / f"home{n}"))
        shop = ROOT / "apps" / "shop" / "baton.yaml"
        if shop.exists():
            results.append(run_system("shop", shop, work / "home-shop"))
            # The same home again: every database is at head, as at any start after the first.
            results.append(run_system("shop again", shop, work / "home-shop"))
            if not args.quick:
                results.append(run_system("shop", shop, work / "home-shop-exec", spawn="exec"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    headline = next((r for r in results if r["system"] == "shop" and r["spawn"] == "fork"), results[-1])
    up_seconds = float(headline["up_seconds"])  # type: ignore[arg-type]
    rss_max = max(float(r["rss_mb_max"] or 0) for r in results)  # type: ignore[arg-type]
    pss_max = max(float(r["pss_mb_max"] or 0) for r in results)  # type: ignore[arg-type]
    print(
        f"memory     per instance vs the {TARGET_RSS_MB:g} MB target ({headline['system']}): "
        f"RSS mean {headline['rss_mb_mean']} MB, max {headline['rss_mb_max']} "
        f"({'met' if float(headline['rss_mb_max'] or 0) <= TARGET_RSS_MB else 'NOT met'}; RSS counts every page "
        f"shared with the zygote in every instance); PSS mean {headline['pss_mb_mean']} MB, max "
        f"{headline['pss_mb_max']} ({'met' if float(headline['pss_mb_max'] or 0) <= TARGET_RSS_MB else 'NOT met'}; "
        f"shared pages divided among their sharers); USS {headline['uss_mb_mean']} MB (private)"
    )
    print(
        f"ratio      {headline['system']} RSS mean / the stack's floor: "
        f"{float(headline['rss_mb_mean'] or 0) / stack_rss:.2f}x ({headline['rss_mb_mean']} / {stack_rss:.1f} MB)"  # type: ignore[arg-type]
    )
    print(
        f"wall       {headline['system']} ready in {up_seconds:.2f} s vs the {TARGET_SECONDS:g} s target "
        f"({'met' if up_seconds <= TARGET_SECONDS else 'NOT met'}) at load {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cpu; CPU to ready {headline['total_cpu_s']} s (does not depend on the load)"
    )
    print(f"ratio      {headline['system']} up / reference first request: {up_seconds / reference:.1f}x")
    exec_run = next((r for r in results if r["system"] == "shop" and r["spawn"] == "exec"), None)
    if exec_run is not None:
        print(
            f"ratio      shop fork / exec: up {up_seconds / float(exec_run['up_seconds']):.2f}x, "  # type: ignore[arg-type]
            f"total CPU {float(headline['total_cpu_s']) / float(exec_run['total_cpu_s']):.2f}x"  # type: ignore[arg-type]
        )
    print(
        json.dumps(
            {
                "bench": "startup",
                "metric": f"seconds from baton up to all ready ({headline['system']})",
                "value": up_seconds,
                "target": f"<= {TARGET_SECONDS:g} s",
                "met": up_seconds <= TARGET_SECONDS and rss_max <= TARGET_RSS_MB,
                "rss_mb_max": rss_max,
                "rss_target": f"<= {TARGET_RSS_MB:g} MB",
                "rss_met": rss_max <= TARGET_RSS_MB,
                "pss_mb_max": pss_max,
                "pss_met": pss_max <= TARGET_RSS_MB,
                "reference_first_request_s": round(reference, 2),
                "reference_bare_fastapi_rss_mb": round(bare_rss, 1),
                "reference_stack_floor_rss_mb": round(stack_rss, 1),
                "ratio_vs_reference": round(up_seconds / reference, 2),
                "runs": results,
                "quick": args.quick,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
