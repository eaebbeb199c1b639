"""Order's share of a checkout, in process: the CPU the order service spends on one checkout, without the network.

``bench/checkout.py`` measures the whole shop, whose CPU per checkout moves by several ms from run to run on a
shared machine. This harness isolates the order service's own Python and SQLite work: the service runs in this
process on a real SQLite file (its migrations, middleware, idempotency keys, saga orchestrator, outbox), the
customer's three requests (open a cart, add an item, place the order, each with an ``Idempotency-Key``) go
through its ASGI app without sockets, and inventory, payment and catalog are the in-memory fakes of the
service's own tests (``apps/shop/order/tests/order_fakes.py``). A checkout ends when its saga has confirmed the
order. Figures are ``time.process_time`` per checkout (CPU, not wall-clock), so they include the in-process HTTP
client's share, the same on both sides of a comparison; logs are at WARNING (no access lines).

    .venv/bin/python bench/checkout_inproc.py [--checkouts N] [--rounds R] [--concurrency C]
    .venv/bin/python bench/checkout_inproc.py --compare /path/to/other/checkout

``--compare ROOT`` alternates rounds between this tree and another checkout of the repository (a ``git
worktree`` of an older commit), each in its own process, and prints both medians and their ratio: on a shared
machine, both sides see the same background load. ``--instructions`` counts instructions per checkout under
callgrind instead (collected only while one round runs, after a warm-up): slow, but much the same on a loaded
machine as on a quiet one.

    .venv/bin/python bench/checkout_inproc.py --instructions --checkouts 40 [--compare ROOT]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _use_tree(root: Path) -> None:
    """Import the shop and baton from ``root`` (this tree unless comparing)."""
    for path in (root / "apps" / "shop" / "order" / "tests", root / "src", root):
        sys.path.insert(0, str(path))


def run(checkouts: int, rounds: int, concurrency: int, *, instructions: bool = False) -> list[float]:
    """CPU ms per checkout of each round (after one warm-up round); under callgrind (``instructions``), one round
    run inside ``functools.reduce`` (the function callgrind collects in) and no figures."""
    from apps.shop.common.testusers import USERS

    os.environ["SHOP_USER_JWKS"] = USERS.jwks_json()
    # The real HTTP clients are built but never called: the fakes stand in for every peer.
    os.environ["BATON_SERVICE_URLS"] = '{"inventory": "http://127.0.0.1:9"}'

    import httpx
    import uvloop
    from apps.shop.order import wiring
    from apps.shop.order.service import service
    from order_fakes import FakeCatalog, FakePayments, FakeStock, product

    from baton.kit import InstanceSettings
    from baton.telemetry.logging import configure_logging

    configure_logging(service="order", instance="order-bench", level="WARNING")

    wiring.checkout.stock = FakeStock(on_hand={"p1": 10**9})
    wiring.checkout.payments = FakePayments()
    wiring.catalog = FakeCatalog(items=[product("p1", 1000)])
    service.reload_settings()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    http: httpx.AsyncClient | None = None
    up, done = loop.create_future(), asyncio.Event()

    async def serve(home: str) -> None:
        """The instance and its client, held open in one task (their scopes must end where they began)."""
        nonlocal http
        async with service.running(InstanceSettings(home=Path(home))):
            async with asyncio.timeout(30):
                await wiring.backfill.wait()
            transport = httpx.ASGITransport(app=service.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://order", headers=USERS.headers("bench-customer")
            ) as http:
                up.set_result(None)
                await done.wait()

    async def post(path: str, body: object = None) -> dict[str, object]:
        assert http is not None
        answer = await http.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if answer.status_code >= 300:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        found: dict[str, object] = answer.json()
        return found

    async def one() -> str:
        cart = await post("/v1/carts")
        await post(f"/v1/carts/{cart['cart_id']}/items", {"product_id": "p1", "quantity": 1})
        body = {"cart_id": cart["cart_id"], "email": "ada@example.test", "card_token": "tok_visa"}
        return str((await post("/v1/orders", body))["order_id"])

    async def one_round(n: int) -> float:
        started = time.process_time()
        order_ids: list[str] = []
        for _ in range(n // concurrency):
            order_ids += await asyncio.gather(*(one() for _ in range(concurrency)))
        for order_id in order_ids:
            record = await wiring.sagas.orchestrator.wait(order_id, timeout=60)
            if record.status.value != "completed":
                raise SystemExit(f"saga {order_id} ended {record.status.value}")
        return (time.process_time() - started) * 1000 / len(order_ids)

    with tempfile.TemporaryDirectory(prefix="bench-checkout-inproc-") as home:
        server = loop.create_task(serve(home))
        try:
            loop.run_until_complete(asyncio.wait([up, server], return_when=asyncio.FIRST_COMPLETED))
            if server.done():
                server.result()  # the instance did not start: its error
            loop.run_until_complete(one_round(max(concurrency, checkouts // 4)))  # warm-up: caches, pools, imports
            if instructions:
                functools.reduce(lambda _, __: loop.run_until_complete(one_round(checkouts)), range(1), None)
                return []
            return [loop.run_until_complete(one_round(checkouts)) for _ in range(rounds)]
        finally:
            done.set()
            loop.run_until_complete(server)
            loop.close()


def instructions_per_checkout(root: Path, checkouts: int, concurrency: int) -> float:
    """Instructions per checkout of the tree at ``root`` (callgrind, collected only during one measured round:
    much the same on a loaded machine as on a quiet one)."""
    with tempfile.TemporaryDirectory(prefix="bench-checkout-callgrind-") as tmpdir:
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce"]
        command += [f"--callgrind-out-file={tmpdir}/callgrind.out", sys.executable, __file__, "--in-callgrind"]
        command += ["--tree", str(root), "--checkouts", str(checkouts), "--concurrency", str(concurrency)]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    collected = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or collected is None:
        raise SystemExit(f"no instruction count from callgrind ({root}):\n{out.stdout[-1000:]}\n{out.stderr[-3000:]}")
    return int(collected.group(1)) / (checkouts // concurrency * concurrency)


def _in_process(root: Path, checkouts: int, concurrency: int) -> float:
    """One round in a fresh process importing from ``root``; CPU ms per checkout."""
    command = [sys.executable, __file__, "--tree", str(root), "--checkouts", str(checkouts)]
    command += ["--concurrency", str(concurrency), "--rounds", "1", "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"round in {root} failed:\n{out.stdout[-1000:]}\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rounds"][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=200, help="checkouts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8, help="checkouts placed at once")
    parser.add_argument("--compare", metavar="ROOT", help="another checkout of the repository (reference)")
    parser.add_argument(
        "--instructions", action="store_true", help="callgrind instructions per checkout (with --compare: both trees)"
    )
    parser.add_argument("--tree", metavar="ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    trees = {"this tree": ROOT, **({"reference": Path(args.compare).resolve()} if args.compare else {})}
    if args.instructions:

        def count(root: Path) -> float:
            return instructions_per_checkout(root, args.checkouts, args.concurrency)

        with concurrent.futures.ThreadPoolExecutor() as pool:  # both trees at once: each run is single-threaded
            counts = dict(zip(trees, pool.map(count, trees.values()), strict=True))
        for name, figure in counts.items():
            print(f"{name:>10}: {figure / 1e6:,.2f} M instructions/checkout (callgrind, {args.checkouts} checkouts)")
        if args.compare:
            print(f"this tree / reference: {counts['this tree'] / counts['reference']:.3f}x (instructions/checkout)")
        return 0
    if args.compare:
        figures: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):  # alternating: both sides see the same background load
            for name, root in trees.items():
                figures[name].append(_in_process(root, args.checkouts, args.concurrency))
        medians = {name: statistics.median(values) for name, values in figures.items()}
        for name, values in figures.items():
            shown = ", ".join(f"{v:.2f}" for v in values)
            print(f"{name:>10}: median {medians[name]:.2f} ms CPU per checkout (rounds: {shown})")
        print(f"this tree / reference: {medians['this tree'] / medians['reference']:.3f}x (CPU per checkout)")
        return 0
    _use_tree(Path(args.tree) if args.tree else ROOT)
    rounds = run(args.checkouts, args.rounds, args.concurrency, instructions=args.in_callgrind)
    if args.in_callgrind:
        return 0
    if args.json:
        print(json.dumps({"rounds": rounds}))
    else:
        print(f"order in process: {statistics.median(rounds):.2f} ms CPU per checkout (median of {rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
