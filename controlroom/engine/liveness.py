"""Is a recorded session still running? A pid alone cannot say: pids are reused.

A session records its pid *and* its process start time (field 22 of
/proc/PID/stat, clock ticks since boot) in the registry and the journal header.
`status`, `stop` and `recover` all ask `same_process`, so they agree: a pid now
held by another program is a crashed session (recover it), never a live one
(which would make `recover` refuse and `stop` wait on a socket nobody serves).
Before `stop` signals a pid, `signalable` also checks the process is ours and
is a controlroom session.
"""

from __future__ import annotations

import os
from pathlib import Path

_SESSION_COMMANDS = frozenset({"run", "demo"})
_MODULES = frozenset({"controlroom", "controlroom.cli", "controlroom.__main__"})


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when there is no such process.

    A zombie (state Z: it has exited, its parent has not collected it yet) or a dead task (X) is no process:
    a room killed with SIGKILL stays a zombie for as long as whatever started it does not wait for it (a
    wrapper script, a shell with the room in the background), and taken for alive it made `recover` refuse
    ("still running") and `stop` signal a process that can no longer act.
    """
    if pid <= 0:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ")": the fields after the LAST ")" are unambiguous.
    rest = raw[raw.rfind(b")") + 2:].split()
    if not rest or rest[0] in (b"Z", b"X"):  # field 3, the state
        return None
    try:
        return int(rest[19])  # field 22; `rest` starts at field 3
    except (IndexError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode("utf-8", errors="replace") for w in raw.split(b"\0") if w]


def is_session_cmdline(argv: list[str]) -> bool:
    """`controlroom run|demo ...`: the console script (argv 0, or 1 after its interpreter) or `python -m controlroom`."""
    for i, word in enumerate(argv):
        as_module = i > 0 and argv[i - 1] == "-m" and word in _MODULES
        as_script = i <= 1 and word.rsplit("/", 1)[-1] == "controlroom"
        if as_module or as_script:
            return i + 1 < len(argv) and argv[i + 1] in _SESSION_COMMANDS
    return False


def process_uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def same_process(pid: object, started: object) -> bool:
    """True only while `pid` is still the process that recorded `started` (its start time).

    Records from before start times were kept (`started` None) fall back to the pid plus a command
    line that is a controlroom session, which a recycled pid is very unlikely to have.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return False
    now = start_time(pid)
    if now is None:
        return False
    if isinstance(started, int) and not isinstance(started, bool):
        return now == started
    return is_session_cmdline(cmdline(pid))


def signalable(pid: object, started: object) -> str | None:
    """None when `pid` may be sent SIGTERM as the recorded session; else why not, in one line."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return f"the recorded pid {pid!r} is not a process id"
    if not same_process(pid, started):
        return f"pid {pid} is no longer the session's process (it ended, or the pid was reused)"
    uid = process_uid(pid)
    if uid != os.getuid():
        return f"pid {pid} belongs to uid {uid}, not to you (uid {os.getuid()})"
    if not is_session_cmdline(cmdline(pid)):
        return f"pid {pid} is not a controlroom session ({' '.join(cmdline(pid))[:80]!r})"
    return None
