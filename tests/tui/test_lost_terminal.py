"""Losing the facilitator's terminal is an emergency stop: SIGHUP (tmux gone) and SIGTERM roll back, then exit.

The fault is a `command` fault on this machine that leaves a file: no root needed,
and whether it is still there is plain to see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controlroom.journal.reader import read_journal
from tests.local_mark import mark_scenario
from tests.tui.tmux_kit import Tmux, needs_tmux

CONTROLROOM = [sys.executable, "-m", "controlroom"]

def _setup(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    scenario, mark = mark_scenario(tmp_path, "local-mark",
                                   "a mark on this machine is reverted whatever happens to the terminal",
                                   step="mark", title="leave a mark", duration="60s")
    env = {"CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"], "XDG_DATA_HOME": str(tmp_path)}
    return scenario, tmp_path / "j.jsonl", mark, env


def _wait(cond, seconds: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not cond():
        assert time.monotonic() - started < seconds, f"{what} within {seconds}s"
        time.sleep(0.05)
    return time.monotonic() - started


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone too: it ran its last instruction (its parent, the pane's shell, may be gone).
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _assert_stopped_by(journal: Path, signame: str) -> None:
    events = read_journal(journal).events
    types = [e.type for e in events]
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["source"] == "signal" and signame in stop.data["reason"]
    assert "rollback-started" in types and types[-1] == "session-ended"
    assert types.index("rollback-started") < types.index("fault-reverted") < types.index("rollback-finished")
    reverted = next(e for e in events if e.type == "fault-reverted")
    assert reverted.data["verified"] is True
    ended = events[-1].data
    assert (ended["outcome"], ended["exit_code"]) == ("aborted", 1)


@needs_tmux
def test_closing_the_tmux_server_under_the_tui_rolls_back_within_3s(tmp_path: Path) -> None:
    scenario, journal, mark, env = _setup(tmp_path)
    room = Tmux([*CONTROLROOM, "run", "--journal", str(journal), str(scenario)], env=env)
    try:
        _wait(mark.exists, 60, "the fault landed")
        room.wait_for("FAULTED")
    finally:
        room.close()  # tmux kill-server: the terminal is gone, the room gets SIGHUP
    took = _wait(lambda: not mark.exists(), 3.0, "the fault reverted")
    pid = int(read_journal(journal).header["pid"])
    _wait(lambda: _pid_gone(pid), 10.0, "the room exited")
    _assert_stopped_by(journal, "SIGHUP")
    assert took < 3.0


@needs_tmux
def test_sigterm_to_the_tui_rolls_back_and_ends_it(tmp_path: Path) -> None:
    scenario, journal, mark, env = _setup(tmp_path)
    room = Tmux([*CONTROLROOM, "run", "--journal", str(journal), str(scenario)], env=env)
    try:
        _wait(mark.exists, 60, "the fault landed")
        room.wait_for("FAULTED")
        os.kill(int(read_journal(journal).header["pid"]), signal.SIGTERM)
        room.wait_for("EXITED=1", timeout=15)  # the room ends by itself: nobody is asked to press q
    finally:
        room.close()
    assert not mark.exists()
    _assert_stopped_by(journal, "SIGTERM")


def test_sighup_to_a_headless_run_rolls_back_within_3s(tmp_path: Path) -> None:
    scenario, journal, mark, env = _setup(tmp_path)
    proc = subprocess.Popen([*CONTROLROOM, "run", "--headless", "--yes", "--journal", str(journal), str(scenario)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(mark.exists, 60, "the fault landed")
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as a dead terminal: every later write to stdout or stderr fails (EPIPE)
        proc.stderr.close()
        proc.send_signal(signal.SIGHUP)
        took = _wait(lambda: not mark.exists(), 3.0, "the fault reverted")
        assert proc.wait(timeout=15) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_stopped_by(journal, "SIGHUP")
    assert took < 3.0
