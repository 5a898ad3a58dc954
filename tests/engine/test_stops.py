"""Stops by kind, not by text: who stopped, what the outcome says, and the recovery watched after every stop."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.journal.events import StopKind
from controlroom.paths import runtime_dir
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


def _session(tmp_path: Path, host: Host, src: FakeSource, **kw: object) -> Session:
    return Session(make_scenario(fault_step(duration=30.0)), journal_path=tmp_path / "j.jsonl", clock=ManualClock(),
                   sources=[src], executor_factory=lambda t: MemoryExecutor(t.name, host.handle), **kw)  # type: ignore[arg-type]


async def _until(session: Session, state: str, limit: float = 60.0) -> None:
    clock: ManualClock = session.clock  # type: ignore[assignment]
    waited = 0.0
    while session.state != state:
        await clock.advance(0.1)
        waited += 0.1
        assert waited < limit, f"never reached {state} (now {session.state})"


@pytest.mark.parametrize(("kind", "outcome"), [
    ("key", "aborted"), ("control", "aborted"), ("signal", "aborted"),
    ("stop-condition", "rolled-back"), ("telemetry", "rolled-back"), ("leash", "rolled-back"),
])
async def test_the_outcome_follows_the_stop_kind_never_its_reason_text(tmp_path: Path, kind: str, outcome: str) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    s = _session(tmp_path, host, src, control=False)
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    # The reason text names a manual kind on purpose: only the kind may decide.
    await s.emergency_stop(kind, reason="key")
    await drive(s.clock, task)  # type: ignore[arg-type]
    assert task.result().outcome == outcome
    assert not host.faulted
    stop = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "emergency-stop")
    assert stop.data["source"] == kind


def test_stop_kinds_are_manual_automatic_or_the_room_failing() -> None:
    assert {k for k in StopKind if k.emergency} == {StopKind.KEY, StopKind.CONTROL, StopKind.SIGNAL}
    assert {k for k in StopKind if k.manual} == {StopKind.KEY, StopKind.CONTROL, StopKind.SIGNAL,
                                                 StopKind.FACILITATOR_ABORT, StopKind.CANCELLED}
    assert {k for k in StopKind if k.automatic} == {StopKind.STOP_CONDITION, StopKind.TELEMETRY, StopKind.LEASH,
                                                    StopKind.TARGET_LOST}
    with pytest.raises(ValueError):
        StopKind("SIGTERM received")  # a reason is not a kind


async def test_after_a_key_stop_recovery_is_watched_and_the_outcome_stays_aborted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_FACILITATOR", "Ada Lovelace")
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.85)  # degraded, not breaching the stop at 0.8
    host_revert = host.handle

    def revert_heals(action):  # type: ignore[no-untyped-def]
        if getattr(action, "script", "") == "revert" or "revert" in getattr(action, "script", ""):
            src.values["ok_rate"] = 1.0
        return host_revert(action)

    s = Session(make_scenario(fault_step(duration=30.0)), journal_path=tmp_path / "j.jsonl", clock=ManualClock(),
                sources=[src], control=False, executor_factory=lambda t: MemoryExecutor(t.name, revert_heals))
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    await s.emergency_stop("key")
    await drive(s.clock, task)  # type: ignore[arg-type]
    outcome = task.result()
    assert outcome.outcome == "aborted" and outcome.exit_code == 1
    events = read_journal(tmp_path / "j.jsonl").events
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["by"] == "Ada Lovelace"
    rec = next(e for e in events if e.type == "recovery-measured")
    assert rec.data["held"] is True and rec.data["seconds"] is not None and rec.data["after_stop"] is True
    samples_after = [e for e in events if e.type == "metric-sample" and e.mono > rec.mono - 2.0]
    assert samples_after, "metrics keep flowing after the stop until the steady state is back"
    assert [e.data["state"] for e in events if e.type == "state-changed"][-3:] == ["recovering", "recovered",
                                                                                    "aborted"]


async def test_the_facilitator_can_end_the_recovery_watch_early(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.85)  # and it never comes back
    s = _session(tmp_path, host, src, control=False)
    assert s.end_recovery() is False  # nothing to end yet
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    await s.emergency_stop("key")
    await _until(s, "recovering")
    started = s.now()
    assert s.end_recovery() is True
    await drive(s.clock, task, limit=5.0)  # type: ignore[arg-type]
    assert s.now() - started < s.recovery_wait()
    rec = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "recovery-measured")
    assert rec.data["held"] is False and "ended the watch" in rec.data["detail"]
    assert task.result().outcome == "aborted"


async def test_a_signal_stop_does_not_wait_for_recovery(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.85)
    s = _session(tmp_path, host, src, control=False)
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    await s.emergency_stop("signal", "SIGTERM received")
    await drive(s.clock, task, limit=5.0)  # type: ignore[arg-type]
    rec = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "recovery-measured")
    assert rec.data["seconds"] is None and "a signal asked the program to end" in rec.data["detail"]


async def test_controlroom_stop_journals_the_user_and_terminal_it_came_from(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    s = _session(tmp_path, host, src)
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    sock = next((runtime_dir() / "sessions").glob("*.sock"))
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(b'stop {"tty":"/dev/pts/9"}\n')
    await writer.drain()
    assert (await reader.readline()).strip() == b"stopping"
    verdict = json.loads(await asyncio.wait_for(reader.readline(), timeout=10))
    writer.close()
    assert verdict["clean"] is True
    await drive(s.clock, task)  # type: ignore[arg-type]
    stop = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "emergency-stop")
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    assert stop.data["source"] == "control"
    assert stop.data["by"] == f"{me} on /dev/pts/9 (controlroom stop, pid {os.getpid()})"
    assert task.result().outcome == "aborted"


def test_progress_lines_name_the_stop_by_its_kind_and_who() -> None:
    from controlroom.headless import ProgressPrinter
    from controlroom.journal.events import Event

    def line(**d: object) -> str | None:
        return ProgressPrinter(lambda _: None).format(Event("emergency-stop", "t", 1.0, dict(d)))

    assert line(source="key", reason="key", by="Ada") == "EMERGENCY STOP (key by Ada): key"
    assert line(source="signal", reason="SIGTERM received") == "EMERGENCY STOP (signal): SIGTERM received"
    assert line(source="stop-condition", reason="stop condition ok_rate < 0.8") == \
        "AUTOMATIC ROLLBACK (stop condition ok_rate < 0.8)"
    assert line(source="cancelled", reason="cancelled") == "ABORTED (cancelled): cancelled"
