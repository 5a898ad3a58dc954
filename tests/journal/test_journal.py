"""The journal: append-only, fsync'd per event, readable after a crash, followable live."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlroom.errors import JournalError
from controlroom.journal import Event, JournalWriter, follow, read_journal


def _event(i: int, type_: str = "note") -> Event:
    return Event(type=type_, t="2026-01-01T00:00:00.000+00:00", mono=i * 0.5, data={"text": f"n{i}"})


def test_a_written_journal_reads_back(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j.jsonl", {"session": "s1", "scenario": "x"})
    for i in range(5):
        w.append(_event(i))
    w.close()
    j = read_journal(tmp_path / "j.jsonl")
    assert j.header["session"] == "s1" and j.header["format"] == "controlroom-journal"
    assert [e.data["text"] for e in j.events] == [f"n{i}" for i in range(5)]
    assert j.warnings == [] and not j.complete


def test_an_existing_journal_is_never_overwritten(tmp_path: Path) -> None:
    JournalWriter(tmp_path / "j.jsonl", {}).close()
    with pytest.raises(JournalError, match="already exists"):
        JournalWriter(tmp_path / "j.jsonl", {})


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j.jsonl", {})
    w.append(_event(1))
    w.close()
    with open(tmp_path / "j.jsonl", "a") as fh:
        fh.write('{"t":"2026-01-01T00:00:01","mono":1.0,"type":"no')
    j = read_journal(tmp_path / "j.jsonl")
    assert len(j.events) == 1
    assert len(j.warnings) == 1 and ":3: skipped a torn last line" in j.warnings[0]


def test_a_damaged_line_in_the_middle_is_skipped_with_its_line_and_marks_the_journal(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j.jsonl", {})
    w.append(_event(1))
    w.close()
    with open(tmp_path / "j.jsonl", "a") as fh:
        fh.write("garbage\n" + _event(2).to_json() + "\n")
    j = read_journal(tmp_path / "j.jsonl")
    assert [e.data["text"] for e in j.events] == ["n1", "n2"]
    assert j.damaged and j.skipped == 1
    assert j.warnings == [f"{tmp_path / 'j.jsonl'}:3: skipped: not JSON (expected value)"] or \
        j.warnings[0].startswith(f"{tmp_path / 'j.jsonl'}:3: skipped: not JSON")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty journal"),
    (b"hello\n", "not a controlroom journal"),
    (b'{"format": "other"}\n', "not a controlroom journal"),
])
def test_files_that_are_not_journals_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "x.jsonl").write_bytes(content)
    with pytest.raises(JournalError, match=message):
        read_journal(tmp_path / "x.jsonl")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        read_journal(tmp_path)


WRITER = """
import sys, time
from controlroom.journal import Event, JournalWriter
w = JournalWriter(sys.argv[1], {"session": "killed"})
i = 0
while True:
    w.append(Event(type="metric-sample", t="2026-01-01T00:00:00+00:00", mono=i / 100,
                   data={"values": {"a": i}, "errors": {"pad": "x" * 300}}))
    i += 1
    if i == 50:
        print("ready", flush=True)
"""


def test_a_writer_killed_with_sigkill_mid_stream_leaves_a_readable_journal(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    j = read_journal(path)
    assert len(j.events) >= 50
    values = [e.data["values"]["a"] for e in j.events]
    assert values == list(range(len(values)))  # nothing lost in the middle, nothing reordered
    assert not j.complete


async def test_follow_yields_events_as_they_are_appended(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    w = JournalWriter(path, {"session": "live"})
    w.append(_event(0))
    got: list[object] = []

    async def reader() -> None:
        async for item in follow(path, poll=0.01):
            got.append(item)

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.05)
    w.append(_event(1))
    w.append(Event(type="session-ended", t="2026-01-01T00:00:02+00:00", mono=2.0, data={"outcome": "held"}))
    await asyncio.wait_for(task, timeout=5)
    w.close()
    assert isinstance(got[0], dict) and got[0]["session"] == "live"
    assert [e.type for e in got[1:]] == ["note", "note", "session-ended"]  # type: ignore[attr-defined]


def test_events_are_one_json_object_per_line(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j.jsonl", {})
    w.append(Event(type="note", t="t", mono=1.0, data={"text": "line\nbreak"}))
    w.close()
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["text"] == "line\nbreak"


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        Event(type="made-up", t="t", mono=0.0)


def test_docs_journal_md_shows_exactly_the_vocabulary() -> None:
    from controlroom.journal.schema import vocabulary_markdown

    doc = (Path(__file__).parents[2] / "docs" / "journal.md").read_text()
    block = doc.split("<!-- vocabulary:start (generated: python -m controlroom.journal.schema) -->\n", 1)[1]
    block = block.split("<!-- vocabulary:end -->", 1)[0]
    assert block == vocabulary_markdown(), "docs/journal.md is stale: python -m controlroom.journal.schema"


def test_every_event_type_has_a_payload_and_every_stop_kind_is_in_the_vocabulary() -> None:
    from typing import get_type_hints

    from controlroom.journal.events import EVENT_TYPES, PAYLOADS, EmergencyStop, StopKind

    assert set(PAYLOADS) == set(EVENT_TYPES)
    assert get_type_hints(EmergencyStop)["source"] is StopKind
