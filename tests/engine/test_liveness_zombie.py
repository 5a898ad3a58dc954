"""A room killed with SIGKILL is dead even while its parent has not collected it (a zombie): `recover` must not
refuse it as "still running", nor `stop` signal it. Here this test is the parent that does not collect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controlroom.engine.liveness import same_process, signalable, start_time


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_killed_process_not_yet_collected_is_not_running() -> None:
    # A process that looks like a session to `signalable` (`python -m controlroom run …`), never started for real.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "controlroom", "run"])
    try:
        started = start_time(proc.pid)
        assert started is not None and same_process(proc.pid, started)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _state(proc.pid) != "Z" and time.monotonic() < deadline:  # not collected: it stays a zombie
            time.sleep(0.01)
        assert _state(proc.pid) == "Z"
        assert start_time(proc.pid) is None
        assert not same_process(proc.pid, started)
        assert signalable(proc.pid, started) is not None  # `stop` will not signal it
    finally:
        proc.kill()
        proc.wait()
