"""A real ``kill -9`` at arbitrary points: every saga still ends consistent, every effect applied once.

The runner process is SIGKILLed whenever its saga log has grown by a random number of entries (waiting on
the log, not on time), then restarted; the last run goes to the end. The side-effects database is the
downstream world the sagas act on.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from baton.saga import EntryKind, LogEntry, SagaStatus, replay
from baton.testing import wait_until_sync

RUNNER = Path(__file__).with_name("runner.py")
STEPS = ("reserve", "authorize", "capture", "confirm")
COUNT = 9
KILLS = 5


def _log_size(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM baton_saga_log").fetchone()[0]
    except sqlite3.OperationalError:  # the runner has not created its tables yet
        return 0


def _spawn(saga_db: Path, effects: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(saga_db), str(effects), str(COUNT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _query(db: Path, sql: str, *params: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.integration
def test_kill_9_at_random_points_then_resume(tmp_path) -> None:
    saga_db, effects = tmp_path / "order.db", tmp_path / "effects.db"
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    kill_points = []
    for _ in range(KILLS):
        process = _spawn(saga_db, effects)
        try:
            target = _log_size(saga_db) + rng.randint(2, 18)
            wait_until_sync(
                lambda target=target, process=process: _log_size(saga_db) >= target or process.poll() is not None,
                timeout=30,
                interval=0.005,
                message=f"saga log never reached {target} entries (seed {seed})",
            )
            if process.poll() is not None:
                break  # finished before this kill point: nothing left to interrupt
            process.kill()  # SIGKILL: no cleanup, no lease release, no flush
            process.wait(timeout=10)
            kill_points.append(_log_size(saga_db))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    final = _spawn(saga_db, effects)
    out, err = final.communicate(timeout=90)
    assert final.returncode == 0, f"seed {seed}, kills at {kill_points}: {err.decode()[-2000:]}"
    assert b"done" in out
    assert kill_points, f"no kill landed (seed {seed})"

    statuses = dict(_query(saga_db, "SELECT id, status FROM baton_saga"))
    assert len(statuses) == COUNT
    applied = {key: (saga, step, phase) for key, saga, step, phase in _query(effects, "SELECT * FROM effects")}
    attempts: dict[str, int] = {}
    for (key,) in _query(effects, "SELECT key FROM attempts"):
        attempts[key] = attempts.get(key, 0) + 1
    announced: dict[str, int] = {}
    for (key,) in _query(
        saga_db,
        "SELECT json_extract(payload, '$.key') FROM baton_saga_log"
        " WHERE kind IN ('step_started', 'compensation_started')",
    ):
        announced[key] = announced.get(key, 0) + 1

    for i in range(COUNT):
        saga_id = f"saga-{i:02d}"
        fails = i % 3 == 0
        assert statuses[saga_id] == (SagaStatus.COMPENSATED if fails else SagaStatus.COMPLETED), saga_id
        done_steps = STEPS[:2] if fails else STEPS
        expected = {f"{saga_id}:{step}:action" for step in done_steps}
        if fails:
            expected |= {f"{saga_id}:{step}:compensation" for step in ("authorize", "reserve")}
        saga_effects = {key for key, (saga, _, _) in applied.items() if saga == saga_id}
        assert saga_effects == expected, f"{saga_id} (seed {seed}, kills at {kill_points})"

        if fails:  # compensations applied in reverse order of the steps (effects rowid = first application)
            rows = _query(
                effects,
                "SELECT step FROM effects WHERE saga_id = ? AND phase = 'compensation' ORDER BY rowid",
                saga_id,
            )
            order = [step for (step,) in rows]
            assert order == ["authorize", "reserve"], saga_id

    # Write-ahead: no attempt ever ran without its announcement committed first, and never under a new key.
    for key, count in attempts.items():
        assert key in announced, f"{key} ran without a log entry (seed {seed})"
        assert count <= announced[key], f"{key}: {count} attempts, {announced[key]} announcements (seed {seed})"

    # Every final log still fits the definition (the replayer sees what the orchestrator did).
    sys.path.insert(0, str(RUNNER.parent))
    try:
        from runner import build_saga  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    definition = build_saga(effects)
    for saga_id, status in statuses.items():
        rows = _query(
            saga_db,
            "SELECT seq, kind, at, step, attempt, payload, error FROM baton_saga_log WHERE saga_id = ? ORDER BY seq",
            saga_id,
        )
        entries = [
            LogEntry(saga_id, seq, EntryKind(kind), datetime.fromisoformat(at), step, attempt, json.loads(payload), err)
            for seq, kind, at, step, attempt, payload, err in rows
        ]
        assert replay(definition, entries).status.value == status
    print(
        f"seed {seed}: killed at log sizes {kill_points}; attempts {sum(attempts.values())} for {len(applied)} effects"
    )
