"""The local executor: exit codes, captured output, timeouts that kill the whole process group."""

from __future__ import annotations

import asyncio
import os
import time

from controlroom.targets.base import HttpRequest, Shell
from controlroom.targets.local import LocalExecutor


async def test_exit_code_decides_ok_and_output_is_captured():
    ex = LocalExecutor("here")
    good = await ex.run(Shell("echo out; echo err >&2"))
    assert good.ok and good.status == 0
    assert good.stdout == "out\n" and good.stderr == "err\n"
    bad = await ex.run(Shell("echo broken >&2; exit 3"))
    assert not bad.ok and bad.status == 3
    assert bad.detail == "broken"


async def test_ok_codes_accept_a_declared_non_zero_status():
    result = await LocalExecutor("here").run(Shell("exit 2", ok_codes=(0, 2)))
    assert result.ok and result.status == 2


async def test_stdin_is_closed_so_a_reading_script_does_not_hang():
    result = await LocalExecutor("here").run(Shell("cat; echo done", timeout=5))
    assert result.ok and result.stdout == "done\n"


async def test_timeout_kills_the_script_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result = await LocalExecutor("here").run(Shell(f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.5))
    assert time.monotonic() - started < 5
    assert not result.ok and "timed out after 0.5s" in result.error
    child = int(pidfile.read_text())
    # The background sleep was in the script's process group, so it died with it.
    for _ in range(100):
        if not _alive(child):
            break
        await asyncio.sleep(0.02)
    assert not _alive(child)


async def test_other_action_kinds_are_refused_with_a_reason():
    result = await LocalExecutor("here").run(HttpRequest("GET", "http://127.0.0.1:1/"))
    assert not result.ok and "local target 'here' cannot run HttpRequest" in result.error


async def test_sudo_is_skipped_when_already_root():
    argv = LocalExecutor("here").argv(Shell("id -u", sudo=True))
    if os.geteuid() == 0:
        assert argv == ["sh", "-c", "id -u"]
    else:
        assert argv[:2] == ["sudo", "-n"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
