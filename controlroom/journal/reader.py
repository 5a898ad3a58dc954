"""Journal reader: the whole file at once (replay, report, recover) or followed live (watch).

A torn last line, as a crash leaves it, is skipped with a warning; a torn line
anywhere else means the file was damaged and is reported with its line number.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlroom.errors import JournalError
from controlroom.journal.events import FORMAT, Event


@dataclass
class Journal:
    path: Path
    header: dict[str, Any]
    events: list[Event]
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.events) and self.events[-1].type == "session-ended"


def _parse_header(path: Path, line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        raise JournalError(f"{path}:1: not a controlroom journal (first line is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise JournalError(f"{path}:1: not a controlroom journal (no '{FORMAT}' header)")
    return header


def _parse_event(path: Path, lineno: int, line: str) -> Event:
    doc = json.loads(line)
    if not isinstance(doc, dict) or "type" not in doc or "t" not in doc or "mono" not in doc:
        raise ValueError("missing t, mono or type")
    return Event.from_dict(doc)


def read_journal(path: str | Path) -> Journal:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise JournalError(f"{p}: is a directory; give the journal file (*.jsonl)") from None
    except OSError as err:
        raise JournalError(f"{p}: cannot read journal: {err.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    torn_tail = not text.endswith("\n")
    if not lines or not lines[0].strip():
        raise JournalError(f"{p}:1: empty journal; nothing was recorded")
    header = _parse_header(p, lines[0])
    events: list[Event] = []
    warnings: list[str] = []
    body = lines[1:]
    for i, line in enumerate(body, start=2):
        if not line.strip():
            continue
        last = i == len(lines)
        try:
            events.append(_parse_event(p, i, line))
        except (ValueError, KeyError, TypeError) as err:
            if last and torn_tail:
                warnings.append(f"{p}:{i}: skipped a torn last line (the session stopped mid-write)")
            else:
                raise JournalError(f"{p}:{i}: damaged journal line ({err}); the file was edited or corrupted") from None
    return Journal(path=p, header=header, events=events, warnings=warnings)


async def follow(path: str | Path, *, poll: float = 0.1, stop_at_end: bool = True) -> AsyncIterator[Event | dict[str, Any]]:
    """Yield the header (a dict) then every event as it is appended, until session-ended.

    Reads only whole lines, so a line still being written is picked up on the next poll.
    """
    p = Path(path)
    buf = b""
    header_seen = False
    with p.open("rb") as fh:
        while True:
            chunk = fh.read(65536)
            if not chunk:
                await asyncio.sleep(poll)
                continue
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                if not header_seen:
                    header_seen = True
                    yield _parse_header(p, line)
                    continue
                try:
                    ev = _parse_event(p, 0, line)
                except (ValueError, KeyError, TypeError):
                    continue
                yield ev
                if stop_at_end and ev.type == "session-ended":
                    return
