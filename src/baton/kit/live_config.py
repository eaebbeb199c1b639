"""Live configuration: a component that keeps a service's settings in step with the central config bucket.

At start it reads the bucket (``_global.*`` first, then ``<service>.*`` overriding), applies the values to the
service's settings object, then watches the bucket and applies every change as it arrives (typically within
milliseconds). Code that reads ``service.settings.page_size`` sees the new value without a restart.

Every change goes through the settings model: a value that does not validate is logged with its key and
*not* applied (the field keeps its previous value), and the instance carries on. Deleting a key brings the
field back to the value the instance started with (from its environment or defaults).

Adding it to a service is one line (the kit does it for every service with a NATS URL)::

    service.add_component(LiveConfig(service))
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from baton.control.config import GLOBAL_SCOPE, ConfigKey, open_bucket
from baton.errors import BrokerUnavailable

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js.kv import KeyValue

    from baton.kit.component import InstanceContext

log = logging.getLogger("baton.config")


class SettingsHolder(Protocol):
    """Anything with a ``settings`` model, e.g. a :class:`~baton.kit.service.Service`."""

    @property
    def settings(self) -> BaseModel: ...


@dataclass(frozen=True, slots=True)
class LiveConfigPolicy:
    """How the watcher behaves."""

    reconnect_check: float = 0.25
    """Seconds between checks of the NATS connection's reconnect counter. After a reconnect the watch is
    re-created and the full state re-read, so changes made while disconnected are not missed."""
    snapshot_timeout: float = 5.0
    """Seconds to wait for the bucket's initial replay."""
    retry_delay: float = 0.5
    """Seconds between attempts to re-create the watch while JetStream is not back yet."""


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """What an applied change did to the settings object."""

    changed: Mapping[str, Any]
    """Field name → new value, for every field whose value changed."""
    previous: Mapping[str, Any]
    """Field name → value before the change."""


ChangeCallback = Callable[[ConfigChange], Awaitable[None] | None]
C = TypeVar("C", bound=ChangeCallback)


