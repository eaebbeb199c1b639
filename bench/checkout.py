"""Checkout benchmark: what one checkout costs, in units of the kit's hello request, and its latency at half load.

Reference, measured in the same run: ``apps/hello`` under ``python -m baton.kit.serve`` (the kit's whole
middleware stack, no database write), ``GET /v1/hello`` at saturation.

Checkout: the whole shop through the control plane (catalog, inventory, payment, order ×2, notification, mail
sink, analytics, identity; no gateway: the load goes straight to the two order instances, round-robin). One
checkout is the customer's three requests (open a cart, add an item, place the order) *and* the work they set
off until the order is CONFIRMED: the saga's calls to inventory and payment, the outbox, the events to
notification (an e-mail through SMTP to the sink) and analytics. Checkout rps = orders confirmed per second
from the first request until the last order is final, at saturation (closed loop).

Then an open loop at half that rate: latency of ``POST /v1/orders`` (the seed's SLO: p99 < 300 ms, zero
errors) and, for information, of the whole checkout until CONFIRMED.

Layout (2 cores): the servers (hello, or every process of the shop once it is up) are pinned to core 0, this
load generator to core 1. Target: checkout cost ≤ 20 hello units, p99 < 300 ms, zero errors.

Where the time goes, from the best saturation run (less noisy than rps on a shared machine): the CPU time of
every process of the shop (psutil, before/after) per confirmed checkout and how busy the server core was; the
wall time of each saga step (from the saga logs of a sample of orders); with ``--fsync``, the fsync/fdatasync
calls per confirmed checkout of each process (``perf stat`` on the syscall tracepoints; needs perf and root).
``--order-replicas N`` runs N order instances instead of the manifest's 2.

    .venv/bin/python bench/checkout.py [--quick] [--fsync] [--order-replicas N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
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
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.shop.common.shopper import FINAL_STATES, Shopper  # noqa: E402
from apps.shop.common.system import ShopSystem  # noqa: E402

from baton.events.server import free_port  # noqa: E402

SERVER_CORE, CLIENT_CORE = 0, 1
TARGET_COST = 20.0
TARGET_P99_MS = 300.0


def pin(pids: list[int], core: int) -> None:
    """Pin processes to one core (when the machine has it)."""
    if (os.cpu_count() or 1) <= core:
        return
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).cpu_affinity([core])


def pct(values: list[float], q: int) -> float:
    """The ``q``-th percentile (ms) of ``values`` (seconds)."""
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


# --- the reference: hello ----------------------------------------------------------------------------------


def start_hello(port: int) -> subprocess.Popen[bytes]:
    """``apps/hello`` as the control plane would run it (no bus), pinned to the server core."""
    home = Path(tempfile.mkdtemp(prefix="bench-hello-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_SERVICE="hello", BATON_INSTANCE="hello-1", BATON_PORT=str(port), BATON_HOME=str(home))
    env.update(PYTHONPATH=str(ROOT), BATON_LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [sys.executable, "-m", "baton.kit.serve", "apps.hello.service:service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pin([server.pid], SERVER_CORE)
    return server


async def hello_rps(seconds: float, in_flight: int) -> float:
    """Requests per second ``apps/hello`` answers at saturation."""
    port = free_port()
    server = start_hello(port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=in_flight)) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(url + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("hello did not start")
                await asyncio.sleep(0.1)
        return await _saturate_get(url + "/v1/hello", seconds=seconds, in_flight=in_flight)
    finally:
        server.terminate()
        server.wait(10)


async def _saturate_get(url: str, *, seconds: float, in_flight: int) -> float:
    import aiohttp  # the faster client: the load generator must not be what saturates

    done = 0
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(until: float) -> None:
            nonlocal done
            while time.monotonic() < until:
                async with session.get(url) as answer:
                    await answer.read()
                    if answer.status == 200:
                        done += 1

        await asyncio.gather(*(worker(time.monotonic() + 1.0) for _ in range(in_flight)))  # warm-up
        done = 0
        started = time.monotonic()
        await asyncio.gather(*(worker(started + seconds) for _ in range(in_flight)))
        return done / (time.monotonic() - started)


# --- the checkout -------------------------------------------------------------------------------------------


class Checkouts:
    """Drives checkouts against the order instances and records what happened."""

    def __init__(self, shoppers: list[Shopper], run: str) -> None:
        """``shoppers``: logged-in customers, each possibly several times (one per order replica, :meth:`via`)."""
        self.shoppers = itertools.cycle(shoppers)
        self.customers = {s.user_id: s for s in shoppers}  # one shopper per customer lists their orders
        self.owner_of: dict[str, Shopper] = {}
        self.run = run
        self.count = 0
        self.order_ids: list[str] = []
        self.post_latency: list[float] = []
        self.flow_latency: list[float] = []
        self.errors: list[str] = []

    async def one(self) -> str | None:
        shopper = next(self.shoppers)
        self.count += 1
        started = time.monotonic()
        try:
            cart = await shopper.open_cart()
            await shopper.add_item(cart, "p-espresso", 1)
            posted = time.monotonic()
            order_id = await shopper.checkout(cart, email=f"bench-{self.run}-{shopper.user_id}@bench.test")
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return None
        now = time.monotonic()
        self.post_latency.append(now - posted)
        self.flow_latency.append(now - started)
        self.order_ids.append(order_id)
        self.owner_of[order_id] = shopper
        return order_id

    async def statuses(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for customer in self.customers.values():
            for order in await customer.orders():
                found[order["order_id"]] = order["status"]
        return found


async def closed_loop(one: Callable[[], Awaitable[object]], *, users: int, seconds: float) -> float:
    """``users`` customers each calling ``one()`` back to back for ``seconds``; the loop's start (monotonic)."""
    started = time.monotonic()

    async def user() -> None:
        while time.monotonic() < started + seconds:
            await one()

    await asyncio.gather(*(user() for _ in range(users)))
    return started


