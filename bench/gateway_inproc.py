"""In-process gateway harness: the gateway's Python per request, without sockets, kernel or load generator.

The gateway runs with ``bench/gateway.py``'s config, imported from it (allowlist ▸ JWT ▸ scopes ▸ rate limits ▸
quota ▸ validation ▸ proxy ▸ response filtering, access log, metrics and trace ids on). Its protocols are fed directly:
a client connection gets a request's bytes (``data_received``), its pooled upstream connection gets the bytes
uvicorn would answer with, and the fake transports keep what the gateway writes. So the CPU time measured is
the gateway's own Python per request (parsing, chain, both header blocks, filtering, telemetry), the part of
``bench/gateway.py``'s CPU per request that is not kernel loopback.

    .venv/bin/python bench/gateway_inproc.py [--requests N] [--rounds R] [--profile]
    .venv/bin/python bench/gateway_inproc.py --compare /path/to/other/checkout/src
    .venv/bin/python bench/gateway_inproc.py --instructions [--compare /path/to/other/checkout/src]

``--compare SRC`` alternates rounds between this tree and another source tree (a ``git worktree`` of an older
commit, say), each in its own process, and prints both medians and their ratio: on a shared machine, both
sides see the same background load. Figures are ``time.process_time`` (CPU), not wall-clock.
``--instructions`` counts instructions per request under callgrind instead (collected only while the requests
run): slow, but the same on a loaded machine as on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import gc
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway import gateway_config, token  # bench/gateway.py: the socket bench's config, so both measure one chain

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PORT = 18080
TICK = 25
"""Requests fed per event-loop iteration (``bench/gateway.py`` keeps 50 connections busy)."""
BODY = b'{"message":"hello","internal_note":"stripped by the gateway"}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\ndate: Fri, 27 Nov 2026 02:40:00 GMT\r\nserver: uvicorn\r\n"
    b"content-length: %d\r\ncontent-type: application/json\r\n\r\n%s" % (len(BODY), BODY)
)


class FakeTransport:
    """Enough of an asyncio transport for the gateway's protocols: writes are kept, not sent."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def run(requests: int, rounds: int, profile: bool, bare: bool = False, instructions: bool = False) -> list[float]:
    """CPU microseconds per request for each round (after a warm-up round)."""
    from baton.gateway.config import load_config
    from baton.gateway.connection import ClientConnection
    from baton.gateway.gateway import Gateway
    from baton.gateway.pool import UpstreamConnection

    with tempfile.TemporaryDirectory(prefix="baton-gw-inproc-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "gateway.yaml").write_text(json.dumps(gateway_config(UPSTREAM_PORT, tmp / "quotas.db", bare=bare)))
        log = io.BytesIO()
        gateway = Gateway(load_config(tmp / "gateway.yaml"), home=tmp, access_log=log)
        await gateway.start("127.0.0.1", 0)
        try:
            state = gateway.state
            assert state is not None
            request = (
                b"GET /v1/hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer %s\r\n\r\n" % token().encode()
            )
            client = ClientConnection(state)
            client_transport = FakeTransport(("127.0.0.1", 40000))
            client.connection_made(client_transport)  # type: ignore[arg-type]
            upstream = UpstreamConnection(state.pool, ("http", "127.0.0.1", UPSTREAM_PORT, "hello"))
            upstream_transport = FakeTransport(("127.0.0.1", UPSTREAM_PORT))
            upstream.connection_made(upstream_transport)  # type: ignore[arg-type]
            state.pool.release(upstream)
            # As ``python -m baton.gateway`` does once started: start-up objects leave the collector's walks.
            gc.collect()
            gc.freeze()

            async def one_round(n: int) -> float:
                feed_client, feed_upstream = client.data_received, upstream.data_received
                written = client_transport.written
                start = time.process_time()
                for i in range(n):
                    feed_client(request)
                    feed_upstream(ANSWER)
                    if i % TICK == 0:
                        await asyncio.sleep(0)  # a loop iteration, as under load: callbacks queued meanwhile run
                elapsed = time.process_time() - start
                last = b"".join(written[-2:])  # the last answer, in one or two writes (a streamed one may take two)
                if not last.startswith(b"HTTP/1.1 200") or (b"internal_note" in last) != bare or b'"hello"' not in last:
                    raise SystemExit(f"unexpected answer: {last[:300]!r}")
                written.clear()
                upstream_transport.written.clear()
                log.seek(0)
                log.truncate()
                return elapsed / n * 1e6

            await one_round(min(requests, 2000))  # warm-up: caches, memo tables, first-time allocations
            figures = []
            if instructions:
                # Under callgrind, collecting only inside functools.reduce: the requests, with the per-iteration
                # telemetry flush (flush_records) called where the loop would, and nothing else.
                feed_client, feed_upstream, flush = client.data_received, upstream.data_received, state.flush_records

                def tick(_: None, __: int) -> None:
                    for _ in range(TICK):
                        feed_client(request)
                        feed_upstream(ANSWER)
                    flush()

                functools.reduce(tick, range(requests // TICK), None)
                if b'"hello"' not in client_transport.written[-1]:
                    raise SystemExit(f"unexpected answer: {client_transport.written[-1][:300]!r}")
                return figures
            if profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                await one_round(requests)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(45)
                collections = sum(generation["collections"] for generation in gc.get_stats())
                print(f"garbage collections so far: {collections}")
            for _ in range(rounds):
                figures.append(await one_round(requests))
            return figures
        finally:
            await gateway.aclose(grace=0.1)


def measure(requests: int, rounds: int, profile: bool, bare: bool = False, instructions: bool = False) -> list[float]:
    import uvloop

    return uvloop.run(run(requests, rounds, profile, bare, instructions))


def instructions_per_request(src: str, requests: int, bare: bool) -> float:
    """Instructions per request of the tree at ``src`` (callgrind; deterministic, whatever the machine's load)."""
    with tempfile.TemporaryDirectory(prefix="baton-gw-callgrind-") as tmpdir:
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce"]
        cmd += [f"--callgrind-out-file={tmpdir}/callgrind.out", sys.executable, __file__, "--in-callgrind"]
        cmd += ["--requests", str(requests), *(["--bare"] if bare else [])]
        out = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, check=True)
    collected = re.search(r"Collected : (\d+)", out.stderr)
    if collected is None:
        raise SystemExit(f"no instruction count from callgrind: {out.stderr[-500:]}")
    return int(collected.group(1)) / (requests // TICK * TICK)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one round first")
    parser.add_argument("--compare", metavar="SRC", help="another tree's src/ to alternate with (reference)")
    parser.add_argument("--bare", action="store_true", help="a route without policies or response filtering")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--instructions", action="store_true", help="callgrind instructions per request (with --compare: both trees)"
    )
    parser.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_callgrind:
        measure(args.requests, 0, False, args.bare, instructions=True)
        return 0
    if args.instructions:
        trees = {"this tree": str(ROOT / "src"), **({"reference": args.compare} if args.compare else {})}

        def count(src: str) -> float:
            return instructions_per_request(src, args.requests, args.bare)

        with concurrent.futures.ThreadPoolExecutor() as pool:  # both trees at once: each run is single-threaded
            counts = dict(zip(trees, pool.map(count, trees.values()), strict=True))
        for name, figure in counts.items():
            print(f"{name:>10}: {figure:,.0f} instructions/request (callgrind, {args.requests} requests)")
        if args.compare:
            print(f"this tree / reference: {counts['this tree'] / counts['reference']:.3f}x (instructions per request)")
        return 0
    if args.json:
        print(json.dumps(measure(args.requests, args.rounds, False, args.bare)))
        return 0
    if not args.compare:
        figures = measure(args.requests, args.rounds, args.profile, args.bare)
        print(f"gateway Python per request: median {statistics.median(figures):.1f} us CPU", end="")
        print(f" (rounds: {', '.join(f'{f:.1f}' for f in figures)}; {args.requests} requests each)")
        return 0
    sides = {"this tree": str(ROOT / "src"), "reference": args.compare}
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, src in sides.items():
            env = {**os.environ, "PYTHONPATH": src}
            cmd = [sys.executable, __file__, "--json", "--requests", str(args.requests), "--rounds", "1"]
            cmd += ["--bare"] if args.bare else []
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            results[name] += json.loads(out.strip().splitlines()[-1])
    for name, figures in results.items():
        each = ", ".join(f"{f:.1f}" for f in figures)
        print(f"{name:>10}: median {statistics.median(figures):.1f} us CPU/request ({each})")
    ratio = statistics.median(results["this tree"]) / statistics.median(results["reference"])
    print(f"this tree / reference: {ratio:.2f}x (CPU per request, alternated rounds, same machine and load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
