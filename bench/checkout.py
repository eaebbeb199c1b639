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

    .venv/bin/python bench/checkout.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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


async def saturation(shoppers: list[Shopper], *, seconds: float, users: int) -> tuple[float, Checkouts]:
    """Confirmed checkouts per second with ``users`` customers checking out back to back."""
    load = Checkouts(shoppers, uuid.uuid4().hex[:6])
    started = time.monotonic()

    async def user() -> None:
        while time.monotonic() < started + seconds:
            await load.one()

    await asyncio.gather(*(user() for _ in range(users)))
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
    return confirmed / elapsed, load


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


async def measure_shop(quick: bool) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    shop = ShopSystem(root, gateway=False, start_timeout=240)
    shop.start()
    try:
        assert shop.process is not None
        pids = [shop.process.pid] + [p.pid for p in psutil.Process(shop.process.pid).children(recursive=True)]
        pids += [int(v["pid"]) for v in shop.instances() if v["pid"]]
        pin(sorted(set(pids)), SERVER_CORE)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        # Instances serve mutual TLS: the operator's certificate and a service token per target.
        async with shop.async_client(limits=limits) as http:
            shoppers = await customers(http, shop, count=20)
            staff = await Shopper(http, services={"identity": shop.url("identity")}).register(
                "staff@shop.local", "bench-staff-password"
            )
            await staff.via(services={"inventory": shop.url("inventory")}).set_stock("p-espresso", 10_000_000)
            await saturation(shoppers, seconds=2.0, users=8)  # warm-up: connections, caches, JIT-free paths
            best: tuple[float, Checkouts] | None = None
            for users in (16,) if quick else (8, 16, 32):
                rps, load = await saturation(shoppers, seconds=8.0 if quick else 20.0, users=users)
                print(f"checkout   {users:3d} customers: {rps:7.1f} confirmed checkouts/s, {len(load.errors)} errors")
                if best is None or rps > best[0]:
                    best = (rps, load)
            assert best is not None
            sat_rps = best[0]
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
    }


async def main_async(quick: bool) -> None:
    pin([os.getpid()], CLIENT_CORE)
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    print(f"load average before: {load:.2f} (the shop engineers share this machine: use --quick, figures are rough)")
    hello = await hello_rps(seconds=5.0 if quick else 15.0, in_flight=32)
    print(f"reference  hello GET /v1/hello: {hello:8.1f} req/s (server on core {SERVER_CORE})")
    shop = await measure_shop(quick)
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
                **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in shop.items()},
                "quick": quick,
                "load_average": round(load, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one saturation level, short runs")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args.quick))


if __name__ == "__main__":
    main()
