"""What an engine part may use of the session it runs in — and nothing more.

The rollback, the safety monitor, the heartbeat and pre-flight each take an `EngineContext` (and,
explicitly, the sibling they need; the control server only two callbacks) instead of the whole `Session`: so
each can be built and tested alone — the rollback against an in-memory target with no session at all — and a new
backend's revert lives in code whose inputs are all written here.

Every callable is the session's own (`Session.context`): events go through the one `emit` (journal first,
then listeners), actions through `run_on` (an executor error is a failed action, never a crash mid-fault),
and a stop through `stop`, which starts the one rollback path in the background (the caller need not wait).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from controlroom.clock import Clock
from controlroom.journal.events import Event, StopKind
from controlroom.targets.base import Action, ActionResult, Executor

Emit = Callable[..., Event]  # emit("fault-reverted", fault=..., target=...): journaled, then heard


async def run_action(executor: Executor, action: Action) -> ActionResult:
    """Run one action; an executor bug or a transport failure is a failed action, never a crash in the middle of
    a fault (the rollback and `recover` both run their actions through here)."""
    try:
        return await executor.run(action)
    except Exception as err:
        return ActionResult(ok=False, error=f"{type(err).__name__}: {err}")


def _no_stop(kind: StopKind, reason: str) -> Awaitable[Any]:
    raise RuntimeError(f"stop ({kind.value}: {reason}) asked of a context that has no session to stop")


@dataclass(frozen=True)
class EngineContext:
    emit: Emit
    executor: Callable[[str], Executor]  # target name -> its executor (made once, kept by the session)
    clock: Clock
    now: Callable[[], float]  # seconds since the session started, on `clock`
    stopping: Callable[[], bool] = lambda: False  # a stop has begun: nothing more is injected
    # Start the one rollback path (Session.emergency_stop) in the background; awaiting the answer waits for it.
    stop: Callable[[StopKind, str], Awaitable[Any]] = _no_stop
    # Events emitted inside reach the disk with one fsync at its end (a rollback's many reverts).
    group_commit: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext

    async def run_on(self, target: str, action: Action) -> ActionResult:
        """Run one action on a target (`run_action`)."""
        try:
            executor = self.executor(target)
        except Exception as err:  # an executor that cannot even be built: the action fails, nothing crashes
            return ActionResult(ok=False, error=f"{type(err).__name__}: {err}")
        return await run_action(executor, action)
