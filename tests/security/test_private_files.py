"""What another local user could plant, refused without needing one: the fast-set halves of tests/security.

The root tests (test_files.py, test_runtime_dir.py) act as a real second user. These reach the same checks
without root: a symlink planted at the temp name a write will use, a directory the group can write, a
directory or a process that (as far as the code can tell) belongs to someone else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controlroom import safefile
from controlroom.engine import liveness
from controlroom.errors import UnsafePathError
from controlroom.paths import private_dir


def test_a_symlink_planted_at_the_temp_name_is_never_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "report.html"
    names = iter(["0" * 16, "1" * 16])  # the first name a write tries is the one the attacker guessed
    monkeypatch.setattr(safefile.secrets, "token_hex", lambda _n: next(names))
    (tmp_path / f".{target.name}.{'0' * 16}.tmp").symlink_to(victim)
    safefile.write_atomically(target, "report")
    assert victim.read_text() == "precious"
    assert target.read_text() == "report" and not target.is_symlink()


def test_a_directory_the_group_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o770)
    with pytest.raises(UnsafePathError, match="writable by others"):
        private_dir(shared, "runtime directory")
    assert os.stat(shared).st_mode & 0o777 == 0o770  # refused, not silently tightened


def test_a_directory_someone_else_owns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 4242)  # as seen by another user, the directory is not theirs
    with pytest.raises(UnsafePathError, match=f"belongs to uid {me}"):
        private_dir(theirs, "runtime directory", create=False)


def test_stop_never_signals_a_process_of_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    pid = os.getpid()
    monkeypatch.setattr(liveness, "process_uid", lambda _pid: os.getuid() + 4242)
    why = liveness.signalable(pid, liveness.start_time(pid))
    assert why is not None and f"belongs to uid {os.getuid() + 4242}" in why
