"""The orchestrator: drives sagas through the state machine, logging every transition before acting.

::

    async with Orchestrator(SqlSagaStore(engine), [checkout], owner="order-1") as orchestrator:
        saga_id = await orchestrator.start("checkout", {"order_id": "o-1", ...}, saga_id="o-1")
        record = await orchestrator.wait(saga_id)

Opening an orchestrator resumes every unfinished saga it can claim; a sweeper then keeps picking up sagas
nobody drives (started by a peer that is gone, or whose lease expired). A saga is driven by one orchestrator at
a time: it holds the saga's lease (renewed by a heartbeat) and every log append is fenced on it. Owner names
must be unique among live orchestrators; reusing a stable name (the instance id) after a crash lets the
restarted process take its sagas back at once instead of after ``lease_ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from baton.errors import SagaError, StoreError
from baton.saga.definition import Saga
from baton.saga.driver import SagaDriver
from baton.saga.errors import LeaseLost, NonDeterminismError
from baton.saga.incidents import IncidentSink, LoggingIncidentSink
from baton.saga.policy import CompensationRetry, OrchestratorPolicy
from baton.saga.records import SagaHistory, SagaRecord
from baton.saga.session_hooks import after_commit
from baton.saga.sql_store import started_entry
from baton.saga.store import SagaStore
from baton.telemetry.context import get_correlation_id, new_correlation_id

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("baton.saga")

#: How often :meth:`Orchestrator.wait` re-reads a saga driven by a peer orchestrator.
_WAIT_POLL = 0.1


class Orchestrator:
    """Runs sagas durably. Use as ``async with`` (or :meth:`open` / :meth:`aclose`)."""

    def __init__(
        self,
        store: SagaStore,
        sagas: Iterable[Saga],
        *,
        owner: str | None = None,
        policy: OrchestratorPolicy = OrchestratorPolicy(),
        compensation_retry: CompensationRetry = CompensationRetry(),
        incidents: IncidentSink | None = None,
    ) -> None:
        self.store = store
        declared = sorted(sagas, key=lambda saga: saga.version)
        # New sagas start on the newest version of a name; a resumed saga runs on the version it started with
        # when that is still registered (keep the old definition deployed until its sagas have finished).
        self.definitions: Mapping[str, Saga] = MappingProxyType({saga.name: saga for saga in declared})
        self._versions = {(saga.name, saga.version): saga for saga in declared}
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.policy = policy
        self.compensation_retry = compensation_retry
        self.incidents: IncidentSink = incidents or LoggingIncidentSink()
        self._driver = SagaDriver(
            store,
            owner=self.owner,
            lease_ttl=policy.lease_ttl,
            compensation_retry=compensation_retry,
            incidents=self.incidents,
        )
        self._slots = asyncio.Semaphore(policy.max_in_flight)
        self._drives: dict[str, asyncio.Task[None]] = {}
        self._loops: set[asyncio.Task[None]] = set()
        self._held: set[str] = set()
        self._broken: set[str] = set()
        self._changed = asyncio.Condition()
        self._accepting = False

    async def __aenter__(self) -> Orchestrator:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self, *, resume: bool = True) -> None:
        """Start the heartbeat and the sweeper, then (unless ``resume=False``) resume unfinished sagas."""
        self._accepting = True
        self._loops.add(asyncio.create_task(self._heartbeat(), name=f"saga-heartbeat-{self.owner}"))
        if resume:
            await self.resume_all()
            self._loops.add(asyncio.create_task(self._sweep(), name=f"saga-sweeper-{self.owner}"))

    async def resume_all(self) -> int:
        """Drive every unfinished saga this orchestrator can claim now; the number taken up."""
        free = self.policy.max_in_flight - len(self._drives)
        if free <= 0 or not self._accepting:
            return 0
        ids = await self.store.claimable(owner=self.owner, limit=free + len(self._drives))
        fresh = [i for i in ids if i not in self._drives and i not in self._broken][:free]
        for saga_id in fresh:
            self._spawn(saga_id)
        return len(fresh)

    async def start(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        saga_id: str | None = None,
        correlation_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> str:
        """Log a new saga and start driving it; its id. Idempotent by ``saga_id``.

        With ``session``, the saga is written in that session's transaction instead of one of its own: it
        exists exactly when the caller's writes do (an order and the saga that checks it out commit together,
        so no crash can leave one without the other) and is driven once the transaction commits (nothing
        happens on a rollback). The id must then be new. A draining orchestrator still writes it, unleased,
        for a peer (or this instance after a restart) to take up.

        Raises:
            SagaExists: with ``session``, the id exists already.
            SagaError: unknown saga name, the id belongs to another saga, or the orchestrator is draining
                (without ``session``).
        """
        if not self._accepting and session is None:
            raise SagaError("the orchestrator is not accepting sagas (not open, draining or closed)")
        definition = self.definitions.get(name)
        if definition is None:
            known = ", ".join(sorted(self.definitions)) or "none"
            raise SagaError(f"unknown saga {name!r} (known: {known})", saga=name)
        try:
            json.dumps(dict(data))
        except (TypeError, ValueError) as exc:
            raise SagaError(f"saga input must be JSON-serialisable: {exc}", saga=name) from exc
        if session is not None:
            return await self._start_in(session, definition, data, saga_id=saga_id, correlation_id=correlation_id)
        record, created = await self.store.create(
            saga_id=saga_id or uuid.uuid4().hex,
            name=name,
            version=definition.version,
            data=data,
            correlation_id=correlation_id or get_correlation_id() or new_correlation_id(),
            owner=self.owner,
            lease_ttl=self.policy.lease_ttl,
        )
        if record.name != name:
            raise SagaError(f"saga id {record.id!r} already belongs to a {record.name!r} saga", saga_id=record.id)
        if not record.status.terminal and record.id not in self._drives:
            # A saga this call created is leased to us already and its log is what was just written: claiming
            # it again or reading it back would be two more round trips.
            self._spawn(record.id, history=SagaHistory(record, (started_entry(record),)) if created else None)
        return record.id

    async def _start_in(
        self,
        session: AsyncSession,
        definition: Saga,
        data: Mapping[str, Any],
        *,
        saga_id: str | None,
        correlation_id: str | None,
    ) -> str:
        owner = self.owner if self._accepting else None
        history = await self.store.create_in(
            await session.connection(),
            saga_id=saga_id or uuid.uuid4().hex,
            name=definition.name,
            version=definition.version,
            data=data,
            correlation_id=correlation_id or get_correlation_id() or new_correlation_id(),
            owner=owner,
            lease_ttl=self.policy.lease_ttl,
        )
        if owner is not None:
            after_commit(session, lambda: self._spawn_committed(history))
        return history.saga.id

    def _spawn_committed(self, history: SagaHistory) -> None:
        """Drive a saga whose creating transaction just committed (a session hook: no awaiting here)."""
        if self._accepting and history.saga.id not in self._drives:
            self._spawn(history.saga.id, history=history)

    async def wait(self, saga_id: str, *, timeout: float = 30.0) -> SagaRecord:
        """Wait until the saga is terminal and return its record (works for sagas a peer drives too).

        Raises:
            SagaNotFound: unknown id.  SagaError: not terminal within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    record = await self.store.get(saga_id)
                    if record.status.terminal:
                        return record
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(_WAIT_POLL):
                                await self._changed.wait()
        except TimeoutError:
            raise SagaError(f"saga {saga_id} did not finish within {timeout:g}s", saga_id=saga_id) from None

    async def execute(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        saga_id: str | None = None,
        correlation_id: str | None = None,
        timeout: float = 30.0,
    ) -> SagaRecord:
        """:meth:`start` then :meth:`wait`: run a saga to its end and return its final record."""
        started = await self.start(name, data, saga_id=saga_id, correlation_id=correlation_id)
        return await self.wait(started, timeout=timeout)

    async def history(self, saga_id: str) -> SagaHistory:
        """The saga and its ordered log (raises ``SagaNotFound``)."""
        return await self.store.history(saga_id)

    @property
    def in_flight(self) -> int:
        """Sagas this orchestrator is driving or about to drive."""
        return len(self._drives)

    @property
    def accepting(self) -> bool:
        """True while :meth:`start` takes new sagas."""
        return self._accepting

    async def drain(self) -> None:
        """Stop taking new sagas and stop sweeping; sagas in flight go on."""
        self._accepting = False
        await _cancel([task for task in self._loops if task.get_name().startswith("saga-sweeper")])

    async def aclose(self) -> None:
        """Drain, let in-flight steps finish for ``stop_grace`` seconds, cancel the rest, release leases.

        Idempotent. A cancelled saga's log stays as it was; it resumes from there in a peer or on restart.
        """
        await self.drain()
        running = list(self._drives.values())
        if running:
            await asyncio.wait(running, timeout=self.policy.stop_grace)
        await _cancel(list(self._drives.values()))
        await _cancel(list(self._loops))
        for saga_id in list(self._held):
            with contextlib.suppress(StoreError):
                await self.store.release(saga_id, owner=self.owner)
            self._held.discard(saga_id)

    # -- driving -----------------------------------------------------------------------------------------

    def _spawn(self, saga_id: str, *, history: SagaHistory | None = None) -> None:
        """Drive ``saga_id``: claim it and read its log, or, given the ``history`` of a saga just created (and
        leased to this orchestrator), start from that."""
        task = asyncio.create_task(self._drive(saga_id, history=history), name=f"saga-{saga_id}")
        self._drives[saga_id] = task
        task.add_done_callback(lambda _: self._drives.pop(saga_id, None))

    async def _drive(self, saga_id: str, *, history: SagaHistory | None = None) -> None:
        try:
            async with self._slots:
                # A lease from ``create`` that expired while waiting for a slot is caught by the first append,
                # which is fenced on the owner and the log's last seq (LeaseLost), so skipping the claim and
                # the read is safe.
                if history is None:
                    if not await self.store.claim(saga_id, owner=self.owner, lease_ttl=self.policy.lease_ttl):
                        return
                    self._held.add(saga_id)
                    history = await self.store.history(saga_id)
                else:
                    self._held.add(saga_id)
                await self._driver.run(history, self._definition(history.saga))
                self._held.discard(saga_id)
        except LeaseLost as exc:
            self._held.discard(saga_id)
            logger.warning("saga %s: %s; leaving it to its new owner", saga_id, exc)
        except NonDeterminismError as exc:
            # Retrying cannot help: the deployed definition does not fit this saga's log.
            self._broken.add(saga_id)
            logger.error("saga %s cannot be resumed: %s", saga_id, exc)
            with contextlib.suppress(StoreError):
                await self.store.release(saga_id, owner=self.owner)
            self._held.discard(saga_id)
        except StoreError as exc:
            logger.warning("saga %s: store failed (%s); the sweeper will resume it", saga_id, exc)
        except Exception:
            logger.exception("saga %s: unexpected error; the sweeper will resume it", saga_id)
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _definition(self, record: SagaRecord) -> Saga:
        definition = self._versions.get((record.name, record.version)) or self.definitions.get(record.name)
        if definition is None:
            raise NonDeterminismError(f"saga {record.id}: no definition named {record.name!r} is registered")
        return definition

    # -- background loops ----------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.policy.heartbeat_interval)
            try:
                await self.store.renew(owner=self.owner, lease_ttl=self.policy.lease_ttl)
            except StoreError as exc:
                logger.warning("saga lease renewal failed: %s", exc)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_interval)
            try:
                await self.resume_all()
            except StoreError as exc:
                logger.warning("saga sweep failed: %s", exc)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
