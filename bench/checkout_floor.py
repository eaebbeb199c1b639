"""Checkout floor: what one checkout's *message pattern* costs on the kit, with no business logic, in hello units.

Issue #5 asks for a checkout cost ≤ 20 hello units (``bench/checkout.py``). This bench measures the floor under
that figure: the same messages as one checkout, through the real kit and the real engines, with empty handlers
and no tables of the services' own (:mod:`bench.floor.services`):

- the customer's 3 requests to ``front`` (open cart, add item, place order), mutual TLS + service token;
- for "place order", 3 calls through the kit's resilient client with its default policies (``stock``: reserve;
  ``pay``: authorize, capture), mutual TLS + service token, an ``Idempotency-Key`` on each (as the saga sends);
- one event through front's outbox (its SQLite file) ▸ relay ▸ JetStream (``sync_interval: always``) ▸ the
  inboxes of ``mail``, ``stats`` and ``points`` (one durable consumer each, an inbox transaction per batch);
- everything under the control plane (``python -m baton.control``, what ``baton up`` runs: CA, tokens, probes,
  discovery, the zygote) with a manifest the bench writes in a scratch home. ``front`` runs 1 replica (the shop's
  order runs 2: ``--front-replicas 2``).

Not in the floor: the SMTP send (the kit offers no mailer; the shop's notification service has its own, so it is
business code here; priced apart at the end, :mod:`bench.floor.smtp`, ``--no-smtp`` to skip) and the idempotency
records the shop's peers store for each keyed POST (a database write).

Four modes, each its own system, measured after the same hello reference; each adds one part, so the parts'
costs come out by subtraction:

- ``requests``: "place order" does nothing — the customer's 3 requests alone;
- ``calls``: front makes the 3 calls inside the "place order" request;
- ``messages``: the 3 calls, then the event — **the floor of the message pattern**;
- ``saga``: front logs a saga with the kit's durable orchestrator (``baton.saga``) in the request's transaction
  and answers 202; the saga's steps make the 3 calls and its last step writes the event, every transition in
  the saga log first — the durable saga log the architecture requires, on top of the messages.

A floor checkout is done when all three consumers have received its event (when "place order" answered, in the
modes without one). Floor checkouts/s = done checkouts from the first request until the last event was received,
closed loop at saturation (``users`` customers checking out back to back), like ``bench/checkout.py``. Layout as
there: every server process pinned to core 0 (every thread of it), this load generator to core 1.

Figures, per mode: ``floor cost in hello units``

- *by req/s*: hello req/s ÷ floor checkouts/s, the issue's definition; on a machine other benches share (their
  servers on core 0 too) it moves with their load;
- *by CPU*: CPU per floor checkout over every process ÷ hello's CPU per request (psutil, same core, same run);
- *on a dedicated core*: the per-checkout CPU without the idle background (probes, heartbeats, fetch timeouts,
  measured with no load) plus that background spread over the checkouts a whole core would serve.

Then the CPU split per process (front, stock, pay, the consumers, nats-server, control plane, zygote) and the
parts of the pattern by subtraction between the modes (idle background removed).

    .venv/bin/python bench/checkout_floor.py [--quick] [--modes requests,calls,messages,saga] [--front-replicas N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from apps.shop.common.system import REPO_ROOT, ShopSystem  # noqa: E402

from baton.events.server import free_port  # noqa: E402

# The reference exactly as the checkout bench measures it, and its CPU accounting: imported, not copied.
from checkout import (  # noqa: E402
    CLIENT_CORE,
    SERVER_CORE,
    TARGET_COST,
    Costs,
    _rounded,
    _saturate_get,
    closed_loop,
    pin,
    start_hello,
)

CONSUMERS = ("mail", "stats", "points")
MODES = ("requests", "calls", "messages", "saga")
"""What front's "place order" does (see :mod:`bench.floor.services`); each adds one part of the pattern."""
EVENT_MODES = ("messages", "saga")
PARTS = {
    "requests": "3 customer requests to front (mTLS + token, kit middleware)",
    "calls": "+ 3 resilient-client calls to stock and pay (mTLS + token)",
    "messages": "+ 1 event: outbox ▸ relay ▸ JetStream ▸ 3 inboxes",
    "saga": "+ durable saga log (instead of the calls in the request)",
}


