"""Journal reader: the whole file at once (replay, report, recover) or followed live (watch).

A torn last line, as a crash leaves it, is skipped with a warning; a torn line
anywhere else means the file was damaged and is reported with its line number.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlroom.errors import JournalError
from controlroom.journal.events import FORMAT, Event

_loads: Callable[[bytes], Any]
try:  # optional: orjson parses journal lines about twice as fast; the standard library is the fallback
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


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


def _event_from_line(line: bytes) -> Event:
    """One journal line -> Event; the hot path of reading a large journal, so it avoids any extra copy."""
    try:
        doc = _loads(line)
    except ValueError:
        # What orjson refuses but the writer can produce (NaN, huge ints) or a damaged byte: the standard
        # parser decides, on text with bad UTF-8 replaced, as the reader always did.
        doc = json.loads(line.decode("utf-8", errors="replace"))
    if not isinstance(doc, dict) or "type" not in doc or "t" not in doc or "mono" not in doc:
        raise ValueError("missing t, mono or type")
    type_, t, mono = doc.pop("type"), doc.pop("t"), doc.pop("mono")
    return Event(type=str(type_), t=str(t), mono=float(mono), data=doc)


def read_lines(path: str | Path) -> tuple[Path, dict[str, Any], list[bytes], bool]:
    """The file read whole and split into byte lines: (path, header, all lines, torn tail?).

    Splitting bytes, not text: decoding a large journal up front costs as much as parsing it.
    Shared by `read_journal` and the replay, which parses lines lazily.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise JournalError(f"{p}: is a directory; give the journal file (*.jsonl)") from None
    except OSError as err:
        raise JournalError(f"{p}: cannot read journal: {err.strerror}") from None
    lines = raw.split(b"\n")
    if not lines or not lines[0].strip():
        raise JournalError(f"{p}:1: empty journal; nothing was recorded")
    header = _parse_header(p, lines[0].decode("utf-8", errors="replace"))
    return p, header, lines, not raw.endswith(b"\n")


def read_journal(path: str | Path) -> Journal:
    p, header, lines, torn_tail = read_lines(path)
    events: list[Event] = []
    warnings: list[str] = []
    append = events.append
    last_index = len(lines)
    for i, line in enumerate(lines[1:], start=2):
        try:
            append(_event_from_line(line))
        except (ValueError, KeyError, TypeError) as err:
            if not line.strip():
                continue
            if i == last_index and torn_tail:
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
