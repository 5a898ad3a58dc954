"""The local executor: runs `Shell` actions on this machine with `sh -c`, for `local` targets.

Each script runs in its own session (process group), so a timeout kills the
whole group — the script and anything it forked in the foreground — rather
than leaving children behind. Detached guards (leashes) start their own
session with `setsid` and are deliberately out of reach of that kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from controlroom.targets.base import Action, ActionResult, Shell


def _is_root() -> bool:
    return os.geteuid() == 0


class LocalExecutor:
    """Runs shell actions as child processes of the control room."""

    def __init__(self, target: str, shell: str = "sh") -> None:
        self.target = target
        self._shell = shell

    def argv(self, action: Shell) -> list[str]:
        """The argv a shell action runs as; `sudo -n` only when asked for and we are not root already."""
        argv = [self._shell, "-c", action.script]
        if action.sudo and not _is_root():
            # -n: never prompt — a password prompt would hang a game day.
            argv = ["sudo", "-n", *argv]
        return argv

    async def run(self, action: Action) -> ActionResult:
        if not isinstance(action, Shell):
            kind = type(action).__name__
            return ActionResult(ok=False, error=f"local target {self.target!r} cannot run {kind} actions ({action.describe()})")
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(action),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return ActionResult(ok=False, error=f"cannot start a shell on {self.target!r}: {exc}",
                                elapsed=time.monotonic() - started)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=action.timeout)
        except TimeoutError:
            await self._kill_group(proc)
            return ActionResult(
                ok=False,
                elapsed=time.monotonic() - started,
                error=f"timed out after {action.timeout:g}s on {self.target!r}: {_short(action.script)}",
                timed_out=True,
            )
        except asyncio.CancelledError:
            # The engine gave up on this action (e.g. an emergency stop): do not leave it running.
            await self._kill_group(proc)
            raise
        code = proc.returncode
        return ActionResult(
            ok=code in action.ok_codes,
            status=code,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            elapsed=time.monotonic() - started,
        )

    async def _kill_group(self, proc: asyncio.subprocess.Process) -> None:
        # The child is a session leader, so its pid is the process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        # Reap it; pipes close once every process of the group is gone.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.communicate(), timeout=2.0)

    async def close(self) -> None:
        return None


def _short(script: str, limit: int = 80) -> str:
    one_line = " ".join(script.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