# --- the reference: hello ----------------------------------------------------------------------------------


async def hello_reference(*, seconds: float, in_flight: int) -> dict[str, float]:
    """hello's req/s at saturation (as ``bench/checkout.py`` measures it), then its CPU per request."""
    port = free_port()
    server = start_hello(port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url + "/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("hello did not start")
                await asyncio.sleep(0.1)
        rps = await _saturate_get(url + "/v1/hello", seconds=seconds, in_flight=in_flight)
        cpu_us = await _cpu_per_get(server.pid, url + "/v1/hello", seconds=min(seconds, 3.0), in_flight=in_flight)
    finally:
        server.terminate()
        server.wait(10)
    return {"rps": rps, "cpu_us_per_request": cpu_us}


async def _cpu_per_get(pid: int, url: str, *, seconds: float, in_flight: int) -> float:
    """The server's CPU time (µs) per answered ``GET url`` over a closed loop of ``seconds``."""
    import aiohttp

    done = 0
    process = psutil.Process(pid)
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(until: float) -> None:
            nonlocal done
            while time.monotonic() < until:
                async with session.get(url) as answer:
                    await answer.read()
                    done += answer.status == 200

        before = sum(process.cpu_times()[:2])
        await asyncio.gather(*(worker(time.monotonic() + seconds) for _ in range(in_flight)))
        # Every answer was read, so the server's work for them is done and counted.
        cpu = sum(process.cpu_times()[:2]) - before
    return cpu * 1e6 / max(done, 1)


# --- the floor system ----------------------------------------------------------------------------------------


class FloorSystem(ShopSystem):
    """The floor's six services under the control plane, started and stopped the way the shop is for benches."""

    def __init__(self, root: Path, *, mode: str, front_replicas: int) -> None:
        self.mode = mode
        self.front_replicas = front_replicas
        self.addresses: dict[str, list[str]] = {}
        super().__init__(root, gateway=False, start_timeout=120)

    def start(self) -> FloorSystem:
        """Start, then remember every instance's address: on a saturated core a readiness probe can time out and
        take an instance out of rotation for a moment, which must not lose the bench its way to it."""
        super().start()
        self.addresses = {name: self.urls(name) for name in self.manifest["services"]}
        return self

    def _manifest(self, env: Any, replicas: Any, *, dropped: set[str]) -> dict[str, Any]:
        def spec(name: str, **extra: Any) -> dict[str, Any]:
            return {"module": f"bench.floor.services:{name}", "version": "1.0.0", "cwd": str(REPO_ROOT), **extra}

        services = {
            "front": spec("front", replicas=self.front_replicas, env={"FRONT_MODE": self.mode}),
            "stock": spec("stock", allow={"/v1/reservations": ["front"]}),
            "pay": spec("pay", allow={"/v1/payments": ["front"]}),
            **{name: spec(name) for name in CONSUMERS},
        }
        return {
            "name": "floor",
            "services": services,
            "events": {
                "floor": {"subjects": ["floor.order.>"], "publisher": "front", "subscribers": list(CONSUMERS)},
            },
        }


class Load:
    """Customers checking out back to back against the front instances; what they got done."""

    def __init__(self, http: httpx.AsyncClient, fronts: list[str]) -> None:
        self.http = http
        self.fronts = fronts
        self.turn = 0
        self.placed = 0
        self.errors: list[str] = []

    async def one(self) -> None:
        front = self.fronts[self.turn % len(self.fronts)]
        self.turn += 1
        try:
            cart = (await self.http.post(f"{front}/v1/carts")).raise_for_status().json()["cart_id"]
            (await self.http.post(f"{front}/v1/carts/{cart}/items", json={"product_id": "p-1"})).raise_for_status()
            body = {"cart_id": cart, "email": "floor@bench.test"}
            (await self.http.post(f"{front}/v1/orders", json=body)).raise_for_status()
        except (httpx.HTTPError, KeyError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        self.placed += 1


async def received(http: httpx.AsyncClient, system: FloorSystem) -> int:
    """Events the slowest consumer has received so far (each runs one instance)."""
    counts = []
    for name in CONSUMERS:
        answer = (await http.get(system.addresses[name][0] + "/v1/received")).raise_for_status()
        counts.append(int(answer.json()["received"]))
    return min(counts)


async def saturation(
    http: httpx.AsyncClient, system: FloorSystem, *, seconds: float, users: int, costs: Costs | None = None
) -> tuple[float, Load]:
    """Floor checkouts per second (placed, and their event received by every consumer) with ``users`` customers."""
    load = Load(http, system.addresses["front"])
    events = system.mode in EVENT_MODES
    already = await received(http, system) if events else 0
    if costs is not None:
        costs.begin()
    started = await closed_loop(load.one, users=users, seconds=seconds)
    while True:  # the events still on their way are part of the checkouts' cost
        done = await received(http, system) - already if events else load.placed
        if done >= load.placed:
            break
        if time.monotonic() > started + seconds + 60:
            load.errors.append(f"{load.placed - done} events not received 60 s after the load stopped")
            break
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    if costs is not None:
        costs.end(elapsed=elapsed, confirmed=done)
    return done / elapsed, load


async def measure_floor(mode: str, *, quick: bool, front_replicas: int) -> dict[str, Any]:
    """One floor system: start it, pin it, warm it up, find its saturation, stop it."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-floor-{mode}-"))
    system = FloorSystem(root, mode=mode, front_replicas=front_replicas)
    system.start()
    try:
        assert system.process is not None
        pids = [system.process.pid] + [p.pid for p in psutil.Process(system.process.pid).children(recursive=True)]
        pids += [int(v["pid"]) for v in system.instances() if v["pid"]]
        pin_threads(sorted(set(pids)), SERVER_CORE)
        costs = Costs.of_shop(system, fsync=False)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with system.async_client(limits=limits) as http:
            await saturation(http, system, seconds=2.0, users=8)  # warm-up: connections, tokens, consumers bound
            idle = await background(costs.names, seconds=5.0 if quick else 10.0)
            best: tuple[float, Load, dict[str, Any]] | None = None
            for users in (8,) if quick else (8, 16, 32):
                rps, load = await saturation(http, system, seconds=6.0 if quick else 15.0, users=users, costs=costs)
                errors = len(load.errors)
                print(f"floor      {mode:8s} {users:3d} customers: {rps:7.1f} floor checkouts/s, {errors} errors")
                if best is None or rps > best[0]:
                    best = (rps, load, costs.report)
            assert best is not None
            rps, load, costs.report = best
    finally:
        system.stop()
    shutil.rmtree(root, ignore_errors=True)  # kept when the run failed: its logs say why
    report = costs.report
    checkouts = max(report["confirmed"], 1)
    # What the processes burn with no checkout at all (probes, heartbeats, fetch timeouts, telemetry flushes),
    # spread over the measured run's checkouts: the part of the floor that is not per message.
    idle_share = {name: cpu_s * report["elapsed_s"] * 1000 / checkouts for name, cpu_s in idle.items()}
    return {
        "rps": rps,
        "errors": load.errors[:5],
        "error_count": len(load.errors),
        "saturation": report,
        "idle_cpu_ms_per_s": {name: cpu_s * 1000 for name, cpu_s in idle.items()},
        "idle_share_ms_per_checkout": idle_share,
    }


def figures(floor: dict[str, Any], hello: dict[str, float]) -> dict[str, float]:
    """The floor in hello units, three ways.

    - by req/s: hello req/s ÷ floor checkouts/s, the issue's definition (both at saturation of a core that other
      benches share here, so it moves with their load);
    - by CPU: CPU per floor checkout over every process ÷ hello's CPU per request;
    - on a dedicated core: the per-checkout CPU (gross minus the idle share) plus the idle background spread
      over the checkouts a whole core would then serve — what the first figure would read on a quiet machine.
    """
    report = floor["saturation"]
    gross = report["server_cpu_ms_per_checkout"]
    marginal = gross - sum(floor["idle_share_ms_per_checkout"].values())
    idle_fraction = min(sum(floor["idle_cpu_ms_per_s"].values()) / 1000, 0.99)
    dedicated = marginal / (1 - idle_fraction)
    hello_ms = hello["cpu_us_per_request"] / 1000
    return {
        "units_by_rps": hello["rps"] / floor["rps"] if floor["rps"] else float("inf"),
        "units_by_cpu": gross / hello_ms,
        "units_dedicated_core": dedicated / hello_ms,
        "cpu_ms_per_checkout": gross,
        "marginal_cpu_ms_per_checkout": marginal,
        "dedicated_core_cpu_ms_per_checkout": dedicated,
    }


def decompose(results: dict[str, dict[str, Any]], hello: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each part of the pattern's CPU per checkout, by subtracting the mode without it (idle share removed)."""
    previous = {"calls": "requests", "messages": "calls", "saga": "messages"}
    parts: dict[str, dict[str, float]] = {}
    for mode in MODES:
        if mode not in results:
            continue
        ms = results[mode]["figures"]["marginal_cpu_ms_per_checkout"]
        before = previous.get(mode)
        if before is not None and before not in results:
            continue
        part = ms - (results[before]["figures"]["marginal_cpu_ms_per_checkout"] if before else 0.0)
        parts[mode] = {"cpu_ms": part, "hello_units": part * 1000 / hello["cpu_us_per_request"]}
    if parts:
        reference = f"hello {hello['cpu_us_per_request']:.0f} us"
        print(f"parts      CPU per checkout without the idle background, by subtraction ({reference}):")
        for mode, part in parts.items():
            print(f"             {PARTS[mode]:62s} {part['cpu_ms']:6.2f} ms = {part['hello_units']:5.1f} hello units")
    return parts


def print_floor(mode: str, floor: dict[str, Any]) -> None:
    """The floor's figures and its CPU per process."""
    report, f = floor["saturation"], floor["figures"]
    print(f"floor      {mode}: {floor['rps']:.1f} floor checkouts/s at saturation, {floor['error_count']} errors")
    print(
        f"ratio      floor cost in hello units ({mode}): {f['units_by_rps']:.1f} by req/s, "
        f"{f['units_by_cpu']:.1f} by CPU, {f['units_dedicated_core']:.1f} on a dedicated core "
        f"(the whole checkout's target: <= {TARGET_COST:g})"
    )
    print(
        f"cpu        every server process: {report['server_cpu_ms_per_checkout']:.2f} ms CPU per floor checkout "
        f"(server core {report['server_core_busy'] * 100:.0f}% busy over {report['elapsed_s']:.1f} s; "
        f"load generator {report['client_cpu_ms_per_checkout']:.1f} ms); idle background "
        f"{sum(floor['idle_cpu_ms_per_s'].values()):.0f} ms CPU/s"
    )
    print(f"             {'process':16s} {'ms/checkout':>11s} {'of it idle':>10s} {'idle ms/s':>9s}")
    for name, ms in report["cpu_ms_per_checkout"].items():
        idle_ms = floor["idle_share_ms_per_checkout"].get(name, 0.0)
        idle_rate = floor["idle_cpu_ms_per_s"].get(name, 0.0)
        if ms >= 0.05 or idle_rate >= 0.5:
            print(f"             {name:16s} {ms:11.2f} {idle_ms:10.2f} {idle_rate:9.0f}")


async def smtp_cost(*, count: int) -> dict[str, dict[str, float]]:
    """CPU per e-mail of an SMTP send (:mod:`bench.floor.smtp`: smtplib ▸ aiosmtpd), both ends on the server core.

    Once with a connection per e-mail (the notification mailer's batch of one, at low load), once with 10 per
    connection (a batch under load).
    """
    port = free_port()

    def on_server_core() -> None:
        os.sched_setaffinity(0, {SERVER_CORE})

    python = [sys.executable, "-m", "bench.floor.smtp"]
    sink = await asyncio.create_subprocess_exec(*python, "sink", str(port), cwd=ROOT, preexec_fn=on_server_core)
    found: dict[str, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the SMTP sink did not start") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            break
        process = psutil.Process(sink.pid)
        for per_connection in (1, 10):
            before = sum(process.cpu_times()[:2])
            sender = await asyncio.create_subprocess_exec(
                *python, "send", str(port), str(count), str(per_connection),
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, preexec_fn=on_server_core,
            )  # fmt: skip
            out, _ = await sender.communicate()
            sink_cpu = sum(process.cpu_times()[:2]) - before
            sent = json.loads(out)
            found[f"{per_connection} per connection"] = {
                "sender_ms": sent["cpu_s"] * 1000 / count,
                "sink_ms": sink_cpu * 1000 / count,
            }
    finally:
        sink.terminate()
        await sink.wait()
    return found


def pin_threads(pids: list[int], core: int) -> None:
    """Pin every thread of each process to one core.

    ``sched_setaffinity`` on a pid moves that one thread only: the threads a process started before (the
    aiosqlite worker of each connection, nats-server's Go threads) would keep running on any core.
    """
    if (os.cpu_count() or 1) <= core:
        return
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for thread in psutil.Process(pid).threads():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(thread.id, {core})


async def background(names: dict[int, str], *, seconds: float) -> dict[str, float]:
    """CPU seconds per second each process spends with no load."""

    def cpu() -> dict[int, float]:
        found: dict[int, float] = {}
        for pid in names:
            with contextlib.suppress(psutil.Error):
                found[pid] = sum(psutil.Process(pid).cpu_times()[:2])
        return found

    before = cpu()
    await asyncio.sleep(seconds)
    after = cpu()
    per: dict[str, float] = {}
    for pid, value in after.items():
        name = names[pid]
        per[name] = per.get(name, 0.0) + (value - before.get(pid, value)) / seconds
    return per


async def main_async(quick: bool, *, modes: list[str], front_replicas: int, with_smtp: bool = True) -> None:
    pin([os.getpid()], CLIENT_CORE)
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    print(f"load average before: {load:.2f} (shared machine: req/s is noisy, CPU per request steadier)")
    hello = await hello_reference(seconds=5.0 if quick else 15.0, in_flight=32)
    print(
        f"reference  hello GET /v1/hello: {hello['rps']:8.1f} req/s, {hello['cpu_us_per_request']:.0f} us CPU "
        f"per request (server on core {SERVER_CORE})"
    )
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        floor = await measure_floor(mode, quick=quick, front_replicas=front_replicas)
        floor["figures"] = figures(floor, hello)
        results[mode] = floor
        print_floor(mode, floor)
    decomposition = decompose(results, hello)
    smtp = await smtp_cost(count=200 if quick else 1000) if with_smtp else {}
    for label, cost in smtp.items():
        ms = cost["sender_ms"] + cost["sink_ms"]
        units = ms * 1000 / hello["cpu_us_per_request"]
        print(
            f"smtp       apart (no kit mailer), {label}: {ms:.2f} ms CPU per e-mail = {units:.1f} hello units "
            f"(smtplib sender {cost['sender_ms']:.2f} ms, aiosmtpd sink {cost['sink_ms']:.2f} ms)"
        )
    first = results["messages" if "messages" in results else modes[0]]["figures"]
    print(
        json.dumps(
            {
                "bench": "checkout_floor",
                "metric": "floor cost in hello units (hello rps / floor checkout rps at saturation): one checkout's "
                "message pattern on the kit, no business logic, no tables of the services' own",
                "value": round(first["units_by_rps"], 2),
                "value_by_cpu": round(first["units_by_cpu"], 2),
                "value_dedicated_core": round(first["units_dedicated_core"], 2),
                "mode": "messages" if "messages" in results else modes[0],
                "decomposition": _rounded(decomposition),
                "reference_target": f"checkout cost <= {TARGET_COST:g} hello units (bench/checkout.py)",
                "hello_rps": round(hello["rps"], 1),
                "hello_cpu_us_per_request": round(hello["cpu_us_per_request"], 1),
                "modes": _rounded(results),
                "front_replicas": front_replicas,
                "smtp": {"included": False, "apart_cpu_ms_per_email": _rounded(smtp)},
                "quick": quick,
                "load_average": round(load, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one saturation level, short runs")
    parser.add_argument("--modes", default=",".join(MODES), help=f"some of {', '.join(MODES)} (default: all)")
    parser.add_argument("--front-replicas", type=int, default=1, help="front instances (the shop's order runs 2)")
    parser.add_argument("--no-smtp", action="store_true", help="skip pricing the SMTP send apart")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes takes a comma-separated list of {', '.join(MODES)}")
    import uvloop

    uvloop.run(main_async(args.quick, modes=modes, front_replicas=args.front_replicas, with_smtp=not args.no_smtp))


if __name__ == "__main__":
    main()
