"""One attempt of an action or compensation: run it under its timeout and classify what happened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.saga.definition import Step, StepContext
from baton.saga.errors import StepFailed
from baton.telemetry.context import bind_correlation_id


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended."""

    ok: bool
    output: dict[str, Any] = field(default_factory=dict)
    """What the action returned (``ok`` only); JSON-serialisable."""
    error: str | None = None
    definite: bool = False
    """A business "no" (``StepFailed`` or one of ``StepRetry.fail_on``): not retried, nothing to undo."""


async def run_attempt(step: Step, ctx: StepContext) -> Outcome:
    """Run ``step``'s action or compensation (per ``ctx.phase``) once; never raises but on cancellation."""
    function = step.action if ctx.phase == "action" else step.compensation
    if function is None:  # the state machine never schedules a missing compensation; be explicit anyway
        return Outcome(ok=True)
    timeout = step.timeout_for(ctx.phase)
    definite_types: tuple[type[BaseException], ...] = (StepFailed, *step.retry.fail_on)
    try:
        with bind_correlation_id(ctx.correlation_id):
            async with asyncio.timeout(timeout):
                result = await function(ctx)
    except TimeoutError:
        # The call may still have had its effect downstream: that is why the key stays the same.
        return Outcome(ok=False, error=f"timed out after {timeout:g}s")
    except definite_types as exc:
        definite = ctx.phase == "action"  # a compensation has no business "no": it is retried
        return Outcome(ok=False, error=_describe(exc), definite=definite)
    except Exception as exc:
        return Outcome(ok=False, error=_describe(exc))
    return _accept(result)


def _accept(result: object) -> Outcome:
    if result is None:
        return Outcome(ok=True)
    if not isinstance(result, Mapping):
        return Outcome(ok=False, error=f"step returned {type(result).__name__}, expected a mapping or None")
    output = dict(result)
    try:
        json.dumps(output)
    except (TypeError, ValueError) as exc:
        # The output must live in the log so a resumed saga has it without re-running the step.
        return Outcome(ok=False, error=f"step output is not JSON-serialisable: {exc}")
    return Outcome(ok=True, output=output)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
