"""Process faults on this machine through the local executor: pause/resume, the leash, kill and restart checks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
from controlroom.faults.leash import safe_id
from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Action, ActionResult
from controlroom.targets.local import LocalExecutor

HERE = Target(name="here", kind="local")


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def sleeper(tmp_path: Path):
    proc = subprocess.Popen(["sleep", "60"])
    pidfile = tmp_path / "sleeper.pid"
    pidfile.write_text(f"{proc.pid}\n")
    yield proc, str(pidfile)
    proc.send_signal(signal.SIGCONT)
    proc.kill()
    proc.wait()


def _plan(kind: str, fault_id: str, duration: float | None = 5.0, **params: object) -> FaultPlan:
    return build_plan(FaultSpec(type=kind, target="here", params=dict(params)), HERE,
                      PlanContext(fault_id=fault_id, duration=duration))


async def _run(ex: LocalExecutor, actions: tuple[Action, ...]) -> ActionResult:
    result = ActionResult(ok=True)
    for action in actions:
        result = await ex.run(action)
        if not result.ok:
            return result
    return result


async def _wait_state(pid: int, want: tuple[str, ...], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _state(pid) in want:
            return True
        await asyncio.sleep(0.05)
    return _state(pid) in want


async def test_pause_stops_the_process_and_revert_resumes_it(sleeper, tmp_path):
    proc, pidfile = sleeper
    plan = _plan("process-pause", f"pause-{tmp_path.name}", pidfile=pidfile)
    ex = LocalExecutor("here")
    assert (await _run(ex, tuple(r.check for r in plan.requires))).ok
    assert (await _run(ex, plan.clobber_check)).ok
    assert (await _run(ex, plan.inject)).ok
    assert _state(proc.pid) == "T"  # inject returns once the process is really stopped
    failed = await _run(ex, plan.verify)
    assert not failed.ok and f"process {proc.pid} is still stopped" in failed.detail
    assert (await _run(ex, plan.revert)).ok
    assert (await _run(ex, plan.verify)).ok
    assert _state(proc.pid) != "T"  # SIGCONT wakes the process at once
    assert (await _run(ex, plan.revert)).ok  # idempotent


async def test_leash_resumes_a_paused_process_when_nobody_reverts(sleeper, tmp_path):
    proc, pidfile = sleeper
    plan = _plan("process-pause", f"leash-{tmp_path.name}", pidfile=pidfile)
    assert plan.leash is not None
    ex = LocalExecutor("here")
    armed = await ex.run(plan.leash.arm(1.0))
    assert armed.ok, armed.detail
    assert (await _run(ex, plan.inject)).ok
    assert _state(proc.pid) == "T"
    # The control room "dies" here: no revert, no disarm. The guard acts alone.
    assert await _wait_state(proc.pid, ("S", "R"), within=5.0)
    assert not _exists(_leash_files(plan.fault_id)[0])


async def test_disarmed_leash_does_nothing_and_renewal_moves_the_deadline(sleeper, tmp_path):
    proc, pidfile = sleeper
    plan = _plan("process-pause", f"disarm-{tmp_path.name}", pidfile=pidfile)
    assert plan.leash is not None
    ex = LocalExecutor("here")
    guard_pidfile, deadline_file = _leash_files(plan.fault_id)
    assert (await ex.run(plan.leash.arm(30.0))).ok
    guard = _read_pid(guard_pidfile)
    first_deadline = _read_pid(deadline_file)
    assert (await ex.run(plan.leash.arm(300.0))).ok  # renewal: one write, the same guard keeps watching
    assert _read_pid(guard_pidfile) == guard and _read_pid(deadline_file) >= first_deadline + 269
    assert (await ex.run(plan.leash.disarm)).ok
    assert not _exists(guard_pidfile) and not _exists(deadline_file)
    assert await _gone(guard)
    assert (await _run(ex, plan.inject)).ok
    await asyncio.sleep(1.2)
    assert _state(proc.pid) == "T"  # nothing resumed it: the guard was disarmed
    assert (await _run(ex, plan.revert)).ok
    assert (await ex.run(plan.leash.disarm)).ok  # disarming twice is fine


async def test_pause_refuses_a_pidfile_that_holds_no_pid(tmp_path):
    bogus = tmp_path / "bogus.pid"
    ex = LocalExecutor("here")
    for content in ("-1\n", "1\n", "12 13\n", ""):
        bogus.write_text(content)
        plan = _plan("process-pause", "bogus", pidfile=str(bogus))
        result = await _run(ex, plan.inject)
        assert not result.ok, content
        assert result.detail in (f"no pid in {bogus}", f"refusing pid {content.strip()} from {bogus}"), result.detail
        assert (await _run(ex, plan.revert)).ok  # nothing to resume is not a failure
    missing = _plan("process-pause", "missing", pidfile=str(tmp_path / "nope.pid"))
    result = await _run(ex, tuple(r.check for r in missing.requires))
    assert not result.ok
    bogus.write_text("999999999\n")
    result = await _run(ex, tuple(r.check for r in plan.requires))
    assert result.detail == f"here: process 999999999 from {bogus} is not running"


def test_pidfile_paths_that_could_smuggle_shell_are_refused():
    ft = catalogue()["process-pause"]
    for path in ("/run/x.pid; rm -rf /", "/run/$(id).pid", "run/x.pid", "/run/../etc/x", "/run/x pid"):
        _, problems = parse_params(ft, {"pidfile": path})
        assert problems and "invalid path" in problems[0][1], path
    with pytest.raises(ValueError, match="invalid path"):
        _plan("process-pause", "x", pidfile="/tmp/a;reboot")
    parsed, problems = parse_params(ft, {"pidfile": "/run/api.pid"})
    assert parsed == {"pidfile": "/run/api.pid"} and not problems


@pytest.fixture
def supervised(tmp_path: Path):
    """A tiny supervisor: restarts `sleep` whenever it dies, writing the new pid to the pidfile."""
    pidfile = tmp_path / "svc.pid"
    script = f"while :; do sleep 60 & echo $! > {pidfile}; wait $!; done"
    sup = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 2
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield str(pidfile)
    os.killpg(sup.pid, signal.SIGKILL)
    sup.wait()


async def test_kill_then_check_the_process_runs_again_under_a_new_pid(supervised, tmp_path):
    plan = _plan("process-kill", f"kill-{tmp_path.name}", duration=None, pidfile=supervised, restart_check="3s")
    assert not plan.revertible and plan.revert == () and plan.leash is None
    old = _read_pid(supervised)
    ex = LocalExecutor("here")
    assert (await _run(ex, plan.inject)).ok
    assert (await _run(ex, plan.verify)).ok
    assert _read_pid(supervised) != old


async def test_kill_check_fails_when_nothing_restarts_the_process(sleeper, tmp_path):
    proc, pidfile = sleeper
    plan = _plan("process-kill", f"dead-{tmp_path.name}", duration=None, pidfile=pidfile, restart_check="1s")
    ex = LocalExecutor("here")
    assert (await _run(ex, plan.inject)).ok
    proc.wait(timeout=2)
    result = await _run(ex, plan.verify)
    assert not result.ok and "is not running again after 1s" in result.detail
    killed = _leash_files(plan.fault_id)[0].replace("/leash-", "/killed-")
    assert _read_pid(killed) == proc.pid  # kept: the unconfirmed kill names the pid it killed
    os.remove(killed)


def _running(pid: int) -> bool:
    try:
        return _state(pid) != "Z"
    except FileNotFoundError:
        return False


def _read_pid(path: str) -> int:
    """The number a pid or deadline file starts with (a leash pid file also holds the guard's start time)."""
    with open(path) as f:
        return int(f.read().split()[0])


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _leash_files(fault_id: str) -> tuple[str, str]:
    """Where the host leash keeps its guard pid and deadline (see faults.leash.STATE_DIR)."""
    base = "/run/controlroom" if os.access("/run", os.W_OK) else f"{os.environ.get('TMPDIR', '/tmp')}/controlroom-{os.getuid()}"
    return f"{base}/leash-{safe_id(fault_id)}.pid", f"{base}/leash-{safe_id(fault_id)}.deadline"


async def _gone(pid: int) -> bool:
    for _ in range(50):
        if not _running(pid):
            return True
        await asyncio.sleep(0.02)
    return False
