"""Another local user, for real: a throwaway account made for the test (root only), and ways to act as it.

The attacks in issue 9 §5-§6 are things *another user on the same machine* does: pre-create the runtime
directory, plant a symlink, edit a journal, write a pidfile. These tests create such a user with `useradd`,
act as it with `setpriv` (real uid/gid switched, no supplementary groups), and remove it afterwards. The
other user runs the system's python3 (/root, where the project's interpreter lives, is closed to it).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import shop  # noqa: F401  (the sample shop fixture)
from tests.deps import MISSING, skip_reason

SYSTEM_PYTHON = "/usr/bin/python3"


def _skip_reason() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return f"{MISSING}: {SYSTEM_PYTHON} (the other user's interpreter; Debian: python3)"
    return skip_reason("useradd", "userdel", "setpriv", "unshare", root="creates a throwaway local user to act as another user")


needs_root = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    def argv(self, *cmd: str) -> list[str]:
        """`cmd` run as this user: real and effective ids switched, no supplementary groups."""
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *cmd]

    def run(self, *cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*cmd), capture_output=True, text=True, timeout=30, check=False,
                              **kw)  # type: ignore[call-overload, no-any-return]

    def python(self, code: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(SYSTEM_PYTHON, "-c", code, *args, **kw)


def _retry(argv: list[str]) -> None:
    """useradd/userdel lock /etc/passwd; another test run may hold it a moment."""
    for _ in range(50):
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        if res.returncode == 0:
            return
        if "lock" not in res.stderr:
            raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
        time.sleep(0.1)
    raise RuntimeError(f"{' '.join(argv)}: /etc/passwd stayed locked")


@pytest.fixture(scope="module")
def other_user() -> Iterator[User]:
    name = f"crt-{uuid.uuid4().hex[:10]}"
    _retry(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name])
    try:
        pw = pwd.getpwnam(name)
        yield User(name, pw.pw_uid, pw.pw_gid)
    finally:
        _retry(["userdel", name])


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory like /tmp (root's, mode 1777) that both users reach: the tests' own tmp_path is 0700."""
    d = Path(tempfile.mkdtemp(prefix="crsec-", dir="/tmp"))
    os.chmod(d, 0o1777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat (read here, not through the code under test)."""
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    return int(raw[raw.rfind(b")") + 2:].split()[19])


def with_private_tmp(fake_tmp: Path, argv: list[str]) -> list[str]:
    """`argv` in its own mount namespace where `fake_tmp` is mounted on /tmp: the real /tmp/controlroom-0
    of this machine (other test runs use it) is never touched, yet the code under test sees /tmp."""
    # A checkout (and its .venv) may itself live under /tmp (a CI clone): it is bound into the fake /tmp at the
    # same path first, so the code under test and its interpreter are still there once /tmp is replaced.
    keep = sorted({str(p) for p in (Path(__file__).resolve().parents[2], Path(sys.prefix).resolve())
                   if Path("/tmp") in p.parents})
    binds = "".join(f'mkdir -p "$0{k[len("/tmp"):]}" && mount --bind {shlex.quote(k)} "$0{k[len("/tmp"):]}" && '
                    for k in keep)
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            f'{binds}mount --rbind "$0" /tmp && exec "$@"', str(fake_tmp), *argv]
