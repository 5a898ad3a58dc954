"""Child processes of the demo and the lab that must not outlive the process that started them, and the
foreground side of such a process: served until told to stop, its mistakes one line on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator

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


class StandInProcess:
    """A stand-in in a process of its own (`python -m controlroom.lab.NAME`): its `start()` sets `_proc` from
    `start_stand_in`; `stop()` ends its whole process group, once, and does nothing before a start."""

    _proc: asyncio.subprocess.Process | None = None

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            await stop_group(proc)


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


async def until_stopped() -> None:
    """Returns once SIGTERM (our `stop_group`, a service manager) or SIGINT (Ctrl-C) arrives, so that the
    caller's `finally:` closes its listeners: a stand-in or the demo shop serving in the foreground."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@contextlib.contextmanager
def served_from_the_command_line(name: str, host: str, port: int) -> Iterator[None]:
    """The `main()` of a server process (`python -m controlroom.lab.gremlin`, ...): a bad argument (StandInError)
    or an address it cannot listen on is one line on stderr, prefixed with `name`, and exit 2, never a
    traceback; a Ctrl-C before the signal handlers are in ends it quietly."""
    try:
        yield
    except KeyboardInterrupt:
        pass
    except StandInError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except OSError as err:
        print(f"{name}: cannot listen on {host}:{port}: {err.strerror or err}; try --port 0", file=sys.stderr)
        sys.exit(2)