async def saturation(
    shoppers: list[Shopper], *, seconds: float, users: int, costs: Costs | None = None
) -> tuple[float, Checkouts]:
    """Confirmed checkouts per second with ``users`` customers checking out back to back."""
    load = Checkouts(shoppers, uuid.uuid4().hex[:6])
    if costs is not None:
        costs.begin()
    started = await closed_loop(load.one, users=users, seconds=seconds)
    while True:  # the sagas still running finish: their work is part of the checkouts' cost
        statuses = await load.statuses()
        if sum(1 for s in statuses.values() if s in FINAL_STATES) >= len(load.order_ids):
            break
        if time.monotonic() > started + seconds + 60:
            load.errors.append("orders still in flight 60 s after the load stopped")
            break
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    confirmed = sum(1 for s in statuses.values() if s == "CONFIRMED")
    if costs is not None:
        costs.end(elapsed=elapsed, confirmed=confirmed)
    return confirmed / elapsed, load


# --- where the time goes ------------------------------------------------------------------------------------


class Costs:
    """CPU time (and, with perf, fsync calls) of every process of the shop over one measured run."""

    def __init__(self, names: dict[int, str], *, fsync: bool) -> None:
        self.names = names
        self.fsync = fsync and shutil.which("perf") is not None
        self._before: dict[int, float] = {}
        self._client_before = 0.0
        self._perf: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
        self.report: dict[str, Any] = {}

    @staticmethod
    def of_shop(shop: ShopSystem, *, fsync: bool) -> Costs:
        assert shop.process is not None
        names = {int(v["pid"]): str(v["id"]) for v in shop.instances() if v["pid"]}
        root = psutil.Process(shop.process.pid)
        names.setdefault(root.pid, "control-plane")
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                names.setdefault(child.pid, child.name())
        return Costs(names, fsync=fsync)

    def _cpu(self) -> dict[int, float]:
        found: dict[int, float] = {}
        for pid in self.names:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                found[pid] = times.user + times.system
        return found

    def begin(self) -> None:
        self._before = self._cpu()
        self._client_before = sum(psutil.Process().cpu_times()[:2])
        if self.fsync:
            events = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync"
            for pid in self.names:
                out = Path(tempfile.mkstemp(prefix="bench-perf-")[1])
                command = ["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "-o", str(out)]
                self._perf[pid] = (subprocess.Popen(command, stderr=subprocess.DEVNULL), out)

    def end(self, *, elapsed: float, confirmed: int) -> None:
        after = self._cpu()
        client = sum(psutil.Process().cpu_times()[:2]) - self._client_before
        per: dict[str, float] = defaultdict(float)
        for pid, cpu in after.items():
            per[self.names[pid]] += cpu - self._before.get(pid, cpu)
        fsyncs: dict[str, int] = defaultdict(int)
        for pid, (perf, out) in self._perf.items():
            perf.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                perf.wait(10)
            for line in out.read_text().splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[2].startswith("syscalls:") and fields[0].isdigit():
                    fsyncs[self.names[pid]] += int(fields[0])
            out.unlink(missing_ok=True)
        self._perf.clear()
        total = sum(per.values())
        each = max(confirmed, 1)
        self.report = {
            "elapsed_s": elapsed,
            "confirmed": confirmed,
            "server_cpu_s": total,
            "server_core_busy": total / elapsed,
            "server_cpu_ms_per_checkout": total * 1000 / each,
            "client_cpu_ms_per_checkout": client * 1000 / each,
            "cpu_ms_per_checkout": {k: v * 1000 / each for k, v in sorted(per.items(), key=lambda kv: -kv[1])},
            "fsyncs_per_checkout": {k: v / each for k, v in sorted(fsyncs.items(), key=lambda kv: -kv[1])} or None,
        }

    def print(self) -> None:
        r = self.report
        if not r:
            return
        print(
            f"cpu        shop processes: {r['server_cpu_ms_per_checkout']:.1f} ms CPU per confirmed checkout "
            f"(server core {r['server_core_busy'] * 100:.0f}% busy over {r['elapsed_s']:.1f} s; "
            f"load generator {r['client_cpu_ms_per_checkout']:.1f} ms)"
        )
        for name, ms in r["cpu_ms_per_checkout"].items():
            if ms >= 0.05:
                print(f"             {name:24s} {ms:7.1f} ms")
        if r["fsyncs_per_checkout"]:
            total = sum(r["fsyncs_per_checkout"].values())
            print(f"fsync      {total:.1f} fsync/fdatasync calls per confirmed checkout")
            for name, n in r["fsyncs_per_checkout"].items():
                if n >= 0.05:
                    print(f"             {name:24s} {n:7.1f}")


async def saga_steps(http: httpx.AsyncClient, order_url: str, order_ids: list[str]) -> dict[str, dict[str, float]]:
    """Wall time (ms, p50/p99) of each saga step, and of order created → saga logged, from a sample of saga logs.

    A step's time runs from its announcement (``step_started``) to its outcome, so it holds the write that
    committed the announcement (with the previous step's success) and the action itself.
    """
    spans: dict[str, list[float]] = defaultdict(list)
    for order_id in order_ids[:: max(1, len(order_ids) // 60)]:
        answer = await http.get(f"{order_url}/v1/sagas/{order_id}")
        if answer.status_code != 200:
            continue
        entries = answer.json()["entries"]
        started: dict[str, datetime] = {}
        first = datetime.fromisoformat(entries[0]["at"])
        for entry in entries:
            at = datetime.fromisoformat(entry["at"])
            if entry["kind"] == "step_started":
                started[entry["step"]] = at
            elif entry["kind"] in ("step_succeeded", "step_failed", "step_retry") and entry["step"] in started:
                spans[entry["step"]].append((at - started.pop(entry["step"])).total_seconds())
        spans["saga: logged -> ended"].append((datetime.fromisoformat(entries[-1]["at"]) - first).total_seconds())
    return {name: {"p50": pct(v, 50), "p99": pct(v, 99), "n": len(v)} for name, v in spans.items()}


async def customers(http: httpx.AsyncClient, shop: ShopSystem, *, count: int) -> list[Shopper]:
    """``count`` customers signed up and logged in once (before any measurement), each with one shopper per
    order replica: the load is spread over the replicas as before, every request with its customer's token."""
    run = uuid.uuid4().hex[:6]
    at_identity = Shopper(http, services={"identity": shop.url("identity")}, retry_for=30)
    found: list[Shopper] = []
    for c in range(count):
        login = await at_identity.fork().register(f"bench-{run}-{c}@bench.test", f"bench-password-{run}")
        for url in shop.urls("order"):
            shopper = login.via(services={"order": url})
            shopper.retry_for = 0  # a failed checkout is counted, not retried
            found.append(shopper)
    return found


async def half_load(shoppers: list[Shopper], *, rate: float, seconds: float) -> tuple[Checkouts, list[float]]:
    """An open loop at ``rate`` checkouts/s; the load and each order's time until it was final."""
    load = Checkouts(shoppers, uuid.uuid4().hex[:6])
    final_latency: list[float] = []

    async def checkout() -> None:
        started = time.monotonic()
        order_id = await load.one()
        if order_id is None:
            return
        try:
            order = await load.owner_of[order_id].wait_final(order_id, timeout=30, interval=0.05)
        except TimeoutError:
            load.errors.append(f"order {order_id} not final after 30 s")
            return
        if order["status"] != "CONFIRMED":
            load.errors.append(f"order {order_id} {order['status']}: {order['reason']}")
        final_latency.append(time.monotonic() - started)

    tasks = []
    started = time.monotonic()
    for i in range(int(rate * seconds)):
        # Open loop: the schedule does not wait for answers, so a slow system meets its real arrival rate.
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(checkout()))
    await asyncio.gather(*tasks)
    return load, final_latency


async def measure_shop(quick: bool, *, fsync: bool = False, order_replicas: int | None = None) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    replicas = {"order": order_replicas} if order_replicas else None
    shop = ShopSystem(root, gateway=False, start_timeout=240, replicas=replicas)
    shop.start()
    try:
        assert shop.process is not None
        pids = [shop.process.pid] + [p.pid for p in psutil.Process(shop.process.pid).children(recursive=True)]
        pids += [int(v["pid"]) for v in shop.instances() if v["pid"]]
        pin(sorted(set(pids)), SERVER_CORE)
        costs = Costs.of_shop(shop, fsync=fsync)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        # Instances serve mutual TLS: the operator's certificate and a service token per target.
        async with shop.async_client(limits=limits) as http:
            shoppers = await customers(http, shop, count=20)
            staff = await Shopper(http, services={"identity": shop.url("identity")}).register(
                "staff@shop.local", "bench-staff-password"
            )
            await staff.via(services={"inventory": shop.url("inventory")}).set_stock("p-espresso", 10_000_000)
            await saturation(shoppers, seconds=2.0, users=8)  # warm-up: connections, caches, JIT-free paths
            best: tuple[float, Checkouts, dict[str, Any]] | None = None
            for users in (16,) if quick else (8, 16, 32):
                rps, load = await saturation(shoppers, seconds=8.0 if quick else 20.0, users=users, costs=costs)
                print(f"checkout   {users:3d} customers: {rps:7.1f} confirmed checkouts/s, {len(load.errors)} errors")
                if best is None or rps > best[0]:
                    best = (rps, load, costs.report)
            assert best is not None
            sat_rps, sat_load, costs.report = best
            costs.print()
            steps = await saga_steps(http, shop.urls("order")[0], sat_load.order_ids)
            for name, figures in steps.items():
                print(f"saga step  {name:24s} p50 {figures['p50']:7.1f} ms, p99 {figures['p99']:7.1f} ms")
            half, final = await half_load(shoppers, rate=sat_rps / 2, seconds=8.0 if quick else 30.0)
    finally:
        shop.stop()
    return {
        "checkout_rps": sat_rps,
        "half_rate": sat_rps / 2,
        "post_p50_ms": pct(half.post_latency, 50),
        "post_p99_ms": pct(half.post_latency, 99),
        "flow_p99_ms": pct(half.flow_latency, 99),
        "final_p50_ms": pct(final, 50),
        "final_p99_ms": pct(final, 99),
        "half_errors": half.errors[:5],
        "half_error_count": len(half.errors),
        "half_checkouts": half.count,
        "saturation": costs.report,
        "saga_steps_ms": steps,
    }


async def main_async(quick: bool, *, fsync: bool = False, order_replicas: int | None = None) -> None:
    pin([os.getpid()], CLIENT_CORE)
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    print(f"load average before: {load:.2f} (the shop engineers share this machine: use --quick, figures are rough)")
    hello = await hello_rps(seconds=5.0 if quick else 15.0, in_flight=32)
    print(f"reference  hello GET /v1/hello: {hello:8.1f} req/s (server on core {SERVER_CORE})")
    shop = await measure_shop(quick, fsync=fsync, order_replicas=order_replicas)
    cost = hello / shop["checkout_rps"] if shop["checkout_rps"] else float("inf")  # type: ignore[operator]
    print(f"checkout   at saturation: {shop['checkout_rps']:.1f} confirmed checkouts/s")
    print(f"ratio      checkout cost in hello units: {cost:.1f} (target <= {TARGET_COST:g})")
    print(
        f"half load  {shop['half_rate']:.1f}/s: POST /v1/orders p50 {shop['post_p50_ms']:.1f} ms, "
        f"p99 {shop['post_p99_ms']:.1f} ms; until CONFIRMED p50 {shop['final_p50_ms']:.0f} ms, "
        f"p99 {shop['final_p99_ms']:.0f} ms; {shop['half_error_count']} errors in {shop['half_checkouts']}"
    )
    met = cost <= TARGET_COST and shop["post_p99_ms"] < TARGET_P99_MS and shop["half_error_count"] == 0  # type: ignore[operator]
    print(
        json.dumps(
            {
                "bench": "checkout",
                "metric": "checkout cost in hello units (hello rps / confirmed checkout rps at saturation)",
                "value": round(cost, 2),
                "target": f"<= {TARGET_COST:g}; POST /v1/orders p99 < {TARGET_P99_MS:g} ms at half load, 0 errors",
                "met": met,
                "hello_rps": round(hello, 1),
                **_rounded(shop),
                "quick": quick,
                "order_replicas": order_replicas or 2,
                "load_average": round(load, 2),
            }
        )
    )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one saturation level, short runs")
    parser.add_argument("--fsync", action="store_true", help="count fsync/fdatasync per process (perf, root)")
    parser.add_argument("--order-replicas", type=int, default=None, help="order instances (manifest: 2)")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args.quick, fsync=args.fsync, order_replicas=args.order_replicas))


if __name__ == "__main__":
    main()
