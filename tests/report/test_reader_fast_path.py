"""The reader's fast path (bytes, optional orjson) reads everything the writer can write, as before."""

from __future__ import annotations

from pathlib import Path

from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.journal.writer import JournalWriter


def test_nan_and_big_numbers_and_bad_bytes_still_read(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    w = JournalWriter(path, {"session": "s"}, fsync=False)
    w.append(Event("metric-sample", "2026-01-01T00:00:00Z", 1.0, {"values": {"a": float("nan"), "b": 2**70}}))
    w.append(Event("note", "2026-01-01T00:00:01Z", 2.0, {"text": "ok", "author": "x"}))
    w.close()
    with path.open("ab") as fh:
        fh.write(b'{"t":"2026-01-01T00:00:02Z","mono":3.0,"type":"note","text":"caf\xe9","author":"y"}\n')
    j = read_journal(path)
    assert [e.type for e in j.events] == ["metric-sample", "note", "note"]
    # A NaN reading is "no data" to every reader (journal.events.Reading): no figure downstream is ever NaN.
    assert j.events[0].data["values"]["a"] is None and j.events[0].data["values"]["b"] == 2**70
    assert j.events[2].data["text"] == "caf\ufffd"
    assert j.events[1] == Event("note", "2026-01-01T00:00:01Z", 2.0, {"text": "ok", "author": "x"})
