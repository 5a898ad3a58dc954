"""The journal cannot be written (disk full, I/O error): the session stops and rolls back, and never crashes.

The failures are real OSErrors from `os.write` / `os.fsync` on the journal's file
descriptor (found through /proc/self/fd), from the Nth line on; every other write
— the fallback file's — goes through untouched.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.errors import JournalError
from controlroom.journal import read_journal
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


class BrokenDisk:
    """Makes `os.write` (or `os.fsync`) fail with `err` on the journal once a line matching `when` comes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, journal: Path, when: Callable[[bytes], bool],
                 err: int = errno.ENOSPC, call: str = "write") -> None:
        self.journal = str(journal)
        self.when = when
        self.err = err
        self.broken = False
        self.failures = 0
        self._write = os.write
        self._fsync = os.fsync
        self._last = b""
        monkeypatch.setattr(os, "write", self.write)
        if call == "fsync":
            monkeypatch.setattr(os, "fsync", self.fsync)
        self.call = call

    def _is_journal(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == self.journal
        except OSError:
            return False

    def write(self, fd: int, data: bytes) -> int:
        if self._is_journal(fd):
            self._last = bytes(data)
            if self.call == "write" and (self.broken or self.when(data)):
                self.broken = True
                self.failures += 1
                raise OSError(self.err, os.strerror(self.err))
        return self._write(fd, data)

    def fsync(self, fd: int) -> None:
        if self._is_journal(fd) and (self.broken or self.when(self._last)):
            self.broken = True
            self.failures += 1
            raise OSError(self.err, os.strerror(self.err))
        self._fsync(fd)


def _session(tmp_path: Path, host: Host, source: FakeSource, duration: float = 30.0) -> Session:
    return Session(make_scenario(fault_step(duration=duration)), journal_path=tmp_path / "j.jsonl",
                   clock=ManualClock(), sources=[source],
                   executor_factory=lambda t: MemoryExecutor(t.name, host.handle))


async def _run(s: Session) -> object:
    task = asyncio.ensure_future(s.run())
    await drive(s.clock, task)  # type: ignore[arg-type]
    return task.result()


def _fallback(s: Session) -> list[dict[str, object]]:
    assert s.fallback_path is not None
    lines = s.fallback_path.read_text().splitlines()
    s.fallback_path.unlink()
    return [json.loads(x) for x in lines]


async def test_a_disk_full_mid_fault_rolls_back_and_keeps_what_it_could_not_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host("t1")
    disk = BrokenDisk(monkeypatch, tmp_path / "j.jsonl", lambda line: b'"state":"observing"' in line)
    s = _session(tmp_path, host, FakeSource(ok_rate=1.0))
    outcome = await _run(s)  # no exception escapes
    assert disk.failures >= 1
    assert not host.faulted  # the revert went out although nothing could be written
    assert host.log[-1] == "disarm"
    assert (outcome.outcome, outcome.exit_code, outcome.unconfirmed) == ("aborted", 3, ())  # type: ignore[attr-defined]
    written = [e.type for e in read_journal(tmp_path / "j.jsonl").events]
    assert "fault-injected" in written and "fault-reverted" not in written
    kept = _fallback(s)
    assert kept[0]["format"] == "controlroom-unrecorded" and "No space left on device" in str(kept[0]["error"])
    types = [e["type"] for e in kept[1:]]
    assert types[0] == "state-changed"  # the line that failed is the first one kept
    stop = next(e for e in kept if e.get("type") == "emergency-stop")
    assert stop["source"] == "journal"
    assert types.index("rollback-started") < types.index("fault-reverted") < types.index("session-ended")
    report = s.journal_failure_report()
    assert len(report) == 1 and report[0].startswith("controlroom: ")
    assert "every fault was reverted and verified clean" in report[0] and str(s.fallback_path) in report[0]


async def test_an_injection_whose_announcement_cannot_be_written_is_never_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host("t1")
    BrokenDisk(monkeypatch, tmp_path / "j.jsonl", lambda line: b'"fault-injecting"' in line)
    s = _session(tmp_path, host, FakeSource(ok_rate=1.0))
    outcome = await _run(s)
    assert outcome.exit_code == 3  # type: ignore[attr-defined]
    assert "inject" not in host.log and not any(c.startswith("arm") for c in host.log)
    assert not host.faulted
    _fallback(s)


async def test_an_fsync_that_fails_on_the_announcement_stops_the_injection_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host("t1")
    BrokenDisk(monkeypatch, tmp_path / "j.jsonl", lambda line: b'"fault-injecting"' in line, err=errno.EIO,
               call="fsync")
    s = _session(tmp_path, host, FakeSource(ok_rate=1.0))
    outcome = await _run(s)
    assert outcome.exit_code == 3  # type: ignore[attr-defined]
    assert "inject" not in host.log
    assert "Input/output error" in s.journal_failure_report()[-1]
    _fallback(s)


async def test_a_journal_that_breaks_during_the_rollback_still_reverts_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.5)  # a breach: the rollback's first line breaks the disk
    BrokenDisk(monkeypatch, tmp_path / "j.jsonl", lambda line: b'"condition-breached"' in line)
    s = _session(tmp_path, host, src)
    outcome = await _run(s)
    assert not host.faulted and host.log[-1] == "disarm"
    assert outcome.exit_code == 3  # type: ignore[attr-defined]
    kept = [e.get("type") for e in _fallback(s)]
    assert "fault-reverted" in kept and kept[-1] == "session-ended"


async def test_a_journal_that_cannot_take_its_header_refuses_to_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host("t1")
    BrokenDisk(monkeypatch, tmp_path / "j.jsonl", lambda line: True)
    s = _session(tmp_path, host, FakeSource(ok_rate=1.0))
    with pytest.raises(JournalError, match="cannot write the journal: No space left on device"):
        await s.run()
    assert host.log == []
    assert not (tmp_path / "j.jsonl").exists()  # no half-written journal left behind
