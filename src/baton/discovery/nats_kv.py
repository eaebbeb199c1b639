"""Discovery in a JetStream key-value bucket: instances heartbeat a key, clients watch the bucket.

Each instance ``put``s ``<service>.<instance id>`` every ``heartbeat`` seconds into a bucket whose entries
live ``ttl`` seconds. Clients hold a watch on ``<service>.*``, so a new instance joins their rotation as soon
as its first put is delivered (no polling) and a deregistration (a delete) leaves at once. A killed instance
stops heartbeating; watchers drop it when its last heartbeat is ``ttl`` old (a local timer per watcher, so
this does not depend on when the server ages the key out; the server's own age-out markers are honoured too).

A rollout's traffic split (:meth:`NatsKvRegistry.split`) is not an instance and does not heartbeat: it lives in a
sibling bucket without a TTL (``<bucket>_splits``, one key per service) until its publisher replaces or withdraws
it, like Linkerd's TrafficSplit or an Argo Rollout's weights — the data plane keeps the last split it was given even
while the control plane that gave it is dead, and a caller that (re)starts meanwhile still finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

from baton.discovery.base import Instance
from baton.discovery.codec import decode_instance, encode_instance
from baton.errors import BrokerUnavailable, ConfigError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)

DEFAULT_BUCKET = "baton_instances"
OP_TIMEOUT = 3.0
"""Seconds one registry operation may take (nats-py's own request timeout is 5 s, and a lookup then a delete
made two of those): deregistration sits on every shutdown path."""
_KEY_SAFE = re.compile(r"[^-_=a-zA-Z0-9]")
_REMOVED = ("DEL", "PURGE")
SPLITS_SUFFIX = "_splits"
"""The splits bucket is named after the instances bucket plus this suffix (``baton_instances_splits``)."""


def instance_key(instance: Instance) -> str:
    """The KV key of ``instance``: ``<service>.<id>`` with characters KV keys forbid replaced by ``_``."""
    return f"{_KEY_SAFE.sub('_', instance.service)}.{_KEY_SAFE.sub('_', instance.id)}"


class NatsKvRegistry:
    """A :class:`~baton.discovery.base.Registry` over a JetStream KV bucket (TTL + heartbeat + watch).

    Owns the heartbeat tasks of the instances it registered; :meth:`aclose` stops them (without deleting the
    keys: use :meth:`deregister` for a clean exit, a crash simply lets the TTL run out).
    """

    def __init__(
        self,
        nc: NatsClient,
        *,
        bucket: str = DEFAULT_BUCKET,
        ttl: float = 5.0,
        heartbeat: float | None = None,
        op_timeout: float = OP_TIMEOUT,
    ) -> None:
        """Args: nc: a connected NATS client; bucket; ttl: seconds an instance lives without a heartbeat;
        heartbeat: seconds between puts (default ``ttl / 3``, so two may be lost before expiry); op_timeout:
        seconds one registry operation (bucket lookup, put, delete) may take before it counts as failed."""
        if ttl <= 0:
            raise ConfigError("discovery ttl must be > 0")
        if op_timeout <= 0:
            raise ConfigError("discovery op_timeout must be > 0")
        self.op_timeout = op_timeout
        self._nc = nc
        self.bucket = bucket
        self.ttl = ttl
        self.heartbeat = heartbeat if heartbeat is not None else ttl / 3
        self.split_bucket = f"{bucket}{SPLITS_SUFFIX}"
        self._kv: Any = None
        self._splits: Any = None
        self._beats: dict[str, asyncio.Task[None]] = {}
        self._payloads: dict[str, bytes] = {}
        """What each heartbeat puts (a re-registration with new metadata replaces it: rollout weights)."""

    async def _bucket(self) -> Any:
        if self._kv is None:
            self._kv = await self._opened(self.bucket, ttl=self.ttl)
        return self._kv

    async def _split_bucket(self) -> Any:
        if self._splits is None:
            self._splits = await self._opened(self.split_bucket, ttl=None)
        return self._splits

    async def _opened(self, bucket: str, *, ttl: float | None) -> Any:
        try:
            async with asyncio.timeout(self.op_timeout):
                return await self._open_bucket(bucket, ttl)
        except TimeoutError as exc:
            raise BrokerUnavailable(f"discovery bucket {bucket!r} did not answer: {exc!r}") from exc

    async def _open_bucket(self, bucket: str, ttl: float | None) -> Any:
        js = self._nc.jetstream()
        try:
            return await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            if ttl is None:
                config = KeyValueConfig(bucket=bucket, history=1, storage=StorageType.MEMORY)
            else:
                config = KeyValueConfig(
                    bucket=bucket,
                    history=1,
                    ttl=ttl,
                    storage=StorageType.MEMORY,
                    # Server-placed markers (nats-server >= 2.11) tell watchers when a key aged out.
                    limit_marker_ttl=max(1.0, ttl),
                )
            try:
                return await js.create_key_value(config=config)
            except nats.js.errors.BadRequestError:
                return await js.key_value(bucket)  # another instance created it meanwhile
        except nats.errors.Error as exc:
            raise BrokerUnavailable(f"discovery bucket {bucket!r} unavailable: {exc}") from exc

    async def register(self, instance: Instance) -> None:
        """Put ``instance`` now and keep heartbeating it until :meth:`deregister` or :meth:`aclose`.

        Raises:
            BrokerUnavailable: the first put failed.
        """
        kv = await self._bucket()
        key = instance_key(instance)
        payload = encode_instance(instance)
        try:
            async with asyncio.timeout(self.op_timeout):
                await kv.put(key, payload)
        except (nats.errors.Error, TimeoutError) as exc:
            raise BrokerUnavailable(f"could not register {instance.id}: {exc!r}") from exc
        if key in self._beats and self._payloads.get(key) != payload:
            await self._stop_beat(key)  # registered again with other metadata: beat the new record
        if key not in self._beats:
            self._payloads[key] = payload
            self._beats[key] = asyncio.create_task(self._beat(kv, key, instance), name=f"heartbeat:{key}")

    async def deregister(self, instance: Instance) -> None:
        """Stop heartbeating ``instance`` and delete its key (watchers drop it at once); bounded by
        ``op_timeout`` per step, since shutdown waits on it and the TTL removes the key anyway."""
        key = instance_key(instance)
        await self._stop_beat(key)
        try:
            kv = await self._bucket()
            async with asyncio.timeout(self.op_timeout):
                await kv.delete(key)
        except (nats.errors.Error, BrokerUnavailable, TimeoutError) as exc:
            # The TTL removes it anyway; a failed delete only makes its exit slower.
            log.warning("deregister of %s failed (%r); it leaves rotation within %.1fs", key, exc, self.ttl)

    async def split(self, service: str, shares: Mapping[str, int] | None) -> None:
        """Publish a rollout's traffic split of ``service`` — ``{version: percent}`` — or withdraw it (``None``).

        Watchers put each version's share into its instances' ``metadata["weight"]``, which every caller's
        balancer honours (:class:`baton.balancing.tracks.TrackWeighted`). The record has no TTL: it holds until
        the next call replaces or withdraws it, so a control plane that dies mid-rollout leaves its last split in
        force (its successor resumes the rollout, or withdraws the split of one it does not carry on).

        Raises:
            BrokerUnavailable: the bucket did not take the change.
        """
        kv = await self._split_bucket()
        key = _KEY_SAFE.sub("_", service)
        try:
            async with asyncio.timeout(self.op_timeout):
                if shares is None:
                    await kv.delete(key)
                else:
                    await kv.put(key, json.dumps({v: int(w) for v, w in shares.items()}).encode())
        except (nats.errors.Error, TimeoutError) as exc:
            raise BrokerUnavailable(f"could not publish the traffic split of {service}: {exc!r}") from exc

    async def resolve(self, service: str) -> list[Instance]:
        """The instances of ``service`` whose heartbeat is younger than the TTL."""
        async with contextlib.aclosing(self.watch(service)) as updates:
            async for instances in updates:
                return instances
        return []

    async def watch(self, service: str) -> AsyncGenerator[list[Instance], None]:
        """The live list of ``service``, then again on every join, leave, expiry or change of its traffic split."""
        prefix = _KEY_SAFE.sub("_", service)
        instances_kv = await self._bucket()
        splits_kv = await self._split_bucket()
        async with contextlib.AsyncExitStack() as stack:
            instances = await _watcher(stack, instances_kv, f"{prefix}.*", self.bucket)
            splits = await _watcher(stack, splits_kv, prefix, self.split_bucket)
            live: dict[str, tuple[Instance, float]] = {}
            split: dict[str, str] | None = None
            replaying = {instances, splits}  # still replaying what their bucket held (each replay ends with None)
            nexts: dict[asyncio.Future[Any], Any] = {}  # the pending read of each watcher
            stack.push_async_callback(_cancel, nexts)
            while True:
                for watcher in (instances, splits):
                    if watcher not in nexts.values():
                        nexts[asyncio.ensure_future(watcher.updates(timeout=None))] = watcher
                done, _ = await asyncio.wait(
                    nexts, timeout=self._until_next_expiry(live), return_when=asyncio.FIRST_COMPLETED
                )
                changed = self._sweep(live)
                for future in done:
                    watcher = nexts.pop(future)
                    entry = future.result()
                    if entry is None:
                        replaying.discard(watcher)
                        changed |= not replaying  # both replays ended: the first listing (nats-py marks it once)
                    elif watcher is splits:
                        before, split = split, _decode_split(entry)
                        changed |= split != before
                    else:
                        changed |= self._apply(live, entry, initial=watcher in replaying)
                if not replaying and changed:
                    yield _listing(live, split)

    async def aclose(self) -> None:
        """Stop every heartbeat this registry runs (keys are left to expire)."""
        for key in list(self._beats):
            await self._stop_beat(key)

    async def _beat(self, kv: Any, key: str, instance: Instance) -> None:
        payload = encode_instance(instance)
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                async with asyncio.timeout(self.op_timeout):
                    await kv.put(key, payload)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("heartbeat of %s failed: %r", key, exc)

    async def _stop_beat(self, key: str) -> None:
        self._payloads.pop(key, None)
        task = self._beats.pop(key, None)
        if task is not None:
            task.cancel()
            # Not `suppress(CancelledError): await task`: that would also swallow a cancellation of the caller
            # (a supervisor detaching a slot mid-deregistration), which then never ends.
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.warning("heartbeat of %s had failed: %r", key, task.exception())

    def _apply(self, live: dict[str, tuple[Instance, float]], entry: Any, *, initial: bool) -> bool:
        if entry.operation in _REMOVED:
            return live.pop(entry.key, None) is not None
        try:
            instance = decode_instance(entry.value)
        except ConfigError as exc:
            log.warning("ignoring bad discovery record %s: %s", entry.key, exc)
            return False
        seen = time.monotonic()
        if initial and isinstance(entry.created, dt.datetime):
            # Replayed entries may already be old: count their age, bounded by one TTL for skewed clocks.
            age = (dt.datetime.now(dt.UTC) - entry.created).total_seconds()
            seen -= min(max(age, 0.0), self.ttl)
        previous = live.get(entry.key)
        live[entry.key] = (instance, seen)
        return previous is None or previous[0] != instance

    def _sweep(self, live: dict[str, tuple[Instance, float]]) -> bool:
        cutoff = time.monotonic() - self.ttl
        expired = [key for key, (_, seen) in live.items() if seen <= cutoff]
        for key in expired:
            del live[key]
        return bool(expired)

    def _until_next_expiry(self, live: dict[str, tuple[Instance, float]]) -> float | None:
        if not live:
            return None
        oldest = min(seen for _, seen in live.values())
        return max(0.01, oldest + self.ttl - time.monotonic())


async def _watcher(stack: contextlib.AsyncExitStack, kv: Any, keys: str, bucket: str) -> Any:
    try:
        watcher = await kv.watch(keys)
    except nats.errors.Error as exc:
        raise BrokerUnavailable(f"cannot watch discovery bucket {bucket!r}: {exc}") from exc
    stack.push_async_callback(_stop, watcher)
    return watcher


async def _stop(watcher: Any) -> None:
    with contextlib.suppress(Exception):
        await watcher.stop()


async def _cancel(futures: Mapping[asyncio.Future[Any], Any]) -> None:
    for future in futures:
        future.cancel()
    if futures:
        await asyncio.wait(futures)  # not gather: a cancellation of the caller must not be swallowed here


def _decode_split(entry: Any) -> dict[str, str] | None:
    if entry.operation in _REMOVED:
        return None
    try:
        shares = json.loads(entry.value)
        return {str(version): str(int(percent)) for version, percent in shares.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring bad traffic split record %s: %s", entry.key, exc)
        return None


def _listing(live: dict[str, tuple[Instance, float]], split: Mapping[str, str] | None) -> list[Instance]:
    found = sorted((instance for instance, _ in live.values()), key=lambda i: i.id)
    if split is None:
        return found
    from baton.balancing.tracks import WEIGHT  # late: an instance that only registers never loads the balancers

    # A rollout's split: each instance carries its version's share (absent version: 0) for the caller's balancer.
    return [dataclasses.replace(i, metadata={**i.metadata, WEIGHT: split.get(i.version, "0")}) for i in found]
