"""Child processes of the demo and the lab that must not outlive the process that started them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal

from controlroom.errors import ControlroomError


def die_with_parent() -> None:
    """`preexec_fn`: the child gets SIGTERM when its parent dies, however it dies (Linux PR_SET_PDEATHSIG).

    The demo's shop runs in its own session so a Ctrl-C in the terminal reaches only the control room
    (which then rolls back through the shop); this keeps a SIGKILLed or hung-up control room from
    leaving the shop behind. Elsewhere than Linux it does nothing.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class StandInError(ControlroomError):
    """A stand-in (Toxiproxy, Gremlin) could not start: port in use, a bad argument."""


async def start_stand_in(name: str, argv: list[str], ready: re.Pattern[str], where: str, timeout: float,
                         env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, re.Match[str]]:
    """Run a stand-in in a process group of its own that dies with us, and wait for its first line to match
    `ready` (it prints where it listens once it does). On a timeout or another first line the group is
    stopped and StandInError names `where` it was asked to listen."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, start_new_session=True,
        preexec_fn=die_with_parent, env=env)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    except TimeoutError:
        await stop_group(proc)
        raise StandInError(f"the {name} stand-in did not start within {timeout:g}s") from None
    match = ready.search(line.decode())
    if not match:
        await stop_group(proc)
        raise StandInError(f"the {name} stand-in did not start on {where} (port in use?)")
    return proc, match


async def stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the child's process group, SIGKILL if it is still there 5 s later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
            return
        except TimeoutError:
            continue
