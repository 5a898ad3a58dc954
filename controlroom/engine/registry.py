"""The registry of sessions on this machine: one entry per running session, in the private runtime directory.

A session's control server writes its entry (`<id>.json`: pid, process start time, journal, socket) beside its
socket and removes both at its end. `status`, `stop` and `watch` read the entries; `recover` marks a crashed
session's entry recovered; `status --clean` removes the entries of sessions that are gone and were recovered or
had ended. A pid is trusted only with its start time (`liveness`): a reused pid is never taken for a session.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from controlroom.engine.liveness import same_process
from controlroom.paths import private_sessions_dir
from controlroom.safefile import write_atomically


def running_sessions() -> list[dict[str, Any]]:
    """Registered sessions; `alive` False means the process is gone or its pid reused (crashed: use `recover`).

    A gone session also says what became of it: `recovered` (when `recover` finished it, set by
    `mark_recovered`) and `ended` (its journal records session-ended: it ended, then died before it could
    unregister). `registry` is the entry's own file, for `status --clean`.
    """
    d = private_sessions_dir(create=False)
    if d is None:
        return []
    out = []
    for f in sorted(d.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or not {"session", "pid", "journal", "socket"} <= doc.keys():
            continue
        doc["alive"] = same_process(doc.get("pid"), doc.get("pid_start"))
        doc["registry"] = str(f)
        doc["ended"] = not doc["alive"] and journal_ended(str(doc["journal"]))
        out.append(doc)
    return out


def mark_recovered(session_id: str, verdict: str) -> bool:
    """After `recover` finished a crashed session: say so in its registry entry, so `status` shows it recovered
    (and `status --clean` may remove it). False when the session was not registered here."""
    d = private_sessions_dir(create=False)
    if d is None or not re.fullmatch(r"[0-9a-f]{1,64}", session_id):
        return False
    entry = d / f"{session_id}.json"
    try:
        doc = json.loads(entry.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    doc["recovered"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "verdict": verdict}
    write_atomically(entry, json.dumps(doc), mode=0o600)
    return True


def clean_sessions() -> list[dict[str, Any]]:
    """`status --clean`: remove the entries (and stale sockets) of sessions that are gone AND were recovered or
    had ended. A crashed session nobody has recovered stays listed: it may have left a fault behind."""
    removed = []
    for s in running_sessions():
        if s["alive"] or not (s.get("recovered") or s["ended"]):
            continue
        for path in (s["registry"], s["socket"]):
            with contextlib.suppress(OSError):
                if Path(path).parent == Path(s["registry"]).parent:  # only inside our own sessions directory
                    os.unlink(path)
        removed.append(s)
    return removed


def journal_ended(journal: str) -> bool:
    """Cheap poll: does the end of the journal hold the session-ended line?"""
    try:
        with open(journal, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            return b'"type":"session-ended"' in fh.read()
    except OSError:
        return False