@dataclass
class _State:
    raw: dict[str, str] = field(default_factory=dict)
    """Full key → raw value, for the keys of this service and the global ones."""
    applied: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Field → (key, raw value) of the central values in force on the settings object."""


class LiveConfig:
    """Component ``config``: applies central configuration to a settings model, live."""

    name = "config"

    def __init__(
        self,
        target: BaseModel | SettingsHolder,
        *,
        service: str | None = None,
        policy: LiveConfigPolicy | None = None,
    ) -> None:
        """Args:
        target: the settings model itself, or an object whose ``settings`` attribute is one (resolved at
            start, so a service may build its settings late).
        service: whose keys to apply; defaults to the instance's service name.
        """
        self._target = target
        self._service = service
        self.policy = policy or LiveConfigPolicy()
        self._state = _State()
        self._callbacks: list[ChangeCallback] = []
        self._model: BaseModel | None = None
        self._baseline: dict[str, Any] = {}
        self._ignored: set[str] = set()
        self._rejected: set[tuple[str, str]] = set()
        self._nats: NatsClient | None = None
        self._watcher: Any = None
        self._reconnects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def settings(self) -> BaseModel:
        """The live settings object (the one whose fields are swapped)."""
        if self._model is None:
            raise RuntimeError("LiveConfig has not started")
        return self._model

    def current(self) -> dict[str, str]:
        """The central config values in force now: full key (``catalog.page_size``) → raw value."""
        return dict(self._state.applied.values())

    def on_change(self, callback: C) -> C:
        """Call ``callback`` (sync or async) after every change that altered at least one field.

        Returns the callback, so this also works as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    async def start(self, ctx: InstanceContext) -> None:
        """Read the service's keys, apply them, and start watching.

        An instance without NATS has no central configuration: its settings stay as its environment made them.

        Raises:
            BrokerError: the bucket cannot be read.
        """
        self._service = self._service or ctx.service
        model = self._target if isinstance(self._target, BaseModel) else self._target.settings
        self._model = model
        if ctx.nats is None:
            log.info("no NATS connection: central configuration is off for %s", self._service)
            return
        self._nats = ctx.nats
        self._baseline = {name: getattr(model, name) for name in type(model).model_fields}
        await self._resync()
        self._task = asyncio.create_task(self._follow(), name=f"live-config:{self._service}")

    async def check(self) -> None:
        """Ready once started: a watch that is catching up after a reconnect still serves the last values."""
        if self._model is None:
            raise RuntimeError("live config not loaded yet")

    async def drain(self) -> None:
        """Nothing to drain: applying config is not work that must finish."""

    async def stop(self) -> None:
        """Stop watching (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_watcher()

    # -- watching ---------------------------------------------------------------------------------------------

    def _mine(self, key: str) -> bool:
        return key.partition(".")[0] in (self._service, GLOBAL_SCOPE)

    def _record(self, raw: dict[str, str], update: KeyValue.Entry) -> None:
        from nats.js.kv import KV_DEL, KV_PURGE

        if not self._mine(update.key):
            return
        if update.operation in (KV_DEL, KV_PURGE):
            raw.pop(update.key, None)
        else:
            raw[update.key] = (update.value or b"").decode()

    async def _close_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            # The old subscription may belong to a connection that is gone; nothing to clean up then.
            with contextlib.suppress(Exception):
                await watcher.stop()

    async def _resync(self) -> None:
        """(Re)create the watch, read the whole state and apply it."""
        import nats.errors

        assert self._nats is not None
        await self._close_watcher()
        self._reconnects = self._nats.stats["reconnects"]
        kv = await open_bucket(self._nats.jetstream())
        self._watcher = await kv.watchall()
        raw: dict[str, str] = {}
        while True:
            try:
                update = await self._watcher.updates(timeout=self.policy.snapshot_timeout)
            except nats.errors.TimeoutError as exc:
                raise BrokerUnavailable("config bucket replay timed out") from exc
            if update is None:  # caught up with the bucket
                break
            self._record(raw, update)
        self._state.raw = raw
        await self._apply()

    async def _follow(self) -> None:
        """Apply updates as they come; re-sync after every reconnect. Runs until cancelled."""
        import nats.errors

        while True:
            try:
                if self._watcher is None or self._nats_reconnected():
                    await self._resync()
                    log.info("live config re-read the bucket after a NATS reconnect")
                    continue
                try:
                    update = await self._watcher.updates(timeout=self.policy.reconnect_check)
                except nats.errors.TimeoutError:
                    continue
                if update is not None:
                    self._record(self._state.raw, update)
                    await self._apply()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Never let config take the instance down: keep the last good values and try again.
                log.warning("live config watch failed, retrying: %r", exc)
                await self._close_watcher()
                await asyncio.sleep(self.policy.retry_delay)

    def _nats_reconnected(self) -> bool:
        assert self._nats is not None
        return bool(self._nats.stats["reconnects"] != self._reconnects)

    # -- applying ---------------------------------------------------------------------------------------------

    def _overrides(self) -> dict[str, tuple[str, str]]:
        """Field → (key, raw): globals first so the service's own keys override them."""
        model = self.settings
        fields = {name.lower(): name for name in type(model).model_fields}
        result: dict[str, tuple[str, str]] = {}
        ordered = sorted(self._state.raw.items(), key=lambda kv: kv[0].partition(".")[0] != GLOBAL_SCOPE)
        for key, raw in ordered:
            name = fields.get(ConfigKey.parse(key).field)
            if name is None:
                if key not in self._ignored:
                    self._ignored.add(key)
                    log.info("config key %s matches no setting of %s; ignored", key, type(model).__name__)
                continue
            result[name] = (key, raw)
        return result

    def _validate(self, overrides: dict[str, tuple[str, str]]) -> tuple[BaseModel, dict[str, tuple[str, str]]]:
        """Build a validated model from the baseline plus ``overrides``; a failing value keeps the field as is.

        Returns:
            The model and what is in force: field → (key, raw) (a rejected key leaves the previous pair).
        """
        model = self.settings
        previous = self._state.applied
        data = dict(self._baseline)
        data.update({name: raw for name, (_, raw) in overrides.items()})
        in_force = dict(overrides)
        json_tried: set[str] = set()
        while True:
            try:
                return type(model).model_validate(data), in_force
            except ValidationError as exc:
                errors = exc.errors()
            # Only the overrides can fail (the baseline validated at start), so blame them and nothing else.
            candidates = {n for n in overrides if in_force.get(n) == overrides[n]}
            failing = {str(err["loc"][0]) for err in errors if err["loc"]} & candidates
            if not failing:
                # A model-level rule failed: refuse whatever is new since the last good state.
                failing = {n for n in candidates if previous.get(n) != overrides[n]}
                if not failing:
                    raise RuntimeError("settings no longer validate without any new value") from None
            for name in failing:
                key, raw = overrides[name]
                if name not in json_tried:
                    # Values are strings; a list/dict/model field takes its JSON form.
                    json_tried.add(name)
                    with contextlib.suppress(ValueError):
                        data[name] = json.loads(raw)
                        continue
                if (key, raw) not in self._rejected:
                    self._rejected.add((key, raw))
                    reason = "; ".join(e["msg"] for e in errors if e["loc"] and e["loc"][0] == name)
                    log.error(
                        "config %s=%r rejected, keeping the previous value: %s",
                        key,
                        raw[:80],
                        reason or "model validation failed",
                    )
                data[name] = getattr(model, name)
                if name in previous:
                    in_force[name] = previous[name]
                else:
                    in_force.pop(name, None)

    async def _apply(self) -> None:
        model = self.settings
        try:
            fresh, applied = self._validate(self._overrides())
        except Exception:
            log.exception("live config could not apply the new state; keeping the previous settings")
            return
        previous: dict[str, Any] = {}
        changed: dict[str, Any] = {}
        for name in type(model).model_fields:
            old, new = getattr(model, name), getattr(fresh, name)
            if old != new:
                previous[name], changed[name] = old, new
        # No await between these writes: readers on this event loop never see half a change.
        model.__dict__.update(changed)
        self._state.applied = applied
        if changed:
            log.info("config applied: %s", ", ".join(sorted(changed)))
            await self._notify(ConfigChange(changed=changed, previous=previous))

    async def _notify(self, change: ConfigChange) -> None:
        for callback in self._callbacks:
            try:
                result = callback(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("config change callback failed")
