"""Rollout benchmark: how fast a bad canary is rolled back, and whether a blue-green switch fails any request.

A real system (control plane, embedded NATS, ``hello`` x2, the gateway) on free ports with a throwaway home; clients
call ``GET /v1/hello`` through the gateway all along (each version answers with its own greeting).

1. **Bad canary** — ``hello`` with ``HELLO_FAULT_ERROR_RATE=0.3`` released as a canary (steps 10 ▸ 50 ▸ 100, analysis
   interval I). Figure: seconds from the first 500 a client saw to the end of the last request the bad version
   served (traffic back on stable). Reference, same run: the analysis interval. Target: <= I + 2 s.
2. **Blue-green switch** — a healthy new version released blue-green (preview, switch, old version kept warm, then
   stopped) under the same load. Figure: failed requests (5xx or transport errors). Target: 0.

Layout (2 cores): the system's processes on core 0, the load generator (this process) on core 1 when ``taskset``
exists. Shared machines make the first figure rough; ``--quick`` uses I = 3 s (else 10 s).

    .venv/bin/python bench/rollout.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from baton.control.adoption import find_strays  # noqa: E402
from baton.control.home import Home  # noqa: E402
from baton.control.ports import bindable  # noqa: E402
from baton.events.server import free_port  # noqa: E402

SLACK = 2.0
"""Seconds allowed on top of one analysis interval (the target)."""


def hello(version: str, greeting: str, **env: str) -> dict[str, Any]:
    return {
        "module": "apps.hello.service:service",
        "replicas": 2,
        "version": version,
        "cwd": str(ROOT),
        "env": {"HELLO_GREETING": greeting, **env},
        "drain_delay": 0.3,
        "probes": {"interval": 0.2},
    }


class System:
    """The system under test, driven through its control plane's API."""

    def __init__(self, root: Path, interval: float) -> None:
        self.root = root
        self.manifest = root / "baton.yaml"
        self.home = Home(root / ".baton")
        self.interval = interval
        self.control = free_port()
        self.gateway = free_port()
        self.nats = free_port()
        self.base = next(b for b in range(22000, 32000, 50) if all(bindable("127.0.0.1", b + i) for i in range(8)))
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, spec: dict[str, Any], rollout: dict[str, Any]) -> None:
        document = {
            "name": "bench",
            "services": {
                "hello": spec,
                "gateway": {
                    "command": ["{python}", "-m", "baton.gateway", "--config", str(self.manifest), "--no-access-log",
                                "--registry", "nats-kv://baton_instances"],
                    "port": self.gateway,
                    "depends_on": ["hello"],
                },
            },
            "routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}],
            "rollouts": {"hello": rollout},
        }  # fmt: skip
        self.manifest.write_text(json.dumps(document, indent=2))

    def start(self) -> None:
        self.write(hello("1.0.0", "Hello"), {})
        argv = [
            sys.executable, "-m", "baton.control", "-f", str(self.manifest), "--home", str(self.home.root),
            "--control-port", str(self.control), "--port-base", str(self.base), "--nats-port", str(self.nats),
            "--nats-monitor-port", "0",
        ]  # fmt: skip
        if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            argv = ["taskset", "-c", "0", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        self.home.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, TypeError):
                views = self.get("/v1/instances")
                ready = len(views) == 3 and all(v["ready"] for v in views)
                if ready and httpx.get(f"http://127.0.0.1:{self.gateway}/v1/hello", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit("the system did not become ready: " + (self.root / "daemon.out").read_text()[-2000:])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.admin_token()}"}

    def get(self, path: str) -> Any:
        return httpx.get(f"http://127.0.0.1:{self.control}{path}", headers=self.headers(), timeout=30).json()

    def release(self) -> dict[str, Any]:
        answer = httpx.post(f"http://127.0.0.1:{self.control}/v1/rollouts/hello", headers=self.headers(), timeout=60)
        answer.raise_for_status()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status = self.get("/v1/rollouts/hello")
            if status["phase"] in ("healthy", "rolled_back", "aborted"):
                return dict(status)
            time.sleep(0.2)
        raise SystemExit("the rollout did not end")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"http://127.0.0.1:{self.control}/v1/shutdown", headers=self.headers(), timeout=60)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        for record in find_strays(self.home.root):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)


