"""The saga store protocol: where sagas and their append-only logs live.

One backend, :class:`~baton.saga.sql_store.SqlSagaStore` (SQLite by default, PostgreSQL at scale), re-exported
here. Every transition is one short transaction that appends log entries and moves the saga row along; it is
committed before the orchestrator performs the work the entry announces. An outcome may wait for the next
announcement and commit with it (``step_succeeded`` of one step with ``step_started`` of the next), which keeps
that rule and saves a write per step. Appends are conditional on the
caller holding the saga's lease and on the log's last ``seq`` (optimistic concurrency), so two orchestrators
can share one database without ever interleaving a saga's log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from baton.saga.records import EntryKind, LogEntry, SagaHistory, SagaRecord, SagaStatus
from baton.saga.sql_store import SqlSagaStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["SagaStore", "SqlSagaStore"]


class SagaStore(Protocol):
    """Where sagas and their logs live. One backend: :class:`SqlSagaStore` (SQLite or PostgreSQL)."""

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
        """Insert the saga and its ``saga_started`` entry, leased to ``owner``; ``(record, created)``.

        Idempotent by ``saga_id``: when it exists, nothing is written and the existing record is returned.
        """
        ...

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
        """Insert the saga and its ``saga_started`` entry in the caller's transaction on ``connection``.

        The saga exists exactly when that transaction commits, together with the caller's own writes (an order
        and the saga that checks it out). Leased to ``owner``, or free for any orchestrator when ``None``.

        Raises:
            SagaExists: the id exists already (the caller's transaction should be rolled back).
            StoreError: the database failed.
        """
        ...

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
        """Append entry ``expected_seq + 1`` and update the row; raises :class:`LeaseLost` if not ``owner``'s."""
        ...

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
        """Append ``entries`` (seq ``expected_seq + 1`` onwards, no gaps) and update the row, in one transaction.

        ``status`` and ``data`` are the row's values after the last entry. All or nothing.

        Raises:
            LeaseLost: not ``owner``'s, or the log moved past ``expected_seq`` (nothing written).
            ValueError: the entries' seqs do not follow ``expected_seq``.
        """
        ...

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
        """:meth:`append_entries` in the transaction of ``connection`` (the caller's), not one of its own.

        The entries exist exactly when that transaction commits, together with the caller's own writes (a
        step's local effect and its logged outcome). On :class:`LeaseLost` the caller's transaction should be
        rolled back.

        Raises:
            LeaseLost: not ``owner``'s, or the log moved past ``expected_seq``.
            StoreError: the database failed.
            ValueError: the entries' seqs do not follow ``expected_seq``.
        """
        ...

    async def claim(self, saga_id: str, *, owner: str, lease_ttl: float) -> bool:
        """Take (or keep) the lease of a non-terminal saga that is free, expired or already ``owner``'s."""
        ...

    async def renew(self, *, owner: str, lease_ttl: float) -> int:
        """Extend every lease ``owner`` holds; the number of sagas renewed."""
        ...

    async def release(self, saga_id: str, *, owner: str) -> None:
        """Give the lease up (a peer may take the saga over at once)."""
        ...

    async def claimable(self, *, owner: str, limit: int) -> list[str]:
        """Ids of non-terminal sagas ``owner`` could claim now, oldest first."""
        ...

    async def get(self, saga_id: str) -> SagaRecord:
        """The saga's row; raises :class:`SagaNotFound`."""
        ...

    async def history(self, saga_id: str) -> SagaHistory:
        """The saga and its ordered log; raises :class:`SagaNotFound`."""
        ...

    async def list(
        self, *, status: str | None = None, correlation_id: str | None = None, limit: int = 50
    ) -> list[SagaRecord]:
        """Sagas, newest first, optionally filtered by status or correlation id."""
        ...
