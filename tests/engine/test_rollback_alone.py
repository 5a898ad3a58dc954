"""The rollback built from an `EngineContext` alone — no Session, no journal: where a new backend's revert is tested.

The context is the whole of what the rollback may use (emit, executors, clock, group commit); these tests hand it
an in-memory target and a list that records the events, and pin the rollback's rules against that.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from controlroom.clock import ManualClock
from controlroom.engine.context import EngineContext
from controlroom.engine.heartbeat import Heartbeat
from controlroom.engine.planning import plan_scenario
from controlroom.engine.rollback import Rollback
from controlroom.faults.plan import FaultPlan
from controlroom.journal.events import Event, StopKind
from controlroom.scenario.model import Step
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import Host, drive, fault_step, make_scenario


class Room:
    """The context's other side: an in-memory host, a manual clock and the events the rollback emitted."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.clock = ManualClock()
        self.events: list[Event] = []
        self.commits = 0
        self.ctx = EngineContext(emit=self.emit, executor=lambda target: MemoryExecutor(target, host.handle),
                                 clock=self.clock, now=lambda: self.clock.monotonic(), group_commit=self.group)
        self.step: Step = fault_step()
        self.plan: FaultPlan = plan_scenario(make_scenario(self.step))[0].faults[0]

    def emit(self, type_: str, **data: Any) -> Event:
        event = Event(type=type_, t="", mono=self.clock.monotonic(), data=data)
        self.events.append(event)
        return event

    def group(self) -> Any:
        self.commits += 1
        return contextlib.nullcontext()

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == type_]


async def _run(room: Room, coro: Any) -> Any:
    task = asyncio.ensure_future(coro)
    await drive(room.clock, task, limit=30.0)
    return task.result()


async def test_a_rollback_without_a_session_reverts_verifies_and_disarms_the_injected_fault() -> None:
    room = Room(Host("t1"))
    rb = Rollback(room.ctx, leash_window=10.0)
    assert await _run(room, rb.inject_all(room.step, [room.plan], duration=4.0)) is True
    assert room.host.faulted and room.host.log[:2] == ["arm 10.0", "inject"]  # armed for the window, not the step
    announced = room.of("fault-injecting")[0]
    assert (announced["step"], announced["index"], announced["target"]) == ("flip", 0, "t1")  # what recover reads

    await _run(room, rb.rollback_all("key"))
    assert not room.host.faulted
    assert room.host.log[-3:] == ["revert", "verify", "disarm"]  # disarmed only after the verify passed
    assert room.of("fault-reverted") == [{"fault": room.plan.fault_id, "target": "t1", "verified": True,
                                           "warnings": []}]
    assert room.of("rollback-finished") == [{"clean": True, "unconfirmed": []}]
    assert room.commits == 1 and rb.triggered and not rb.active


async def test_a_revert_that_cannot_be_verified_leaves_the_leash_armed_and_the_target_unconfirmed() -> None:
    room = Room(Host("t1", revert_works=False))
    rb = Rollback(room.ctx, leash_window=10.0)
    await _run(room, rb.inject_all(room.step, [room.plan], duration=4.0))
    await _run(room, rb.rollback_all("stop-condition"))
    assert room.host.faulted and "disarm" not in room.host.log  # the leash is the last line of defence
    assert room.host.log.count("verify") == 1 + 3  # the fused try, then three tries step by step
    [failed] = room.of("fault-revert-failed")
    assert failed["fault"] == room.plan.fault_id and "flag still set" in failed["error"]
    assert room.of("fault-reverted") == [] and rb.unconfirmed == ("t1",)
    assert room.of("rollback-finished") == [{"clean": False, "unconfirmed": ["t1"]}]