class Load:
    """Clients through the gateway; every request is (start, end, status, greeting)."""

    def __init__(self, url: str, concurrency: int = 8) -> None:
        self.url = url
        self.concurrency = concurrency
        self.samples: list[tuple[float, float, int, str]] = []
        self._stop = asyncio.Event()

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            start = time.time()
            try:
                async with session.get(self.url) as response:
                    body = await response.json(content_type=None)
                    greeting = str(body.get("message", "")).split(",")[0] if response.status == 200 else ""
                    self.samples.append((start, time.time(), response.status, greeting))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.samples.append((start, time.time(), 0, type(exc).__name__))
            await asyncio.sleep(0.005)

    async def run_during(self, work: Any) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            workers = [asyncio.create_task(self._worker(session)) for _ in range(self.concurrency)]
            try:
                return await asyncio.to_thread(work)
            finally:
                await asyncio.sleep(1.0)  # a second of traffic after the end, to see where it goes
                self._stop.set()
                await asyncio.gather(*workers)


async def bad_canary(system: System) -> dict[str, Any]:
    system.write(
        hello("9.0.0", "Bad", HELLO_FAULT_ERROR_RATE="0.3"),
        {"strategy": "canary", "steps": [10, 50, 100], "interval": f"{system.interval}s", "min_requests": 10},
    )
    load = Load(f"http://127.0.0.1:{system.gateway}/v1/hello")
    status = await load.run_during(system.release)
    errors = [s for s in load.samples if s[2] >= 500]
    bad = [s for s in load.samples if s[3] == "Bad" or s[2] >= 500]
    if status["phase"] != "rolled_back" or not errors:
        return {"phase": status["phase"], "seconds": None, "requests": len(load.samples)}
    first_error = min(s[0] for s in errors)
    back = max(s[1] for s in bad)
    during = [s for s in load.samples if status["started_at"] <= s[0] <= status["finished_at"]]
    return {
        "phase": status["phase"],
        "seconds": back - first_error,
        "requests": len(load.samples),
        "saw_bad_share": len(bad) / max(1, len(during)),
        "reason": status["message"],
    }


async def blue_green(system: System) -> dict[str, Any]:
    system.write(hello("2.0.0", "Green"), {"strategy": "blue_green", "keep_warm": "2s", "interval": "2s"})
    load = Load(f"http://127.0.0.1:{system.gateway}/v1/hello")
    status = await load.run_during(system.release)
    failed = [s for s in load.samples if s[2] >= 500 or s[2] == 0]
    late = {s[3] for s in load.samples if s[0] > (status["finished_at"] or 0) + 0.2}
    return {
        "phase": status["phase"],
        "failed": len(failed),
        "requests": len(load.samples),
        "served_after": sorted(late),
    }


async def main_async(quick: bool) -> dict[str, Any]:
    interval = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="baton-bench-rollout-") as scratch:
        system = System(Path(scratch), interval)
        try:
            system.start()
            canary = await bad_canary(system)
            switch = await blue_green(system)
        finally:
            system.stop()
    return {"interval": interval, "canary": canary, "blue_green": switch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="analysis interval 3 s (else 10 s); well under 60 s")
    args = parser.parse_args()
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    print(f"load average before: {load:.2f} (shared machine: figures are rough; the lead re-measures on a quiet one)")
    started = time.monotonic()
    result = asyncio.run(main_async(args.quick))
    interval, canary, switch = result["interval"], result["canary"], result["blue_green"]
    target = interval + SLACK
    seconds = canary["seconds"]
    shown = "-" if seconds is None else f"{seconds:.2f}"
    print(f"bad canary ({canary['phase']}): first error → back on stable {shown} s")
    print(
        f"  reference: analysis interval {interval:g} s; ratio to (interval + {SLACK:g} s) = "
        f"{'-' if seconds is None else round(seconds / target, 2)}; share of requests that saw it "
        f"{canary.get('saw_bad_share', 0):.1%} (step weight 10%); {canary.get('reason', '')}"
    )
    print(
        f"blue-green switch ({switch['phase']}): {switch['failed']} failed of {switch['requests']} requests; "
        f"served after: {switch['served_after']}"
    )
    met_canary = seconds is not None and seconds <= target
    met_switch = switch["phase"] == "healthy" and switch["failed"] == 0
    print(f"took {time.monotonic() - started:.0f} s")
    print(json.dumps({
        "bench": "rollout",
        "metric": "seconds from a bad canary's first error to traffic back on stable",
        "value": None if seconds is None else round(seconds, 3),
        "target": f"<= analysis interval + {SLACK:g} s ({target:g} s)",
        "met": met_canary and met_switch,
        "interval": interval,
        "ratio": None if seconds is None else round(seconds / target, 3),
        "bluegreen_failed_requests": switch["failed"],
        "bluegreen_requests": switch["requests"],
        "bluegreen_target": "0 failed",
        "bluegreen_met": met_switch,
        "loadavg_at_start": round(load, 2),
        "quick": args.quick,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
