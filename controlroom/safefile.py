"""Writing a file whole, so that neither a reader nor another local user can get in between.

The data goes to a temp file in the target's own directory, created with
O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name (a planted file or
symlink, dangling or not, makes the open fail instead of redirecting the
write), then renamed over the target. rename() replaces a directory entry and
never follows a symlink at the target name, so the write lands exactly there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomically(path: str | Path, data: str | bytes, *, mode: int = 0o666) -> None:
    """Replace `path` with `data` in one rename; `mode` is filtered by the umask, as for any new file.

    Raises OSError (the caller words it for the user); nothing is left behind on failure.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    for _ in range(16):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, _FLAGS, mode)
            break
        except FileExistsError:  # a name someone planted (or a one-in-2^64 clash): take another
            continue
    else:
        raise FileExistsError(f"cannot create a temp file beside {target}")
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
