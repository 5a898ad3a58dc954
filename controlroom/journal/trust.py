"""Whether a journal can be trusted: nobody but its owner (you, or root) can have written it.

`recover` rebuilds reverts from a journal and runs them — for a `command`
fault, shell written in the journal itself — so a journal another user could
edit or replace is a way to run their shell as you (often root). The rule, as
OpenSSH's StrictModes: the file and every directory above it belong to you or
root, and none is writable by group or others. A sticky directory (/tmp) is the
one exception for directories: others can add files there but cannot replace
or rename one of yours. Sessions refuse at start to write where `recover`
would later refuse to read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from controlroom.errors import UnsafePathError


def _trusted_owner(uid: int) -> bool:
    return uid in (os.getuid(), 0)


def _who(uid: int) -> str:
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def check_directories(directory: str | Path, what: str) -> None:
    """`directory` and each one above it: owned by you or root, not writable by others unless sticky."""
    d = Path(os.path.realpath(directory))
    for p in (d, *d.parents):
        try:
            st = os.stat(p)
        except OSError as err:
            raise UnsafePathError(f"{what}: cannot check {p}: {err.strerror}") from None
        mode = stat.S_IMODE(st.st_mode)
        if not _trusted_owner(st.st_uid):
            raise UnsafePathError(f"{what}: directory {p} belongs to {_who(st.st_uid)}, who could replace the "
                                  "journal; keep journals in a directory of yours")
        if mode & 0o022 and not mode & stat.S_ISVTX:
            raise UnsafePathError(f"{what}: directory {p} is writable by others (mode {mode:04o}), who could replace "
                                  f"the journal; chmod go-w {p}, or keep journals in a directory of yours")


def check_journal_for_writing(path: str | Path) -> None:
    """Before a session creates its journal: would `recover` trust a journal there?"""
    p = Path(path)
    check_directories(p.parent, f"{p}: the journal's directory is not safe")


def trusted_journal(path: str | Path) -> Path:
    """The journal's real path once it and its directories pass the rule; UnsafePathError otherwise."""
    given = Path(path)
    real = Path(os.path.realpath(given))
    check_directories(real.parent, f"{given}: recover will not run commands from this journal")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return real  # the reader says "cannot read journal" in its own words
        raise UnsafePathError(f"{given}: cannot open the journal: {err.strerror}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        if not _trusted_owner(st.st_uid):
            raise UnsafePathError(f"{given}: the journal belongs to {_who(st.st_uid)}, not to you or root; recover "
                                  "will not run commands from it (recover as its owner)")
        if mode & 0o022:
            raise UnsafePathError(f"{given}: the journal is writable by others (mode {mode:04o}); recover will not run "
                                  f"commands from it. If its content is yours: chmod go-w {given}")
    return real
