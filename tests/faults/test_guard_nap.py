"""The leash guard itself, run by sh on this machine: it fires at its deadline, fires on a damaged deadline, exits
without reverting once disarmed — and looks at its deadline a few times per window, not once a second (at fleet
size those looks were ~1,500 processes a second on the lab's cores)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from controlroom.faults.leash import GUARD_NAP, leash_for
from controlroom.targets.base import Shell


def _guard(tmp_path: Path) -> tuple[list[str], Path, Path, Path]:
    flag = tmp_path / "reverted"
    script = leash_for("s/0@h1", (Shell(f"touch {flag}"),), False).arm(10).script
    guard = script.split("setsid -f sh -c '", 1)[1].split("' controlroom-leash", 1)[0]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "date").write_text(f'#!/bin/sh\necho x >> {tmp_path / "looks"}\nexec /bin/date "$@"\n')
    (shim / "date").chmod(0o755)
    deadline, pidfile = tmp_path / "deadline", tmp_path / "pid"
    return ["sh", "-c", guard, "controlroom-leash", str(deadline), str(pidfile)], deadline, flag, shim


def _run(argv: list[str], shim: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    return subprocess.run(argv, env=env, timeout=timeout, check=False, capture_output=True)


def test_the_guard_fires_at_its_deadline_after_a_few_looks(tmp_path: Path) -> None:
    argv, deadline, flag, shim = _guard(tmp_path)
    wait = GUARD_NAP + 2
    deadline.write_text(f"{int(time.time()) + wait}\n")
    started = time.monotonic()
    _run(argv, shim, timeout=wait + 10)
    took = time.monotonic() - started
    assert flag.exists() and not deadline.exists()
    assert wait - 1.0 <= took <= wait + 1.5, took  # fires as a once-a-second poll did
    looks = len((tmp_path / "looks").read_text().splitlines())
    assert looks <= 3, looks  # a once-a-second poll looked 7 times


@pytest.mark.parametrize("content", ["", "garbage\n", "12a\n"])
def test_a_damaged_deadline_fires_at_once(tmp_path: Path, content: str) -> None:
    argv, deadline, flag, shim = _guard(tmp_path)
    deadline.write_text(content)
    _run(argv, shim, timeout=10)
    assert flag.exists()


def test_a_disarmed_guard_exits_without_reverting(tmp_path: Path) -> None:
    argv, _deadline, flag, shim = _guard(tmp_path)
    _run(argv, shim, timeout=10)  # no deadline file: disarmed
    assert not flag.exists()
