"""Engine test kit: a scenario built in code, a source the test controls, a manual clock (the flag fault and
its in-memory host are in tests/doubles.py, shared with the TUI tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from controlroom.clock import ManualClock
from controlroom.faults import catalogue as cat
from controlroom.scenario.model import (
    BlastRadius,
    FaultSpec,
    Observe,
    Scenario,
    SteadyState,
    Step,
    StopWhen,
    SuccessCriteria,
    Target,
)
from tests.doubles import FLAG, Host

__all__ = ["FLAG", "Host"]  # re-exported for the engine tests


@pytest.fixture(autouse=True)
def _flag_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "flag", FLAG)


class FakeSource:
    """A metric source whose values the test sets; `down` makes it unavailable."""

    name = "fake"

    def __init__(self, **values: float) -> None:
        self.values: dict[str, float | None] = dict(values)
        self.down = False

    def series(self) -> list[str]:
        return sorted(self.values)

    async def start(self) -> None:
        return None

    async def sample(self) -> dict[str, float | None]:
        from controlroom.metrics.source import SourceUnavailable

        if self.down:
            raise SourceUnavailable("connection refused")
        return dict(self.values)

    async def close(self) -> None:
        return None


def make_scenario(*steps: Step, targets: tuple[str, ...] = ("t1",), stop: tuple[str, ...] = ("ok_rate < 0.8",),
                  hold: float = 0.0, require: tuple[str, ...] = ("ok_rate >= 0.95",), window: float = 2.0,
                  lost: str = "rollback", max_targets: int = 1, recovery: float | None = 5.0) -> Scenario:
    return Scenario(
        name="engine-test", hypothesis="ok_rate stays up", environment="test",
        targets={n: Target(name=n, kind="local", labels={"role": "app"}) for n in targets},
        steps=steps,
        observe=Observe(every=0.5, lost_telemetry=lost, lost_after=1.0),  # type: ignore[arg-type]
        steady_state=SteadyState(window=window, require=require),
        blast_radius=BlastRadius(max_targets=max_targets, max_duration=60.0, allowed_environments=("test",)),
        stop_when=StopWhen(conditions=stop, hold=hold),
        success_criteria=SuccessCriteria(recovery_time=recovery),
    )


def fault_step(sid: str = "flip", duration: float = 4.0, target: str = "t1", **kw: object) -> Step:
    return Step(id=sid, title=f"step {sid}", faults=(FaultSpec(type="flag", target=target),), duration=duration,
                **kw)  # type: ignore[arg-type]


async def drive(clock: ManualClock, task: asyncio.Future[object], limit: float = 120.0, step: float = 0.1) -> None:
    """Advance the manual clock until the task finishes (or fail after `limit` simulated seconds)."""
    elapsed = 0.0
    while not task.done():
        await clock.advance(step)
        elapsed += step
        if elapsed > limit:
            task.cancel()
            raise AssertionError(f"session did not finish within {limit} simulated seconds")


async def advance_until(clock: ManualClock, done: Callable[[], bool], limit: float = 120.0, step: float = 0.1,
                        what: str = "the condition") -> None:
    """Advance the manual clock until `done()` (or fail after `limit` simulated seconds): a bounded wait."""
    elapsed = 0.0
    while not done():
        if elapsed > limit:
            raise AssertionError(f"{what} did not come within {limit} simulated seconds")
        await clock.advance(step)
        elapsed += step
