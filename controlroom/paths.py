"""Where controlroom keeps its files, and the one check that a directory of ours is really ours.

The runtime directory (control sockets, the session registry) and the journal
directory hold what `stop` trusts and what `recover` turns into commands, so
another local user must never own, plant or replace anything in them. Each is
created exclusively with mode 0700, or accepted only when `private_dir` finds,
on the directory itself (no symlink followed), that it is ours and nobody
else can write in it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from controlroom.errors import UnsafePathError

APP_DIR_NAME = "controlroom"
JOURNALS_DIR_NAME = "journals"

_FIX_RUNTIME = "set XDG_RUNTIME_DIR (or CONTROLROOM_RUNTIME_DIR) to a directory of your own, or remove it"


def data_home() -> Path:
    """`$XDG_DATA_HOME`, or `~/.local/share` when it is unset or not absolute (as the XDG spec says)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".local" / "share"


def journal_dir() -> Path:
    """The default directory sessions write their journals to, and `history` reads them from.

    A function, not a constant, so a changed `$XDG_DATA_HOME` (tests, a user's shell) is honoured.
    """
    return data_home() / APP_DIR_NAME / JOURNALS_DIR_NAME


# Aliases under the names callers are likely to reach for.
default_journal_dir = journal_dir
data_dir = data_home


def runtime_dir() -> Path:
    """Per-user folder for running sessions' registry files and control sockets.

    Without `$XDG_RUNTIME_DIR` it sits in /tmp, where another user can create it first: every user
    of it goes through `private_dir`, which refuses a directory that is not ours.
    """
    override = os.environ.get("CONTROLROOM_RUNTIME_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR_NAME
    return Path(f"/tmp/controlroom-{os.getuid()}")


def sessions_dir() -> Path:
    """Where a running session registers itself (`<id>.json`) and listens (`<id>.sock`)."""
    return runtime_dir() / "sessions"


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def private_dir(path: Path, what: str, *, create: bool = True, fix: str = "remove it") -> Path | None:
    """`path` as a directory only we can write in: created 0700, or checked and refused.

    Created with one `mkdir` (exclusive: it fails if anything is already there), its parents 0700 too.
    What exists is opened with O_NOFOLLOW|O_DIRECTORY and checked on that descriptor (so the check and
    the answer are about the same directory): not a symlink, owned by us, writable by nobody else.
    A directory of ours that others can merely read (an older controlroom made it 0755) is
    tightened to 0700: nobody else could have written in it. Returns None when `create` is False and
    nothing is there. Raises UnsafePathError (one line, exit 2) otherwise.
    """
    why = "it vanished"
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as err:
            why = err.strerror or str(err)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            return None
        raise UnsafePathError(f"{what} {path} cannot be created ({why}); {fix}") from None
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):  # O_DIRECTORY|O_NOFOLLOW on a symlink gives either
            kind = "a symlink" if os.path.islink(path) else "not a directory"
            raise UnsafePathError(f"{what} {path} is {kind}, not a directory of yours; {fix}") from None
        raise UnsafePathError(f"{what} {path}: {err.strerror}; {fix}") from None
    try:
        st = os.fstat(fd)
        me = os.getuid()
        if st.st_uid != me:
            raise UnsafePathError(f"{what} {path} belongs to {_owner(st.st_uid)}, not to you ({_owner(me)}); "
                                  f"another user may have planted it: {fix}")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o022:
            raise UnsafePathError(f"{what} {path} is writable by others (mode {mode:04o}); anything in it may "
                                  f"have been planted: {fix}")
        if mode != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


def private_runtime_dir(*, create: bool = True) -> Path | None:
    return private_dir(runtime_dir(), "runtime directory", create=create, fix=_FIX_RUNTIME)


def private_sessions_dir(*, create: bool = True) -> Path | None:
    """The sessions directory, after its runtime directory passed the same check; None if absent and not created."""
    if private_runtime_dir(create=create) is None:
        return None
    return private_dir(sessions_dir(), "sessions directory", create=create, fix=_FIX_RUNTIME)


def private_journal_dir() -> Path:
    d = private_dir(journal_dir(), "journal directory",
                    fix="set XDG_DATA_HOME to a directory of your own, give --journal, or remove it")
    assert d is not None
    return d
