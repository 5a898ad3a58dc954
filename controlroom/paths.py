"""Where controlroom keeps its files by default: the journal directory under the user's XDG data directory."""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "controlroom"
JOURNALS_DIR_NAME = "journals"


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
    """Per-user folder for running sessions' registry files and control sockets."""
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
