"""Fixtures for the saga engine's unit tests: a fresh SQLite saga store and a scriptable step recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from baton.saga import SqlSagaStore, StepContext, StepFailed

from .backends import sqlite_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with sqlite_engine(tmp_path / "saga.db") as engine:
        yield engine


@pytest.fixture
def store(engine: AsyncEngine) -> SqlSagaStore:
    return SqlSagaStore(engine)


@dataclass
class Call:
    step: str
    phase: str
    key: str
    attempt: int


@dataclass
class Recorder:
    """Actions and compensations that record every call and follow a script of outcomes per (step, phase).

    Script values, one per attempt number (the last one repeats, so a resumed attempt behaves the same):
    "ok", "no" (StepFailed), "boom" (a transient error), "slow" (outlives the step timeout).
    """

    script: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    effects: dict[str, int] = field(default_factory=dict)

    def plan(self, step: str, phase: str, *outcomes: str) -> None:
        self.script[(step, phase)] = list(outcomes)

    def _outcome(self, step: str, phase: str, attempt: int) -> str:
        outcomes = self.script.get((step, phase), ["ok"])
        return outcomes[min(attempt, len(outcomes)) - 1]

    async def __call__(self, ctx: StepContext) -> dict[str, object] | None:
        self.calls.append(Call(ctx.step, ctx.phase, ctx.idempotency_key, ctx.attempt))
        outcome = self._outcome(ctx.step, ctx.phase, ctx.attempt)
        if outcome == "no":
            raise StepFailed(f"{ctx.step} said no")
        if outcome == "boom":
            raise RuntimeError(f"{ctx.step} exploded")
        if outcome == "slow":
            await asyncio.Event().wait()
        self.effects[ctx.idempotency_key] = self.effects.get(ctx.idempotency_key, 0) + 1
        return {f"{ctx.step}_done": True} if ctx.phase == "action" else None

    def sequence(self) -> list[tuple[str, str]]:
        return [(call.phase, call.step) for call in self.calls]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
