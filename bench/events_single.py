"""One consumer, one event at a time: the CPU a kit consumer spends per event at a checkout's trickle.

``bench/checkout_floor.py`` showed each consumer (an inbox with an empty handler) spending 1.3-1.6 ms of CPU per
event. At checkout rates every fetch brings ONE message, so every per-batch cost of the fetch loop and the inbox
is a per-event cost; ``bench/events.py`` batches and does not show it. This bench isolates it:

- a real embedded ``nats-server`` (``sync_interval: always``) and a tiny span sink standing in for the control
  plane's receiver (``BATON_TELEMETRY_URL``: spans are exported as under ``baton up``);
- one consumer process exactly as the floor runs it, ``python -m baton.kit.serve bench.floor.services:mail``
  (its own SQLite file, JSON logs, tracing, the inbox with an empty handler), plain HTTP (no control plane,
  so no mutual TLS: that is the requests' cost, not the events');
- this process publishes one event every ``--interval`` ms straight to JetStream and waits until the consumer
  received all of them (``GET /v1/received``).

Figure: the consumer's CPU per event (user + system of every thread, psutil), minus its idle background (fetch
timeouts, heartbeats, span export) measured over the same length of time with no events. ``--compare ROOT``
runs the consumer from another checkout's ``src`` in alternating rounds (A/B in the same run: a shared machine's
load moves both). ``--profile OUT`` runs the consumer of this tree under cProfile (the loop thread's CPU) for its
first round; ``--threads`` prints user/system time and the CPU per thread.

What it showed (2026-11-27): the consumer spends all of it on the event loop's thread (statements run inline),
and most of it in the inbox's transaction; the same ``Inbox.process`` costs ~0.4 ms CPU per event back to back
but ~1.2-1.4 ms with 10 ms between events (cold caches after every sleep), so at a trickle every Python call on
the per-event path costs about three times what a batched benchmark says. After the inbox's one-statement record
and the pull request kept open across fetches: 1.225 vs 1.650 ms CPU per event (0.742x, 6 rounds x 400 events,
``--compare`` e4d4c39); syscalls per event (``strace -c -f`` on the consumer): 38 vs 66 (getpid 14 vs 25, epoll 4
vs 11, socket writes 1 vs 2, reads 1 vs 2, mmap+munmap 2 vs 5 pairs: one 16 KiB frame stack per greenlet trip).

    .venv/bin/python bench/events_single.py [--events 300] [--interval 10] [--rounds 3] [--compare ROOT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from baton.events.envelope import CloudEvent  # noqa: E402
from baton.events.server import EmbeddedNats, NatsServerConfig, free_port  # noqa: E402

PLACED = "floor.order.placed.v1"  # bench.floor.services.PLACED
PAYLOAD = {"order": "o-000001", "customer": "c-42", "total": 129.5, "lines": [{"sku": "A1", "qty": 2}]}


class SpanSink:
    """Answers the consumer's span exports (POST /v1/traces) with 200, as the control plane's receiver would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SpanSink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                await reader.readexactly(length)
                self.posts += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()


_PROFILED = """
import cProfile, sys, time
from baton.kit.serve import main
profiler = cProfile.Profile(time.thread_time)
profiler.enable()
try:
    code = main(["bench.floor.services:mail"])
finally:
    profiler.disable()
    profiler.dump_stats({out!r})
sys.exit(code)
"""


class Consumer:
    """The floor's ``mail`` service in its own process, from the ``src`` of ``root``."""

    def __init__(self, root: Path, home: Path, nats_url: str, telemetry_url: str, profile: Path | None) -> None:
        self.port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": f"{root / 'src'}{os.pathsep}{ROOT}",
            "BATON_SERVICE": "mail",
            "BATON_INSTANCE": "mail-1",
            "BATON_PORT": str(self.port),
            "BATON_HOME": str(home),
            "BATON_NATS_URL": nats_url,
            "BATON_DISCOVERY": "off",
            "BATON_TELEMETRY_URL": telemetry_url,
        }
        command = [sys.executable]
        if profile is not None:
            # The event loop thread's CPU only (time.thread_time): cProfile's default wall clock would charge the
            # waits for aiosqlite's thread and the GIL to whatever the loop was running.
            command += ["-c", _PROFILED.format(out=str(profile))]
        else:
            command += ["-m", "baton.kit.serve", "bench.floor.services:mail"]
        self.log = (home / "mail.log").open("wb")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        self.ps = psutil.Process(self.process.pid)
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=5.0)

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"consumer exited {self.process.returncode}; see {self.log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError("consumer not ready")

    async def received(self) -> int:
        return int((await self.http.get("/v1/received")).json()["received"])

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def threads(self) -> dict[str, float]:
        """CPU seconds per thread: ``loop`` (the main thread), others by their thread id."""
        return {
            "loop" if thread.id == self.ps.pid else f"tid {thread.id}": thread.user_time + thread.system_time
            for thread in self.ps.threads()
        }

    async def stop(self) -> None:
        await self.http.aclose()
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


