"""A stop that lands while an inject is still in flight: the inject is ended (or waited for) before the revert.

The in-memory host behaves as a real one reached over SSH: an inject it started
keeps running when the control room stops waiting for it (cancelling our side
does not end the command there), and lands when its time comes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.faults import catalogue as cat
from controlroom.faults.plan import FaultPlan, Leash
from controlroom.journal import read_journal
from controlroom.scenario.model import FaultSpec, Step, Target
from controlroom.targets.base import Action, ActionResult, Shell
from controlroom.targets.memory import MemoryExecutor
from tests.doubles import run_fused
from tests.engine.conftest import FakeSource, advance_until, drive, make_scenario


@dataclass
class SlowHost:
    """An inject takes `inject_s` on the host before the fault lands; `stop-inject` kills it or leaves a tombstone."""

    clock: ManualClock
    inject_s: float = 3.0
    arm_s: float = 0.0
    stop_works: bool = True
    faulted: bool = False
    tombstone: bool = False
    log: list[str] = field(default_factory=list)
    running: asyncio.Task[None] | None = None

    async def _land(self) -> None:
        await self.clock.sleep(self.inject_s)
        self.faulted = True

    def _quick(self, action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        self.log.append(action.script)
        if action.script == "revert":
            self.faulted = False
        elif action.script == "verify":
            return ActionResult(ok=not self.faulted, status=0 if not self.faulted else 1,
                                stderr="" if not self.faulted else "still faulted")
        return ActionResult(ok=True, status=0)

    async def handle(self, action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        cmd = action.script
        fused = run_fused(cmd, self._quick)  # revert + verify + disarm in one command
        if fused is not None:
            return fused
        if cmd in ("revert", "verify", "disarm"):
            return self._quick(action)
        self.log.append(cmd)
        if cmd.startswith("arm"):
            await self.clock.sleep(self.arm_s)
        elif cmd == "inject":
            if self.tombstone:
                return ActionResult(ok=False, status=75, stderr="a stop came first")
            self.running = asyncio.ensure_future(self._land())
            try:
                # Shielded: the host goes on with the command whatever happens to our side of the channel.
                await asyncio.shield(self.running)
            except asyncio.CancelledError:
                if self.running.cancelled():
                    return ActionResult(ok=False, status=137, stderr="Killed")
                raise
        elif cmd == "stop-inject":
            if not self.stop_works:
                return ActionResult(ok=False, error="connection refused")
            if self.running is not None and not self.running.done():
                self.running.cancel()
                return ActionResult(ok=True, status=0, stdout="killed\n")
            if self.running is None:
                self.tombstone = True
                return ActionResult(ok=True, status=0, stdout="never-started\n")
            return ActionResult(ok=True, status=0, stdout="finished\n")
        return ActionResult(ok=True, status=0)


def _slow_type(stoppable: bool) -> cat.FaultType:
    def build(spec: FaultSpec, target: Target, ctx: cat.PlanContext) -> FaultPlan:
        return FaultPlan(
            fault_id=ctx.fault_id, spec=spec, target=target.name, summary=f"slow flag on {target.name}",
            inject=(Shell("inject", timeout=10.0),), revert=(Shell("revert"),), verify=(Shell("verify"),),
            leash=Leash(arm=lambda s: Shell(f"arm {s:.1f}"), disarm=Shell("disarm")),
            **({"stop_inject": Shell("stop-inject")} if stoppable else {}),  # type: ignore[arg-type]
        )

    return cat.FaultType(name="slowflag", params=(), target_kinds=frozenset({"local"}), build=build, doc="test")


def _session(tmp_path: Path, host: SlowHost, clock: ManualClock) -> Session:
    step = Step(id="slow", title="slow inject", faults=(FaultSpec(type="slowflag", target="t1"),), duration=30.0)
    return Session(make_scenario(step), journal_path=tmp_path / "j.jsonl", clock=clock,
                   sources=[FakeSource(ok_rate=1.0)],
                   executor_factory=lambda t: MemoryExecutor(t.name, host.handle))


async def _stop_mid_inject(s: Session, clock: ManualClock, after: float = 0.5) -> None:
    task = asyncio.ensure_future(s.run())
    await advance_until(clock, lambda: s.state == "injecting")
    await clock.advance(after)
    s.spawn(s.emergency_stop("key"))
    await drive(clock, task)
    await clock.advance(10.0)  # long after the inject would have landed


def _events(tmp_path: Path) -> list[tuple[str, dict[str, object]]]:
    return [(e.type, e.data) for e in read_journal(tmp_path / "j.jsonl").events]


async def test_a_stop_mid_inject_kills_it_before_reverting_and_the_target_stays_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "slowflag", _slow_type(stoppable=True))
    clock = ManualClock()
    host = SlowHost(clock)
    s = _session(tmp_path, host, clock)
    await _stop_mid_inject(s, clock)
    assert not host.faulted
    events = _events(tmp_path)
    types = [t for t, _ in events]
    rollback = next(d for t, d in events if t == "rollback-started")
    assert rollback["faults"] == ["slow/0@t1"]  # the fault still being injected is part of the rollback
    stopped = [d for t, d in events if t == "fault-inject-stopped"]
    assert [(d["fault"], d["how"]) for d in stopped] == [("slow/0@t1", "killed")]
    assert types.index("fault-inject-stopped") < types.index("fault-reverted")
    assert "fault-injected" not in types and "fault-failed" not in types
    # The stop went out before the revert, and the leash came off only after the verify.
    assert host.log.index("stop-inject") < host.log.index("revert") < host.log.index("verify") < host.log.index("disarm")
    ended = events[-1][1]
    assert (ended["outcome"], ended["exit_code"], ended["unconfirmed"]) == ("aborted", 1, [])


async def test_a_stop_before_the_inject_was_sent_never_sends_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "slowflag", _slow_type(stoppable=True))
    clock = ManualClock()
    host = SlowHost(clock, arm_s=2.0)  # the stop lands while the leash is being armed
    s = _session(tmp_path, host, clock)
    await _stop_mid_inject(s, clock)
    assert not host.faulted
    assert "inject" not in host.log
    stopped = [d for t, d in _events(tmp_path) if t == "fault-inject-stopped"]
    assert [d["how"] for d in stopped] == ["never-started"]


async def test_without_a_way_to_stop_it_the_rollback_waits_for_the_inject_then_reverts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Like an HTTP admin fault: nothing to kill on the target, so the request is waited for, then reverted.
    monkeypatch.setitem(cat.catalogue(), "slowflag", _slow_type(stoppable=False))
    clock = ManualClock()
    host = SlowHost(clock, inject_s=2.0)
    s = _session(tmp_path, host, clock)
    await _stop_mid_inject(s, clock)
    assert not host.faulted
    events = _events(tmp_path)
    types = [t for t, _ in events]
    assert types.index("fault-injected") < types.index("fault-reverted")
    assert [d["how"] for t, d in events if t == "fault-inject-stopped"] == ["finished"]
    assert events[-1][1]["unconfirmed"] == []


async def test_an_inject_that_cannot_be_stopped_is_unconfirmed_and_keeps_its_leash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "slowflag", _slow_type(stoppable=True))
    clock = ManualClock()
    host = SlowHost(clock, inject_s=60.0, stop_works=False)
    s = _session(tmp_path, host, clock)
    s.reconfirm_for = 1.0
    await _stop_mid_inject(s, clock)
    events = _events(tmp_path)
    failed = [d for t, d in events if t == "fault-revert-failed"]
    assert failed and "may still be running" in str(failed[0]["error"])
    assert [d["how"] for t, d in events if t == "fault-inject-stopped"] == ["unknown"]
    assert "disarm" not in host.log  # the leash stays armed: it reverts the fault if the inject lands
    assert not any(t == "fault-reverted" and d.get("verified") for t, d in events)
    ended = events[-1][1]
    assert (ended["outcome"], ended["unconfirmed"]) == ("aborted", ["t1"])
    assert host.running is not None
    host.running.cancel()


async def test_a_stop_that_fails_waits_for_the_inject_to_end_by_itself_then_reverts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "slowflag", _slow_type(stoppable=True))
    clock = ManualClock()
    host = SlowHost(clock, inject_s=2.0, stop_works=False)  # the stop cannot reach it; the inject ends at 2 s
    s = _session(tmp_path, host, clock)
    await _stop_mid_inject(s, clock)
    assert not host.faulted
    events = _events(tmp_path)
    assert [d["how"] for t, d in events if t == "fault-inject-stopped"] == ["finished"]
    assert events[-1][1]["unconfirmed"] == []
    assert host.log.index("revert") > host.log.index("stop-inject")
