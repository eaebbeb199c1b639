"""The SQLAlchemy saga store: :class:`~baton.saga.store.SagaStore` on ``sqlite+aiosqlite`` or ``postgresql+asyncpg``."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from baton.errors import StoreError
from baton.saga.errors import LeaseLost, SagaExists, SagaNotFound
from baton.saga.records import TERMINAL_STATUSES, EntryKind, LogEntry, SagaHistory, SagaRecord, SagaStatus
from baton.saga.tables import as_utc, saga_log_table, saga_table, utcnow


class SqlSagaStore:
    """:class:`SagaStore` on SQLAlchemy 2 async: ``sqlite+aiosqlite`` by default, ``postgresql+asyncpg`` at scale."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self,
        *,
        saga_id: str,
        name: str,
        version: int,
        data: Mapping[str, Any],
        correlation_id: str,
        owner: str,
        lease_ttl: float,
    ) -> tuple[SagaRecord, bool]:
        """See :meth:`SagaStore.create`."""
        try:
            async with self._engine.begin() as conn:
                history = await self.create_in(
                    conn,
                    saga_id=saga_id,
                    name=name,
                    version=version,
                    data=data,
                    correlation_id=correlation_id,
                    owner=owner,
                    lease_ttl=lease_ttl,
                )
        except SagaExists:
            return await self.get(saga_id), False
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"could not create saga {saga_id}: {exc}", saga_id=saga_id) from exc
        return history.saga, True  # what was just written: no read back

    async def create_in(
        self,
        connection: AsyncConnection,
        *,
        saga_id: str,
        name: str,
        version: int,
        data: Mapping[str, Any],
        correlation_id: str,
        owner: str | None,
        lease_ttl: float,
    ) -> SagaHistory:
        """See :meth:`SagaStore.create_in`."""
        history = new_history(
            saga_id=saga_id,
            name=name,
            version=version,
            data=data,
            correlation_id=correlation_id,
            owner=owner,
            lease_ttl=lease_ttl,
        )
        try:
            await _insert(connection, history)
        except sa_exc.IntegrityError as exc:
            raise SagaExists(f"saga id {saga_id!r} exists already", saga_id=saga_id) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"could not create saga {saga_id}: {exc}", saga_id=saga_id) from exc
        return history

    async def append(
        self,
        saga_id: str,
        *,
        owner: str,
        expected_seq: int,
        kind: EntryKind,
        lease_ttl: float,
        step: str | None = None,
        attempt: int | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
        status: SagaStatus | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> LogEntry:
        """See :meth:`SagaStore.append`."""
        entry = LogEntry(
            saga_id=saga_id,
            seq=expected_seq + 1,
            kind=kind,
            at=utcnow(),
            step=step,
            attempt=attempt,
            payload=dict(payload or {}),
            error=error,
        )
        await self.append_entries(
            saga_id,
            owner=owner,
            expected_seq=expected_seq,
            entries=[entry],
            lease_ttl=lease_ttl,
            status=status,
            data=data,
        )
        return entry

    async def append_entries(
        self,
        saga_id: str,
        *,
        owner: str,
        expected_seq: int,
        entries: Sequence[LogEntry],
        lease_ttl: float,
        status: SagaStatus | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """See :meth:`SagaStore.append_entries`."""
        try:
            async with self._engine.begin() as conn:
                await self.append_entries_in(
                    conn,
                    saga_id,
                    owner=owner,
                    expected_seq=expected_seq,
                    entries=entries,
                    lease_ttl=lease_ttl,
                    status=status,
                    data=data,
                )
        except sa_exc.SQLAlchemyError as exc:  # the commit
            raise StoreError(f"could not append to saga {saga_id}: {exc}", saga_id=saga_id) from exc

    async def append_entries_in(
        self,
        connection: AsyncConnection,
        saga_id: str,
        *,
        owner: str,
        expected_seq: int,
        entries: Sequence[LogEntry],
        lease_ttl: float,
        status: SagaStatus | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """See :meth:`SagaStore.append_entries_in`."""
        seqs = [e.seq for e in entries]
        if not entries or seqs != list(range(expected_seq + 1, expected_seq + 1 + len(entries))):
            raise ValueError(f"saga {saga_id}: entries must follow seq {expected_seq} without gaps, got {seqs}")
        now = utcnow()
        values: dict[str, Any] = {"last_seq": seqs[-1], "updated_at": now}
        if status is not None:
            values["status"] = status.value
        if data is not None:
            values["data"] = dict(data)
        if status is not None and status.terminal:
            values["owner"], values["lease_expires_at"] = None, None
        else:
            values["lease_expires_at"] = time.time() + lease_ttl
        rows = [
            {
                "saga_id": saga_id,
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind.value,
                "step": e.step,
                "attempt": e.attempt,
                "payload": e.payload,
                "error": e.error,
            }
            for e in entries
        ]
        try:
            # The UPDATE comes first: it takes the row's write lock, so the owner/seq check and the
            # INSERT are atomic with respect to a peer trying to steal the lease.
            result = await connection.execute(
                _advance(frozenset(values)),
                {"w_id": saga_id, "w_owner": owner, "w_seq": expected_seq, **{f"v_{k}": v for k, v in values.items()}},
            )
            if result.rowcount != 1:
                raise LeaseLost(
                    f"saga {saga_id}: lease no longer held by {owner} (or log moved past {expected_seq})",
                    saga_id=saga_id,
                )
            await connection.execute(_INSERT_ENTRIES, rows)
        except sa_exc.IntegrityError as exc:
            raise LeaseLost(f"saga {saga_id}: entry {seqs[0]} written by someone else", saga_id=saga_id) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"could not append to saga {saga_id}: {exc}", saga_id=saga_id) from exc

    async def claim(self, saga_id: str, *, owner: str, lease_ttl: float) -> bool:
        """See :meth:`SagaStore.claim`."""
        now = time.time()
        statement = (
            saga_table.update()
            .where(
                saga_table.c.id == saga_id,
                saga_table.c.status.not_in(TERMINAL_STATUSES),
                sa.or_(
                    saga_table.c.owner.is_(None),
                    saga_table.c.owner == owner,
                    saga_table.c.lease_expires_at < now,
                ),
            )
            .values(owner=owner, lease_expires_at=now + lease_ttl)
        )
        return await self._write(statement) == 1

    async def renew(self, *, owner: str, lease_ttl: float) -> int:
        """See :meth:`SagaStore.renew`."""
        statement = (
            saga_table.update()
            .where(saga_table.c.owner == owner, saga_table.c.status.not_in(TERMINAL_STATUSES))
            .values(lease_expires_at=time.time() + lease_ttl)
        )
        return await self._write(statement)

    async def release(self, saga_id: str, *, owner: str) -> None:
        """See :meth:`SagaStore.release`."""
        statement = (
            saga_table.update()
            .where(saga_table.c.id == saga_id, saga_table.c.owner == owner)
            .values(owner=None, lease_expires_at=None)
        )
        await self._write(statement)

    async def claimable(self, *, owner: str, limit: int) -> list[str]:
        """See :meth:`SagaStore.claimable`."""
        statement = (
            sa.select(saga_table.c.id)
            .where(
                saga_table.c.status.not_in(TERMINAL_STATUSES),
                sa.or_(
                    saga_table.c.owner.is_(None),
                    saga_table.c.owner == owner,
                    saga_table.c.lease_expires_at < time.time(),
                ),
            )
            .order_by(saga_table.c.created_at)
            .limit(limit)
        )
        async with self._connect() as conn:
            return [row.id for row in await conn.execute(statement)]

    async def get(self, saga_id: str) -> SagaRecord:
        """See :meth:`SagaStore.get`."""
        async with self._connect() as conn:
            return await self._get(conn, saga_id)

    async def history(self, saga_id: str) -> SagaHistory:
        """See :meth:`SagaStore.history`."""
        async with self._connect() as conn:
            record = await self._get(conn, saga_id)
            rows = await conn.execute(
                sa.select(saga_log_table).where(saga_log_table.c.saga_id == saga_id).order_by(saga_log_table.c.seq)
            )
            return SagaHistory(saga=record, entries=tuple(_entry(row) for row in rows))

    async def list(
        self, *, status: str | None = None, correlation_id: str | None = None, limit: int = 50
    ) -> list[SagaRecord]:
        """See :meth:`SagaStore.list`."""
        statement = sa.select(saga_table).order_by(saga_table.c.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(saga_table.c.status == status)
        if correlation_id is not None:
            statement = statement.where(saga_table.c.correlation_id == correlation_id)
        async with self._connect() as conn:
            return [_record(row) for row in await conn.execute(statement)]

    async def _get(self, conn: AsyncConnection, saga_id: str) -> SagaRecord:
        row = (await conn.execute(sa.select(saga_table).where(saga_table.c.id == saga_id))).first()
        if row is None:
            raise SagaNotFound(f"no saga with id {saga_id!r}", saga_id=saga_id)
        return _record(row)

    async def _write(self, statement: sa.Update) -> int:
        try:
            async with self._engine.begin() as conn:
                return (await conn.execute(statement)).rowcount
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"saga store write failed: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"saga store read failed: {exc}") from exc


def new_history(
    *,
    saga_id: str,
    name: str,
    version: int,
    data: Mapping[str, Any],
    correlation_id: str,
    owner: str | None,
    lease_ttl: float,
) -> SagaHistory:
    """A new saga as :meth:`SqlSagaStore.create` writes it: its row (leased to ``owner`` unless ``None``) and
    its ``saga_started`` entry, so the orchestrator can drive it without reading back what it just wrote."""
    now = utcnow()
    record = SagaRecord(
        id=saga_id,
        name=name,
        status=SagaStatus.RUNNING,
        data=dict(data),
        correlation_id=correlation_id,
        version=version,
        created_at=now,
        updated_at=now,
        last_seq=1,
        owner=owner,
        # epoch seconds, as _record reads it
        lease_expires_at=time.time() + lease_ttl if owner is not None else None,  # type: ignore[arg-type]
    )
    return SagaHistory(saga=record, entries=(started_entry(record),))


def started_entry(record: SagaRecord) -> LogEntry:
    """The ``saga_started`` entry :meth:`SqlSagaStore.create` writes with ``record`` (its first, seq 1)."""
    return LogEntry(
        saga_id=record.id,
        seq=1,
        at=record.created_at,
        kind=EntryKind.SAGA_STARTED,
        payload={"input": dict(record.data), "name": record.name, "version": record.version},
    )


# The hot statements are built once: building and cache-keying a statement per call costs about as much CPU as
# executing it on SQLite (bench/checkout.py). Parameters go in at execution time.
_INSERT_SAGA = saga_table.insert()
_INSERT_ENTRIES = saga_log_table.insert()


@functools.cache
def _advance(columns: frozenset[str]) -> sa.Update:
    """``UPDATE`` of the saga row fenced on its owner and last seq, setting ``columns`` (params ``v_<column>``)."""
    return (
        saga_table.update()
        .where(
            saga_table.c.id == sa.bindparam("w_id"),
            saga_table.c.owner == sa.bindparam("w_owner"),
            saga_table.c.last_seq == sa.bindparam("w_seq"),
        )
        .values({name: sa.bindparam(f"v_{name}") for name in sorted(columns)})
    )


async def _insert(conn: AsyncConnection, history: SagaHistory) -> None:
    record, (started,) = history.saga, history.entries
    await conn.execute(
        _INSERT_SAGA,
        {
            "id": record.id,
            "name": record.name,
            "status": record.status.value,
            "data": record.data,
            "correlation_id": record.correlation_id,
            "version": record.version,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "last_seq": 1,
            "owner": record.owner,
            "lease_expires_at": record.lease_expires_at,
        },
    )
    await conn.execute(
        _INSERT_ENTRIES,
        {
            "saga_id": record.id,
            "seq": 1,
            "at": started.at,
            "kind": started.kind.value,
            "step": None,
            "attempt": None,
            "payload": started.payload,
            "error": None,
        },
    )


def _record(row: sa.Row[Any]) -> SagaRecord:
    return SagaRecord(
        id=row.id,
        name=row.name,
        status=SagaStatus(row.status),
        data=dict(row.data),
        correlation_id=row.correlation_id,
        version=row.version,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        last_seq=row.last_seq,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
    )


def _entry(row: sa.Row[Any]) -> LogEntry:
    return LogEntry(
        saga_id=row.saga_id,
        seq=row.seq,
        kind=EntryKind(row.kind),
        at=as_utc(row.at),
        step=row.step,
        attempt=row.attempt,
        payload=dict(row.payload or {}),
        error=row.error,
    )
