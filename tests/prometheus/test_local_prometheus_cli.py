"""`python -m controlroom.metrics.local_prometheus` ended by a signal stops its prometheus and removes its TSDB
(before, SIGTERM killed only the Python process: prometheus ran on, its temp dir stayed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlroom.metrics.local_prometheus import free_port
from tests.deps import require


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_prometheus_and_removes_its_temp_dir(sig: signal.Signals) -> None:
    require("prometheus")
    proc = subprocess.Popen([sys.executable, "-m", "controlroom.metrics.local_prometheus", "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = 0
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("prometheus on "), proc.stderr.read() if proc.stderr else ""
        [child] = _children(proc.pid)
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        tsdb = Path(next(a for a in argv if a.startswith(b"--storage.tsdb.path=")).split(b"=", 1)[1].decode())
        assert tsdb.parent.is_dir()
        proc.send_signal(sig)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "prometheus outlived the process that started it"
        assert not tsdb.parent.exists(), f"{tsdb.parent} was left behind"
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
