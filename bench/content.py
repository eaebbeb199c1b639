"""Content benchmark: product-blurb reads through the content client, cached vs uncached, in the same run.

The hub runs as its own process (``python -m baton.kit.serve apps.shop.content.service:service``, seeded, SQLite)
pinned to core 1; this process, the reader, is pinned to core 0. The reader asks what a product page asks —
``ContentClient.localized("product-blurbs", filters={productId}, locale, fallbacks=("en",))`` for the 12 demo
products in ``fr`` then ``en`` — with the cache off (``CachePolicy(ttl=0)``: every read is an HTTP call through
the resilient client and a SQL query in the hub) and on (``ttl=300``, warmed by one pass). Both phases alternate
in rounds so machine noise hits both alike. The figure is reads per second; the ratio is cached / uncached.

Target: the cached client serves blurbs >= 20x faster than the uncached one.

    .venv/bin/python bench/content.py [--quick]
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

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from apps.shop.catalog.seed import PRODUCT_IDS  # noqa: E402

from baton.content import CachePolicy, ContentClient  # noqa: E402
from baton.events.server import free_port  # noqa: E402
from baton.kit.component import InstanceContext  # noqa: E402
from baton.kit.settings import InstanceSettings  # noqa: E402

TARGET = 20.0


def start_hub(home: Path, core: int | None) -> tuple[subprocess.Popen[bytes], str]:
    """The hub process on a free port, seeded; returns it and its base URL once ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "CONTENT_", "OTEL_"))}
    env.update(BATON_SERVICE="content", BATON_PORT=str(port), BATON_HOME=str(home), BATON_LOG_LEVEL="WARNING")
    preexec = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "baton.kit.serve", "apps.shop.content.service:service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the content hub did not become ready")


async def read_pass(client: ContentClient) -> int:
    """One product page per product and locale; how many blurbs were read."""
    reads = 0
    for locale in ("fr", "en"):
        for product_id in PRODUCT_IDS:
            blurb = await client.localized(
                "product-blurbs", filters={"productId": {"$eq": product_id}}, locale=locale, fallbacks=("en",)
            )
            assert blurb is not None
            assert blurb["productId"] == product_id
            reads += 1
    return reads


async def measure(client: ContentClient, seconds: float) -> float:
    """Reads per second over about ``seconds``."""
    reads, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        reads += await read_pass(client)
    return reads / (time.perf_counter() - started)


async def run(url: str, *, rounds: int, seconds: float) -> tuple[list[float], list[float], dict[str, int]]:
    ctx = InstanceContext(service="bench", instance="bench-1", settings=InstanceSettings(service="bench"))
    uncached = ContentClient(base_url=url, policy=CachePolicy(ttl=0))
    cached = ContentClient(base_url=url, policy=CachePolicy(ttl=300))
    await uncached.start(ctx)
    await cached.start(ctx)
    try:
        await read_pass(uncached)  # connections open, hub warm
        await read_pass(cached)  # cache warm
        cold, warm = [], []
        for _ in range(rounds):
            cold.append(await measure(uncached, seconds))
            warm.append(await measure(cached, seconds))
        stats = {"hits": cached.cache.hits, "misses": cached.cache.misses, "cached_calls": cached.calls}
        return cold, warm, stats
    finally:
        await uncached.stop()
        await cached.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a shortened run (well under 60 s)")
    args = parser.parse_args()
    rounds, seconds = (3, 1.5) if args.quick else (5, 5.0)
    pinned = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    with tempfile.TemporaryDirectory() as home:
        process, url = start_hub(Path(home), 1 if pinned else None)
        try:
            if pinned:
                os.sched_setaffinity(0, {0})
            cold, warm, stats = asyncio.run(run(url, rounds=rounds, seconds=seconds))
        finally:
            process.terminate()
            process.wait(timeout=20)
    uncached, cached = max(cold), max(warm)
    ratio = cached / uncached
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, pinned={pinned}")
    print(f"uncached blurb reads/s per round: {[round(x) for x in cold]}  (every read: HTTP + SQL in the hub)")
    hits, calls = stats["hits"], stats["cached_calls"]
    print(f"cached   blurb reads/s per round: {[round(x) for x in warm]}  (cache hits: {hits}, hub calls: {calls})")
    print(f"best uncached {uncached:,.0f}/s, best cached {cached:,.0f}/s: cached is {ratio:.1f}x faster")
    print(
        json.dumps(
            {
                "bench": "content",
                "metric": "cached_over_uncached_blurb_reads_per_second",
                "value": round(ratio, 2),
                "target": f">= {TARGET:g}",
                "met": ratio >= TARGET,
                "uncached_per_s": round(uncached),
                "cached_per_s": round(cached),
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
