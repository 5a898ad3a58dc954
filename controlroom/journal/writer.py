"""Append-only journal writer: one JSON line per event, flushed and fsync'd before the caller goes on.

A journal that cannot be created, or whose header cannot be written *and*
fsync'd, is refused with a `JournalError` before the session does anything.
Later write errors (ENOSPC, EIO) are raised as `OSError` to the session, which
treats them as a stop condition (see `Session.emit`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from controlroom.errors import JournalError
from controlroom.journal.events import FORMAT, FORMAT_VERSION, Event
from controlroom.journal.trust import check_journal_for_writing

MIN_FREE_BYTES = 1024 * 1024  # what a journal needs free at the start (a long session writes a few MB)


class JournalWriter:
    """Writes the header once, then events. `fsync=False` only for benchmarks comparing the cost."""

    def __init__(self, path: str | Path, header: dict[str, Any], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        try:
            # 0600 in a directory only its owner (or root) can write: other users can neither read a live
            # journal nor edit what `recover` later turns into commands. O_EXCL|O_NOFOLLOW: never a planted file.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            check_journal_for_writing(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise JournalError(f"{self.path}: journal already exists; choose another --journal path") from None
        except OSError as err:
            raise JournalError(f"{self.path}: cannot create journal: {err.strerror}") from None
        doc = {"format": FORMAT, "version": FORMAT_VERSION, **header}
        try:
            self._check_free_space()
            self._write_line(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str), sync=True)
        except OSError as err:
            # Ours (O_EXCL): a journal that cannot hold its header is removed, and nothing starts.
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise JournalError(f"{self.path}: cannot write the journal: {err.strerror or err}; "
                               "free some space or choose another --journal path") from None

    def _check_free_space(self) -> None:
        """A journal on a nearly full filesystem would break mid-session: refuse it at the start instead."""
        try:
            st = os.fstatvfs(self._fd)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if self._fsync and free < MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"only {free // 1024} KiB free, at least {MIN_FREE_BYTES // 1024} KiB needed")

    def _write_line(self, line: str, sync: bool = True) -> None:
        data = (line + "\n").encode("utf-8")
        # One write() per line on an O_APPEND fd: a crash tears at most this line.
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])
        if self._fsync and sync:
            os.fsync(self._fd)

    def append(self, event: Event, *, sync: bool = True) -> None:
        """Write one event; `sync=False` defers the fsync to the next synced append or `sync()`."""
        self._write_line(event.to_json(), sync)

    def sync(self) -> None:
        if self._fsync and self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):  # EIO on close: every line that mattered was fsync'd already
                os.close(fd)