async def wait_received(consumer: Consumer, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := await consumer.received()) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the consumer received {got} of {n} events")
        await asyncio.sleep(0.05)


async def one_round(
    root: Path, workdir: Path, nc: Any, nats_url: str, sink: SpanSink, args: argparse.Namespace, profile: Path | None
) -> float:
    """CPU ms per event of one consumer started from ``root`` (idle background removed)."""
    consumer = Consumer(root, workdir, nats_url, f"http://127.0.0.1:{sink.port}", profile)
    js = nc.jetstream()
    try:
        await consumer.ready()
        # Warm-up: first statements, first spans, the stream's first messages.
        for _ in range(20):
            event = CloudEvent.create(type=PLACED, source="/front", data=PAYLOAD)
            await js.publish(event.nats_subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
            await asyncio.sleep(args.interval / 1000)
        await wait_received(consumer, 20)
        duration = args.events * args.interval / 1000
        idle_start = consumer.cpu()
        await asyncio.sleep(duration)
        idle = consumer.cpu() - idle_start
        loop = asyncio.get_running_loop()
        start_threads, start_times = consumer.threads(), consumer.ps.cpu_times()
        start_cpu, start = consumer.cpu(), loop.time()
        for i in range(args.events):
            delay = start + i * args.interval / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            event = CloudEvent.create(type=PLACED, source="/front", data=PAYLOAD)
            await js.publish(event.nats_subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        await wait_received(consumer, 20 + args.events)
        busy = consumer.cpu() - start_cpu
        if args.threads:
            end_threads, end_times = consumer.threads(), consumer.ps.cpu_times()
            user = (end_times.user - start_times.user) / args.events * 1000
            system = (end_times.system - start_times.system) / args.events * 1000
            print(f"  user {user:.3f} + system {system:.3f} ms per event (idle included)")
            print(
                "  threads (ms per event, idle included): "
                + ", ".join(
                    f"{name} {(cpu - start_threads.get(name, 0.0)) / args.events * 1000:.3f}"
                    for name, cpu in sorted(end_threads.items(), key=lambda kv: -kv[1])
                )
            )
        elapsed = loop.time() - start
        background = idle * elapsed / duration
        return (busy - background) / args.events * 1000
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> None:
    roots = [("tree", ROOT)] + ([("compare", Path(args.compare))] if args.compare else [])
    results: dict[str, list[float]] = {name: [] for name, _ in roots}
    with tempfile.TemporaryDirectory(prefix="baton-bench-events-single-") as tmp:
        workdir = Path(tmp)
        config = NatsServerConfig(store_dir=workdir / "nats", port=free_port(), monitor_port=None)
        async with EmbeddedNats(config) as server, SpanSink() as sink:
            nc = await nats.connect(server.url)
            try:
                for r in range(args.rounds):
                    for name, root in roots if r % 2 == 0 else roots[::-1]:
                        profile = Path(args.profile) if args.profile and name == "tree" and r == 0 else None
                        ms = await one_round(root, workdir / f"{name}-{r}", nc, server.url, sink, args, profile)
                        results[name].append(ms)
                        print(f"round {r + 1} {name:<8} {ms:.3f} ms CPU per event", flush=True)
            finally:
                await nc.close()
    for name, values in results.items():
        print(f"{name:<8} median {sorted(values)[len(values) // 2]:.3f} ms CPU per event ({len(values)} rounds)")
    if args.compare:
        tree, other = (sorted(v)[len(v) // 2] for v in results.values())
        print(f"tree / compare: {tree / other:.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=10.0, help="ms between events")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", help="another checkout's root, run in alternating rounds")
    parser.add_argument("--threads", action="store_true", help="print the consumer's CPU per thread")
    parser.add_argument("--profile", help="write a cProfile of this tree's consumer (first round) here")
    arguments = parser.parse_args()
    if arguments.compare:
        arguments.compare = str(Path(arguments.compare).resolve())
    asyncio.run(main(arguments))
