"""The room's terminal driver: Textual's own, except that a terminal that is gone does not take the room with it.

When the terminal hangs up (a closed tmux window, a dropped SSH session), every
write to it fails with EIO until `run_session` points the descriptors at
/dev/null. A frame Textual's output thread writes in between would kill that
thread, and the app would then block forever on its full output queue — before
the rollback is journaled. Here such writes are dropped instead.
"""

from __future__ import annotations

import errno
from typing import IO, Any

from textual.driver import Driver

GONE = frozenset({errno.EIO, errno.EPIPE, errno.ENXIO})


class _TerminalFile:
    """A file-like that drops writes to a terminal that is gone, and passes everything else through."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except OSError as err:
            if err.errno not in GONE:
                raise
            return len(text)

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as err:
            if err.errno not in GONE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def hangup_tolerant(base: type[Driver]) -> type[Driver]:
    """`base` (Textual's LinuxDriver) with its output file wrapped; any other driver as it is."""
    from textual.drivers.linux_driver import LinuxDriver

    if not issubclass(base, LinuxDriver):
        return base

    # A subclass of the driver Textual chose at run time; mypy accepts only static base classes.
    class RoomDriver(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The driver's own (private) output file, set by LinuxDriver.__init__; its writer thread reads it.
            self.__dict__["_file"] = _TerminalFile(self.__dict__["_file"])

    return RoomDriver
