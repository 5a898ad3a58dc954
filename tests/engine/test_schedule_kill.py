"""The schedule's kill switch during a run: it stops the session through its one rollback path (the emergency
stop, every fault reverted and verified), before a step injects and while a fault is in (docs/schedule.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.schedule import kill_switch, write_pause
from controlroom.schedule_cli import run_guarded
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, advance_until, drive, fault_step, make_scenario


def _session(tmp_path: Path, host: Host, *steps: object) -> Session:
    sc = make_scenario(*(steps or (fault_step(duration=30.0, confirm=False),)))  # type: ignore[arg-type]
    return Session(sc, journal_path=tmp_path / "j.jsonl", clock=ManualClock(), sources=[FakeSource(ok_rate=1.0)],
                   control=False, executor_factory=lambda t: MemoryExecutor(t.name, host.handle))


async def test_a_pause_while_a_fault_is_in_stops_the_run_and_reverts_it(tmp_path: Path) -> None:
    host = Host("t1")
    pause = tmp_path / "paused"
    s = _session(tmp_path, host)
    task = asyncio.ensure_future(run_guarded(s, lambda: kill_switch(pause, {}), poll=1.0))
    await advance_until(s.clock, lambda: host.faulted, what="the injection")  # type: ignore[arg-type]
    write_pause(pause, "paused by the test")
    await drive(s.clock, task)  # type: ignore[arg-type]
    outcome = task.result()
    assert outcome.outcome == "aborted"
    assert not host.faulted
    events = read_journal(tmp_path / "j.jsonl").events
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["source"] == "control" and "schedule paused: paused by the test" in stop.data["reason"]
    assert stop.data["by"] == "schedule kill switch"
    types = [e.type for e in events]
    assert types.index("emergency-stop") < types.index("fault-reverted")
    assert next(e for e in events if e.type == "rollback-finished").data["clean"] is True


async def test_chaos_disabled_before_a_step_means_that_step_injects_nothing(tmp_path: Path) -> None:
    host = Host("t1")
    env: dict[str, str] = {}
    first = fault_step("first", duration=2.0, confirm=False)
    second = fault_step("second", duration=2.0, confirm=False)
    s = _session(tmp_path, host, first, second)
    # The switch flips between the steps: the listener sees step-briefed for "second" before it can inject.
    s.subscribe(lambda e: env.update(CHAOS_ENABLED="false") if e.type == "step-completed" else None)
    task = asyncio.ensure_future(run_guarded(s, lambda: kill_switch(tmp_path / "none", env), poll=3600.0))
    await drive(s.clock, task)  # type: ignore[arg-type]
    assert task.result().outcome == "aborted"
    events = read_journal(tmp_path / "j.jsonl").events
    injected = [e.data["step"] for e in events if e.type == "fault-injecting"]
    assert injected == ["first"]
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["reason"] == "CHAOS_ENABLED=false"
    assert not host.faulted
