"""Per-journal summaries for `history`, kept so a directory of long game days is not re-reported on every call.

One small JSON file per journal in `$XDG_DATA_HOME/controlroom/cache/history/` (a private 0700 directory,
checked like every directory of ours by `paths.private_dir`; entries written 0600 in one rename). An entry
is used only when the journal's resolved path, size and mtime (ns) are the ones it was built from, and the
cache format is this version's: a journal appended to, rewritten or touched is summarised again. An entry
that cannot be read, parsed or checked field by field is ignored and rebuilt: the cache can only save time,
never change what `history` says. Nothing in it reaches a shell or a decision; it is shown, not obeyed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from controlroom.errors import UnsafePathError
from controlroom.paths import APP_DIR_NAME, data_home, private_dir
from controlroom.safefile import write_atomically

CACHE_VERSION = 2  # raise when SessionSummary or the report's figures change: older entries are then rebuilt
MAX_ENTRY_BYTES = 1 << 20  # a summary is a few hundred bytes; anything larger is not ours

T = TypeVar("T")


def cache_dir() -> Path:
    return data_home() / APP_DIR_NAME / "cache" / "history"


def _key(path: Path) -> tuple[str, dict[str, Any]]:
    real = path.resolve()
    st = os.stat(real)
    name = hashlib.sha256(str(real).encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".json"
    return name, {"version": CACHE_VERSION, "path": str(real), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read(entry: Path) -> Any:
    """The entry's JSON, or None when absent, unreadable or not JSON (never a symlink followed)."""
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


class SummaryCache:
    """`get(path, build, to_json, from_json)`: the cached summary of `path` when still valid, else `build(path)`
    stored for next time. `from_json` raises (KeyError, TypeError, ValueError) on an entry it cannot use."""

    def __init__(self, directory: Path | None = None, *, enabled: bool = True) -> None:
        self.directory = directory
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.problem = ""  # why the cache is not used at all (an unsafe directory): said once by `history`

    def _dir(self) -> Path | None:
        if self.problem or not self.enabled:
            return None
        try:
            return private_dir(self.directory or cache_dir(), "history cache directory",
                               fix="remove it, or set XDG_DATA_HOME to a directory of your own")
        except UnsafePathError as err:
            self.problem = f"summary cache not used: {err}"
            return None

    def get(self, path: Path, build: Callable[[Path], T], to_json: Callable[[T], dict[str, Any]],
            from_json: Callable[[dict[str, Any]], T]) -> T:
        directory = self._dir()
        try:
            name, key = _key(path)
        except OSError:
            return build(path)  # the journal itself is unreadable: `build` says so in its own words
        if directory is not None:
            doc = _read(directory / name)
            if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("summary"), dict):
                try:
                    value = from_json(doc["summary"])
                except (KeyError, TypeError, ValueError, AttributeError):
                    pass  # a damaged or foreign entry: rebuilt below
                else:
                    self.hits += 1
                    return value
        self.misses += 1
        value = build(path)
        if directory is not None:
            with contextlib.suppress(OSError):  # a full disk costs the next call time, nothing else
                write_atomically(directory / name, json.dumps({"key": key, "summary": to_json(value)}), mode=0o600)
        return value
