"""Process faults over SSH on a lab host: the same command forms as locally, and a leash that outlives the link."""

from __future__ import annotations

import asyncio

import pytest

from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.lab.netns import Lab
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell
from controlroom.targets.ssh import SshExecutor
from tests.lab.fixtures import needs_lab

pytestmark = [pytest.mark.root, needs_lab]


def _executor(lab: Lab, host: str) -> SshExecutor:
    return SshExecutor(host, host, config=[str(lab.config.ssh_config)])


async def _state(ex: SshExecutor, pidfile: str) -> str:
    res = await ex.run(Shell(f"""sed 's/^.*) //' /proc/$(cat {pidfile})/stat | cut -d' ' -f1"""))
    assert res.ok, res.detail
    return res.stdout.strip()


async def test_pause_over_ssh_is_resumed_by_its_leash_after_the_link_is_gone(lab: Lab, tmp_path):
    host = "h3"
    pidfile = f"/tmp/controlroom-test-{tmp_path.name}.pid"
    plan = build_plan(FaultSpec("process-pause", host, {"pidfile": pidfile}), Target(host, "ssh", ssh=host),
                      PlanContext(fault_id=f"ssh-pause-{tmp_path.name}", duration=1.0))
    assert plan.leash is not None
    ex = _executor(lab, host)
    start = (f"setsid -f sh -c 'echo $$ > {pidfile}; exec sleep 60' </dev/null >/dev/null 2>&1; "
             f"i=0; while [ ! -s {pidfile} ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done")
    try:
        assert (await ex.run(Shell(start))).ok
        for req in plan.requires:
            assert (await ex.run(req.check)).ok, req.message
        armed = await ex.run(plan.leash.arm(2.0))
        assert armed.ok, armed.detail
        assert (await ex.run(plan.inject[0])).ok
        assert await _state(ex, pidfile) == "T"
    finally:
        await ex.close()  # the control room is gone: nobody reverts, nobody disarms
    again = _executor(lab, host)
    try:
        for _ in range(50):  # the guard checks its deadline once a second
            if (await again.run(plan.verify[0])).ok:
                break
            await asyncio.sleep(0.1)
        assert await _state(again, pidfile) in ("S", "R")
    finally:
        await again.run(Shell(f"kill -KILL $(cat {pidfile}); rm -f {pidfile}"))
        await again.close()
