"""A fleet in the engine: every SSH executor of a session shares one connect limiter, sized by the scenario; an
emergency stop reverts the hosts it can reach at once and a host whose connection is still being set up once
it connects, each reported as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from controlroom.clock import ManualClock
from controlroom.engine.context import EngineContext
from controlroom.engine.planning import plan_scenario
from controlroom.engine.rollback import Rollback
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.journal.events import Event
from controlroom.scenario.model import FaultSpec, Step, Target, ToxiproxyRef
from controlroom.targets.base import Action, ActionResult
from controlroom.targets.connect_limit import default_size
from controlroom.targets.memory import MemoryExecutor
from controlroom.targets.ssh import SshExecutor
from tests.engine.conftest import Host, drive, make_scenario


def ssh_scenario(max_connecting: int | None) -> Any:
    sc = make_scenario()
    targets = {n: Target(name=n, kind="ssh", ssh=f"root@{n}", known_hosts="/dev/null") for n in ("a", "b")}
    targets["proxy"] = Target(name="proxy", kind="toxiproxy", known_hosts="/dev/null",
                              toxiproxy=ToxiproxyRef(api="http://127.0.0.1:8474", proxies=("shop",), ssh="root@p"))
    return dataclasses.replace(sc, targets=targets,
                               blast_radius=dataclasses.replace(sc.blast_radius, max_connecting=max_connecting))


def test_every_ssh_executor_of_a_session_shares_the_limiter_the_scenario_sizes(tmp_path: Path) -> None:
    session = Session(ssh_scenario(3), journal_path=tmp_path / "j.jsonl", control=False)
    a, b = session.executor("a"), session.executor("b")
    assert isinstance(a, SshExecutor) and isinstance(b, SshExecutor)
    assert a.limiter is b.limiter is session.connect_limiter and session.connect_limiter.size == 3
    leash_host = session.executor("proxy")._shell  # type: ignore[attr-defined]  (the Toxiproxy host, over SSH)
    assert isinstance(leash_host, SshExecutor) and leash_host.limiter is session.connect_limiter
    unsized = Session(ssh_scenario(None), journal_path=tmp_path / "k.jsonl", control=False)
    assert unsized.connect_limiter.size == default_size()  # sized to the machine


class Connecting:
    """An executor whose connection is being set up: every action waits until `connect()` lets it through."""

    def __init__(self, target: str, host: Host) -> None:
        self.target = target
        self.host = host
        self.up = asyncio.Event()
        self.up.set()
        self.waiting = 0

    async def run(self, action: Action) -> ActionResult:
        if not self.up.is_set():
            self.waiting += 1
            await self.up.wait()
            self.waiting -= 1
        return self.host.handle(action)

    async def close(self) -> None:
        return None


async def test_an_emergency_stop_does_not_wait_for_a_host_still_connecting() -> None:
    names = ("t1", "t2", "t3")
    hosts = {n: Host(n) for n in names}
    slow = Connecting("t3", hosts["t3"])
    execs: dict[str, Any] = {n: MemoryExecutor(n, hosts[n].handle) for n in names[:2]}
    execs["t3"] = slow
    clock = ManualClock()
    events: list[Event] = []

    def emit(type_: str, **data: Any) -> Event:
        events.append(Event(type=type_, t="", mono=clock.monotonic(), data=data))
        return events[-1]

    ctx = EngineContext(emit=emit, executor=execs.__getitem__, clock=clock, now=clock.monotonic,
                        group_commit=contextlib.nullcontext)
    step = Step(id="flip", title="flip all", duration=4.0,
                faults=tuple(FaultSpec(type="flag", target=n) for n in names))
    plans = plan_scenario(make_scenario(step, targets=names, max_targets=3))[0].faults
    rollback = Rollback(ctx, leash_window=10.0)
    inject = asyncio.ensure_future(rollback.inject_all(step, plans, duration=4.0))
    await drive(clock, inject, limit=10.0)
    assert inject.result() and all(h.faulted for h in hosts.values())

    slow.up.clear()  # t3's link dropped: its next command waits for a new connection
    stop = asyncio.ensure_future(rollback.rollback_all("key"))
    for _ in range(50):
        await asyncio.sleep(0)
    reverted = [e.data["target"] for e in events if e.type == "fault-reverted"]
    assert sorted(reverted) == ["t1", "t2"] and all(e.data["verified"] for e in events if e.type == "fault-reverted")
    assert not hosts["t1"].faulted and not hosts["t2"].faulted
    assert hosts["t3"].faulted and slow.waiting == 1 and not stop.done()  # its revert waits for the connection

    slow.up.set()  # connected: its revert goes out now, and is reported on its own
    await drive(clock, stop, limit=10.0)
    assert [e.data["target"] for e in events if e.type == "fault-reverted"][-1] == "t3" and not hosts["t3"].faulted
    assert [e.data for e in events if e.type == "rollback-finished"] == [{"clean": True, "unconfirmed": []}]


class SlowToConnect(MemoryExecutor):
    """An SSH-like executor (it has `connect`) whose connection is set up only once `up` is set."""

    def __init__(self, target: str, host: Host, up: bool) -> None:
        super().__init__(target, host.handle)
        self.up = asyncio.Event()
        if up:
            self.up.set()
        self.abandoned = False

    async def connect(self) -> None:
        try:
            await self.up.wait()
        except asyncio.CancelledError:
            self.abandoned = True
            raise


async def test_a_stop_during_pre_flight_does_not_wait_for_connections_still_being_set_up(tmp_path: Path) -> None:
    names = ("t1", "t2", "t3")
    hosts = {n: Host(n) for n in names}
    execs = {n: SlowToConnect(n, hosts[n], up=n != "t3") for n in names}  # t3 never finishes connecting
    step = Step(id="flip", title="flip all", duration=4.0,
                faults=tuple(FaultSpec(type="flag", target=n) for n in names))
    clock = ManualClock()
    session = Session(make_scenario(step, targets=names, max_targets=3), journal_path=tmp_path / "j.jsonl",
                      clock=clock, control=False, executor_factory=lambda t: execs[t.name])
    run = asyncio.ensure_future(session.run())
    for _ in range(200):  # until t1 and t2 have passed their checks and t3 is still connecting
        await asyncio.sleep(0)
        if all(hosts[n].claims for n in ("t1", "t2")):
            break
    assert not run.done() and not execs["t3"].up.is_set()
    session.stop_now("key", "pressed in pre-flight")
    await drive(clock, run, limit=5.0)  # bounded: before, the session waited for t3's connection for ever
    outcome = run.result()
    assert outcome.exit_code == 2 and "pre-flight stopped" in outcome.message
    assert execs["t3"].abandoned and hosts["t3"].claims == [] and not any(h.faulted for h in hosts.values())
    checks = [e.data for e in read_journal(tmp_path / "j.jsonl").events if e.type == "preflight-check"]
    assert {"check": "reachable", "target": "t3", "ok": False,
            "detail": "t3: not checked: the session stopped before its connection was set up"} in checks
    assert all(h.claims[-1:] == ["release"] for n, h in hosts.items() if n != "t3")  # claims taken are given back
