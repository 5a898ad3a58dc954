"""A fleet in the lab (100 hosts, a slot of their own): connecting through a small connect limit with a short
connect timeout — every host connects and passes pre-flight, since queueing for a slot is not unreachability —
and an emergency stop that does not wait for a host whose connection is still being set up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from controlroom.clock import RealClock
from controlroom.engine.context import EngineContext
from controlroom.engine.preflight_host import failed, preflight_hosts
from controlroom.engine.rollback import Rollback
from controlroom.journal.events import Event
from controlroom.lab.netns import Lab
from controlroom.scenario.model import FaultSpec, Step
from controlroom.targets.connect_limit import ConnectLimiter
from controlroom.targets.ssh import SshExecutor
from tests.faults.test_host_lab import make_plan
from tests.lab.fixtures import assert_clean, needs_lab, own_lab

pytestmark = [pytest.mark.root, needs_lab]

FLEET = 100
NOBODY = "10.0.0.9"  # the partition's peer: an address no lab host has, so the hosts stay reachable


@pytest.fixture(scope="module", name="fleet")
def fleet_fixture() -> Iterator[Lab]:
    with own_lab(FLEET) as lab:
        yield lab


class PeakLimiter(ConnectLimiter):
    """A connect limiter that remembers the most attempts it let run at once."""

    peak = 0

    @contextlib.asynccontextmanager
    async def slot(self, wait: float | None = None) -> AsyncIterator[None]:
        async with super().slot(wait):
            self.peak = max(self.peak, self.attempting)
            yield


def executors(lab: Lab, names: list[str], **kw: Any) -> dict[str, SshExecutor]:
    return {n: SshExecutor(n, n, config=[str(lab.config.ssh_config)], **kw) for n in names}


async def test_a_hundred_hosts_connect_and_pass_preflight_through_a_small_limit_and_a_short_timeout(
        fleet: Lab) -> None:
    # Before the limiter, a hundred handshakes shared the loop at once and each took about as long as all of
    # them (~5 s on the 2-core lab machine): with a 1.5 s connect timeout hosts failed pre-flight with "no answer
    # within 1.5s", every sshd answering. Two at a time, each takes a few tens of milliseconds.
    limiter = PeakLimiter(2)
    names = [h.name for h in fleet.hosts]
    execs = executors(fleet, names, connect_timeout=1.5, limiter=limiter)
    plans = [make_plan(fleet, "partition", {"peers": [NOBODY]}, target=n) for n in names]
    t0 = time.monotonic()
    try:
        checks = await preflight_hosts(execs, plans)
        took = time.monotonic() - t0
        assert [c.detail for c in failed(checks)] == []
        assert all(ex.connected for ex in execs.values()) and limiter.peak == 2
        assert sum(ex.connects for ex in execs.values()) == FLEET  # one connection each, however long the queue
        assert took < 120
    finally:
        await asyncio.gather(*(ex.close() for ex in execs.values()))


async def test_an_emergency_stop_reverts_the_live_hosts_at_once_and_a_connecting_one_when_it_connects(
        fleet: Lab) -> None:
    names = [h.name for h in fleet.hosts[:8]]
    slow = names[-1]
    execs = executors(fleet, names, connect_timeout=5.0)
    events: list[tuple[float, Event]] = []

    def emit(type_: str, **data: Any) -> Event:
        event = Event(type=type_, t="", mono=time.monotonic(), data=data)
        events.append((time.monotonic(), event))
        return event

    ctx = EngineContext(emit=emit, executor=execs.__getitem__, clock=RealClock(), now=time.monotonic)
    rollback = Rollback(ctx, leash_window=30.0)
    specs = tuple(FaultSpec("partition", n, {"peers": [NOBODY]}) for n in names)
    step = Step(id="cut", title="partition the fleet", faults=specs, duration=30.0)
    plans = [make_plan(fleet, "partition", {"peers": [NOBODY]}, target=n, fault_id=f"cut/{i}@{n}")
             for i, n in enumerate(names)]
    sshd = fleet.host(slow).inner_pid
    try:
        assert await rollback.inject_all(step, plans, duration=30.0)
        # The slow host's link drops and its sshd stops answering: its revert must first set up a new
        # connection, which hangs (TCP connects, no banner) until the sshd is continued.
        os.kill(sshd, signal.SIGSTOP)
        execs[slow].abort()
        started = time.monotonic()
        stop = asyncio.ensure_future(rollback.rollback_all("key"))
        await asyncio.sleep(1.5)
        live = {e.data["target"]: at - started for at, e in events if e.type == "fault-reverted"}
        assert sorted(live) == sorted(names[:-1])  # every live host reverted and verified while one connects
        assert max(live.values()) < 1.5 and not stop.done()
        os.kill(sshd, signal.SIGCONT)
        await asyncio.wait_for(stop, timeout=20)
        reverted = {e.data["target"]: at - started for at, e in events if e.type == "fault-reverted"}
        assert reverted[slow] >= 1.5 and all(e.data["verified"] for _, e in events if e.type == "fault-reverted")
        assert [e.data for _, e in events if e.type == "rollback-finished"] == [{"clean": True, "unconfirmed": []}]
    finally:
        os.kill(sshd, signal.SIGCONT)
        await asyncio.gather(*(ex.close() for ex in execs.values()))
    for n in names:
        assert_clean(fleet, n)
