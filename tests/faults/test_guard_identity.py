"""A leash guard is known by its pid AND its start time: a recycled pid is never taken for it.

The case that matters: fault A's guard died (a reboot of its pid space, an OOM kill) and its pid now belongs to
fault B's guard. A's disarm must not kill B's guard (B's fault would lose its leash), and A's next arm must
start a guard of its own rather than take B's for it (A's fault would have no guard that reverts it). Before
the start time was kept, the check was "the pid's command line carries the guard's mark", which every guard's
does: both of these went wrong.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from controlroom.faults.leash import leash_for, safe_id
from controlroom.faults.plan import Leash
from controlroom.targets.base import Shell


def _sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20, check=False,
                          stdin=subprocess.DEVNULL)


def _state_dir() -> Path:
    if os.access("/run", os.W_OK):
        return Path("/run/controlroom")
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"controlroom-{os.getuid()}"


def _pidfile(fault_id: str) -> Path:
    return _state_dir() / f"leash-{safe_id(fault_id)}.pid"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _armed(fault_id: str, flag: Path) -> tuple[Leash, int]:
    leash = leash_for(fault_id, (Shell(f"touch {flag}"),), False)
    res = _sh(leash.arm(300).script)
    assert res.returncode == 0, res.stderr
    return leash, int(_pidfile(fault_id).read_text().split()[0])


def test_a_recycled_pid_held_by_another_guard_is_neither_killed_nor_taken_for_the_guard(tmp_path: Path) -> None:
    a_id, b_id = f"ident-a-{tmp_path.name}/0@h1", f"ident-b-{tmp_path.name}/0@h1"
    a_flag, b_flag = tmp_path / "a-reverted", tmp_path / "b-reverted"
    a, a_guard = _armed(a_id, a_flag)
    # Start times count clock ticks (10 ms): two guards armed back to back can share one, and a pid can never
    # come back within the tick its holder started in. B's guard starts a few ticks later, as a real recycled
    # pid's holder would (it cannot start before the process it replaces ended).
    time.sleep(0.05)
    b, b_guard = _armed(b_id, b_flag)
    assert _pidfile(a_id).read_text().split()[1] != _pidfile(b_id).read_text().split()[1]
    try:
        os.kill(a_guard, signal.SIGKILL)  # A's guard dies without a word; its pid file stays
        for _ in range(100):
            if not _alive(a_guard):
                break
            time.sleep(0.02)
        # ... and its pid comes back as B's guard: the same file, only the pid is now B's.
        words = _pidfile(a_id).read_text().split()
        _pidfile(a_id).write_text(" ".join([str(b_guard), *words[1:]]) + "\n")

        assert _sh(a.disarm.script).returncode == 0
        time.sleep(0.2)
        assert _alive(b_guard), "A's disarm killed B's guard"
        assert not _pidfile(a_id).exists()  # A's own files are gone all the same

        # Again, and this time A is armed anew: it must get a guard of its own.
        _pidfile(a_id).write_text(" ".join([str(b_guard), *words[1:]]) + "\n")
        assert _sh(a.arm(300).script).returncode == 0
        a_new = int(_pidfile(a_id).read_text().split()[0])
        assert a_new != b_guard, "A's arm took B's guard for its own: A's fault would have no guard"
        assert _alive(a_new) and _alive(b_guard)
    finally:
        for leash in (a, b):
            _sh(leash.disarm.script)
    assert not a_flag.exists() and not b_flag.exists()  # disarmed, not fired


def test_a_live_guard_is_still_found_renewed_and_killed_by_its_disarm(tmp_path: Path) -> None:
    fault_id = f"ident-c-{tmp_path.name}/0@h1"
    flag = tmp_path / "reverted"
    leash, guard = _armed(fault_id, flag)
    renewed = _sh(leash.renew(60).script)
    assert renewed.returncode == 0, renewed.stderr  # found: its pid and start time match
    assert _sh(leash.arm(60).script).returncode == 0
    assert int(_pidfile(fault_id).read_text().split()[0]) == guard  # re-arming kept the same guard
    assert _sh(leash.disarm.script).returncode == 0
    for _ in range(100):
        if not _alive(guard):
            break
        time.sleep(0.02)
    assert not _alive(guard) and not flag.exists()
    gone = _sh(leash.renew(60).script)
    assert gone.returncode != 0 and "not running" in gone.stderr
