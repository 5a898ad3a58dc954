"""Engine test kit: a scenario built in code, a fault that flips a flag, a source the test controls, a manual clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlroom.clock import ManualClock
from controlroom.faults import catalogue as cat
from controlroom.faults.plan import FaultPlan, Leash, Requirement
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
from controlroom.targets.base import Action, ActionResult, Shell
from tests.doubles import run_fused


def _build_flag(spec: FaultSpec, target: Target, ctx: cat.PlanContext) -> FaultPlan:
    return FaultPlan(
        fault_id=ctx.fault_id, spec=spec, target=target.name, summary=f"flag on {target.name}",
        inject=(Shell("inject"),), revert=(Shell("revert"),), verify=(Shell("verify"),),
        leash=Leash(arm=lambda s: Shell(f"arm {s:.1f}"), disarm=Shell("disarm")),
        requires=(Requirement("tool", Shell("has-tool"), f"{target.name}: tool missing"),),
    )


FLAG = cat.FaultType(name="flag", params=(), target_kinds=frozenset({"local"}), build=_build_flag, doc="test fault")


@pytest.fixture(autouse=True)
def _flag_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "flag", FLAG)


@pytest.fixture(autouse=True)
def _runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_RUNTIME_DIR", str(tmp_path / "run"))


@dataclass
class Host:
    """The in-memory target: a flag that inject sets and revert clears; verify passes only when it is clear."""

    name: str
    faulted: bool = False
    revert_works: bool = True
    reachable: bool = True
    has_tool: bool = True
    log: list[str] = field(default_factory=list)
    on_inject: object = None

    def handle(self, action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        cmd = action.script
        if not self.reachable:
            return ActionResult(ok=False, error="connection refused")
        fused = run_fused(cmd, self.handle)
        if fused is not None:
            return fused
        self.log.append(cmd)
        if not self.reachable:
            return ActionResult(ok=False, error="connection refused")
        if cmd == "has-tool":
            return ActionResult(ok=self.has_tool, status=0 if self.has_tool else 1)
        if cmd == "inject":
            if callable(self.on_inject):
                self.on_inject()
            self.faulted = True
        elif cmd == "revert" and self.revert_works:
            self.faulted = False
        elif cmd == "verify":
            return ActionResult(ok=not self.faulted, status=0 if not self.faulted else 1,
                                stderr="" if not self.faulted else "flag still set")
        return ActionResult(ok=True, status=0)



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
