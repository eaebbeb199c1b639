"""Run a callback once the transaction of an SQLAlchemy session commits (and never if it rolls back).

The orchestrator uses it to drive a saga created in a caller's transaction only once that transaction is
durable (:meth:`~baton.saga.orchestrator.Orchestrator.start` with ``session=``). The callbacks run inside the
session's commit, on the event loop's thread: they must not block or await (scheduling a task is fine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "baton_saga_after_commit"
_HOOKED = "baton_saga_after_commit_hooked"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``session``'s current transaction commits; drop it when it rolls back."""
    sync = session.sync_session
    if not sync.info.get(_HOOKED):
        event.listen(sync, "after_commit", _run)
        event.listen(sync, "after_rollback", _drop)
        sync.info[_HOOKED] = True
    sync.info.setdefault(_PENDING, []).append(callback)


def _run(session: Session) -> None:
    for callback in session.info.pop(_PENDING, ()):
        try:
            callback()
        except Exception:  # the transaction is committed: a failing callback must not turn it into an error
            log.exception("after-commit callback failed")


def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
