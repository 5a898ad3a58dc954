"""Start `controlroom serve` as a user would, and look at the processes it started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

CONTROLROOM = [sys.executable, "-m", "controlroom"]


class Served:
    """`controlroom serve ARGS --port 0` in its own process (group); `url` once it listens."""

    def __init__(self, *args: str, log: Path, env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen([*CONTROLROOM, "serve", *args], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        self.url = ""
        while not self.url:
            m = re.search(r"serving (http://\S+/)", self.output())
            if m:
                self.url = m.group(1)
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"serve never listened (exit {self.proc.returncode}):\n{self.output()}")
            else:
                time.sleep(0.05)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def views(self) -> list[int]:
        """Pids of the spectator views the server started (its children)."""
        return children_of(self.proc.pid)

    def signal(self, sig: int, timeout: float = 15.0) -> int:
        """Send `sig`; the server's exit status once it has exited (bounded)."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """End the server; then, so that a failed test leaves nothing behind for the next, SIGKILL any view
        that outlived it (the assertions about views are made before this, never through it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid in views_of_server(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.log.close()


def views_of_server(server_pid: int) -> list[int]:
    """Spectator views started by that server, wherever they were reparented (by their command line)."""
    mark = f"--server-pid\0{server_pid}\0".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if mark in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
    return out


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and st[1] == pid and st[0] != "Z":
            out.append(int(entry.name))
    return sorted(out)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and st[2] == pgid and st[0] != "Z":
            out.append(int(entry.name))
    return sorted(out)


def pgid_of(pid: int) -> int | None:
    st = _stat(pid)
    return None if st is None else st[2]


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} (after {timeout:g}s)")
