"""Every fault the lab can inject, undone on real hosts by the two paths that run without the live room:

* the leash guard alone: armed for a few seconds, never renewed; it fires and reverts by itself;
* `recover`: the plans rebuilt as `controlroom recover` rebuilds them, stopped, reverted, verified, disarmed.

Each host is then clean (tests/lab/fixtures.py `assert_clean`, and each fault's own trace: the fill file, the
command's flag, the paused process running again, no in-flight marker). The netem faults (latency, loss,
corrupt, duplicate) cannot be injected on this kernel and service-stop needs systemd: tests/faults/
test_fault_rules.py runs their guard and recover paths on a fake host.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlroom.engine.recover import recover_plans
from controlroom.faults.leash import safe_id
from controlroom.faults.plan import FaultPlan
from controlroom.lab.netns import Lab
from controlroom.targets.base import Shell
from controlroom.targets.ssh import SshExecutor
from tests.engine.conftest import make_scenario
from tests.faults.test_host_lab import make_plan
from tests.lab.fixtures import assert_clean, host_state, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

GUARD_WINDOW = 4.0  # long enough for every inject to land first, short enough to keep the test short


class Faults:
    """One of each injectable fault, spread over the three hosts (the nft ones need a host each)."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.tag = tag = uuid.uuid4().hex[:6]
        self.fill = str(tmp_path / f"fill-{tag}")  # a directory only root writes
        self.flag = f"/tmp/controlroom-undo-{tag}"
        self.pidfile = f"/tmp/controlroom-undo-{tag}.pid"
        peer = lab.host("h3").ip

        def plan(ftype: str, target: str, params: dict[str, object]) -> FaultPlan:
            return make_plan(lab, ftype, params, target=target, fault_id=f"undo-{tag}/{ftype}@{target}")

        self.plans = [
            plan("partition", "h1", {"peers": [peer]}),
            plan("bandwidth", "h1", {"rate": "1mbit"}),
            plan("blackhole", "h2", {}),
            plan("cpu-stress", "h2", {}),
            plan("memory-stress", "h2", {"size": "32M"}),
            plan("io-stress", "h2", {}),
            plan("packet-loss-nft", "h3", {"percent": "20%"}),
            plan("disk-fill", "h3", {"path": self.fill, "size": "8M", "keep_free": "1M"}),
            plan("command", "h3", {"inject": f"touch {self.flag}", "revert": f"rm -f {self.flag}",
                                   "verify": f"[ ! -e {self.flag} ]"}),
            plan("process-pause", "h1", {"pidfile": self.pidfile}),
        ]
        self.hosts = sorted({p.target for p in self.plans})

    def start_sleeper(self) -> None:
        self.lab.exec("h1", f"setsid -f sh -c 'echo $$ > {self.pidfile}; exec sleep 120' </dev/null >/dev/null 2>&1; "
                            f"i=0; while [ ! -s {self.pidfile} ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done")

    def sleeper_state(self) -> str:
        return self.lab.exec("h1", f"sed 's/^.*) //' /proc/$(cat {self.pidfile})/stat | cut -d' ' -f1").stdout.strip()

    def landed(self) -> dict[str, bool]:
        state = {h: host_state(self.lab, h) for h in self.hosts}
        return {
            "partition": "inet controlroom" in state["h1"], "bandwidth": "c0de" in state["h1"],
            "blackhole": "inet controlroom" in state["h2"], "stress": state["h2"].count("stress-ng") >= 3,
            "packet-loss-nft": "inet controlroom" in state["h3"], "disk-fill": Path(self.fill).exists(),
            "command": self.lab.exec("h3", f"test -e {self.flag}").returncode == 0,
            "process-pause": self.sleeper_state() == "T",
        }

    def traces(self) -> list[str]:
        """What is left of the faults beyond what assert_clean looks at; empty when clean."""
        left = [name for name, there in self.landed().items() if there]
        for p in self.plans:
            marker = self.lab.exec(p.target, f"ls -d /run/controlroom/run-{safe_id(p.fault_id)} 2>/dev/null").stdout
            left += [f"{p.fault_id}: in-flight marker {marker.strip()}"] if marker.strip() else []
        return left

    def clean_up(self) -> None:
        self.lab.exec("h1", f"kill -KILL $(cat {self.pidfile}) 2>/dev/null; rm -f {self.pidfile}")
        self.lab.exec("h3", f"rm -f {self.flag}")


@pytest.fixture
async def execs(lab: Lab) -> AsyncIterator[dict[str, SshExecutor]]:
    found = {h.name: SshExecutor(h.name, h.name, config=[str(lab.config.ssh_config)]) for h in lab.hosts}
    yield found
    await asyncio.gather(*(ex.close() for ex in found.values()))


async def inject_all(faults: Faults, execs: dict[str, SshExecutor], leash: float) -> None:
    async def one(p: FaultPlan) -> None:
        ex = execs[p.target]
        assert p.leash is not None
        armed = await ex.run(p.leash.arm(leash))
        assert armed.ok, f"{p.fault_id}: {armed.detail}"
        for action in p.inject:
            res = await ex.run(action)
            assert res.ok, f"{p.fault_id}: {res.detail}"

    faults.start_sleeper()
    await asyncio.gather(*(one(p) for p in faults.plans))
    landed = faults.landed()
    assert all(landed.values()), landed


def wait_clean(faults: Faults, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not faults.traces() and all("controlroom" not in host_state(faults.lab, h).replace("/run/controlroom", "")
                                       for h in faults.hosts):
            break
        time.sleep(0.25)
    return time.monotonic() - started


async def test_every_fault_is_undone_by_its_leash_guard_alone(lab: Lab, execs: dict[str, SshExecutor],
                                                              tmp_path: Path) -> None:
    faults = Faults(lab, tmp_path)
    try:
        await inject_all(faults, execs, leash=GUARD_WINDOW)
        # No renewal, no revert, no disarm: the room is silent. Each guard fires at its deadline and undoes its fault.
        took = wait_clean(faults, GUARD_WINDOW + 8.0)
        assert faults.traces() == [], f"left after {took:.1f}s"
        for h in faults.hosts:
            assert_clean(lab, h)
        assert faults.sleeper_state() in ("S", "R")
    finally:
        await asyncio.gather(*(execs[p.target].run(a) for p in faults.plans for a in p.revert))
        faults.clean_up()


async def test_recover_undoes_every_fault_and_disarms_every_guard(lab: Lab, execs: dict[str, SshExecutor],
                                                                  tmp_path: Path) -> None:
    faults = Faults(lab, tmp_path)
    try:
        await inject_all(faults, execs, leash=120.0)  # the guards would not fire before the test's end
        scenario = make_scenario(targets=tuple(faults.hosts))
        results = await recover_plans(faults.plans, scenario, factory=lambda t: SshExecutor(
            t.name, t.name, config=[str(lab.config.ssh_config)]))
        assert [(p.fault_id, ok) for p, ok, _ in results] == [(p.fault_id, True) for p in faults.plans], results
        assert faults.traces() == []
        for h in faults.hosts:
            assert_clean(lab, h)  # no leash file either: every guard was disarmed
        assert faults.sleeper_state() in ("S", "R")
        for h in faults.hosts:  # and no guard of ours still polls its deadline
            guards = await execs[h].run(Shell(f"ps -eo args= | grep -c '[l]eash-undo-{faults.tag}' || true"))
            assert guards.stdout.strip() == "0", h
    finally:
        await asyncio.gather(*(execs[p.target].run(a) for p in faults.plans for a in p.revert))
        faults.clean_up()