async def test_the_sessions_own_end_reverts_through_the_rollback_without_counting_as_a_stop() -> None:
    room = Room(Host("t1"))
    rb = Rollback(room.ctx, leash_window=10.0)
    await _run(room, rb.inject_all(room.step, [room.plan], duration=4.0))
    await _run(room, rb.revert_remaining())
    assert not room.host.faulted and room.of("rollback-started")[0]["reason"] == "session end"
    assert not rb.triggered  # an explicit call, not a reason string that doubles as a flag


# ---- the heartbeat, from the same context ---------------------------------------------------------------------------


async def test_the_heartbeat_alone_renews_an_armed_leash_and_a_fired_guard_is_a_leash_stop() -> None:
    """No Session: a stop is whatever the context's `stop` does — here, recorded."""
    room = Room(Host("t1"))
    stops: list[tuple[StopKind, str]] = []

    def stop(kind: StopKind, reason: str) -> asyncio.Future[None]:
        stops.append((kind, reason))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)  # a session would start its rollback here; the heartbeat does not wait for it
        return done

    ctx = dataclasses.replace(room.ctx, stop=stop)
    rb = Rollback(ctx, leash_window=9.0)
    hb = Heartbeat(ctx, rb, session_id="abc", window=9.0)
    await _run(room, rb.inject_all(room.step, [room.plan], duration=4.0))
    await hb.beat()
    assert "renew 9.0" in room.host.log and room.of("leash-renewed")[0]["faults"] == [room.plan.fault_id]
    assert stops == []

    room.host.guard_fired = True
    await hb.beat()
    assert [k for k, _ in stops] == [StopKind.LEASH] and room.plan.fault_id in stops[0][1]
    assert room.of("leash-expired")[0]["fault"] == room.plan.fault_id


class _Fleet:
    """N claimed hosts; those in `late` answer a renewal only after `delay` seconds (a room too busy for them)."""

    def __init__(self, late: set[str], delay: float, clock: ManualClock) -> None:
        self.late, self.delay, self.clock = late, delay, clock

    def executor(self, target: str) -> Any:
        fleet = self

        class Slow:
            def __init__(self) -> None:
                self.target = target

            async def run(self, action: Any) -> Any:
                from controlroom.targets.base import ActionResult

                if target in fleet.late:  # as SshExecutor: an answer later than the action's timeout is given up
                    await fleet.clock.sleep(min(fleet.delay, action.timeout))
                    if fleet.delay > action.timeout:
                        return ActionResult(ok=False, error=f"timed out after {action.timeout:g}s", timed_out=True)
                return ActionResult(ok=True, stdout="ok\n")

            async def close(self) -> None:
                pass

        return Slow()


async def _fleet_round(n: int, late: int, rounds: int = 2) -> list[str]:
    room = Room(Host("t1"))
    names = [f"h{i}" for i in range(1, n + 1)]
    fleet = _Fleet(set(names[:late]), delay=5.0, clock=room.clock)
    ctx = dataclasses.replace(room.ctx, executor=fleet.executor)
    hb = Heartbeat(ctx, Rollback(ctx, leash_window=9.0), session_id="abc", window=9.0)
    for name in names:
        hb.hold(name, False)
    for _ in range(rounds):
        await _run(room, hb.beat())
    return [str(d["message"]) for d in room.of("warning")]


async def test_a_fleet_round_that_does_not_fit_its_period_is_said_once_with_what_to_change() -> None:
    warnings = await _fleet_round(40, late=30)
    fleet = [w for w in warnings if w.startswith("leash renewal:")]
    assert len(fleet) == 1, warnings  # said once, not every round
    assert "30 of 40 hosts had not answered within the 3s period" in fleet[0]
    assert "raise blast_radius.leash (e.g. 30s)" in fleet[0] and "docs/fleet.md" in fleet[0]


async def test_a_few_late_hosts_or_a_small_room_are_not_called_a_fleet_problem() -> None:
    assert not [w for w in await _fleet_round(40, late=3) if w.startswith("leash renewal:")]
    assert not [w for w in await _fleet_round(10, late=10) if w.startswith("leash renewal:")]
