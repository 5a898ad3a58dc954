"""The exceptions a user can cause, in one place; the CLI turns them into one line and exit 2.

Everything a user can get wrong (a broken scenario, an unreachable host, a dead
metrics source, a torn journal) raises a subclass of `ControlroomError` whose
message says where and what to change. Anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class ControlroomError(Exception):
    """A problem the user can fix; `str(err)` is the one-line message."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in an input file: `FILE:LINE:COL: message`."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ScenarioError(ControlroomError):
    """A scenario that does not load or validate; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PreflightError(ControlroomError):
    """A pre-flight check failed; nothing was injected."""


class TargetError(ControlroomError):
    """A target could not be reached or refused a command."""


class MetricsError(ControlroomError):
    """A metrics source is misconfigured or not answering."""


class JournalError(ControlroomError):
    """A journal that cannot be read or written."""


class UnsafePathError(ControlroomError):
    """A file or directory the room would trust that another user could have planted or can change."""


class ServeError(ControlroomError):
    """`controlroom serve` cannot listen where it was asked (an unknown host, a port in use)."""
