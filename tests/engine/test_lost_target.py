"""A faulted host the room can no longer reach ends the session promptly, through the one rollback path, with
an honest verdict: its fault is unconfirmed, never "clean" (lab/test_lab_down.py does it with a real lab)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.journal.events import Event
from controlroom.targets.base import Action, ActionResult
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


def _one(events: list[Event], type_: str) -> Event:
    return next(e for e in events if e.type == type_)


async def _run(session: Session) -> list[Event]:
    task = asyncio.ensure_future(session.run())
    await drive(session.clock, task)  # type: ignore[arg-type]
    task.result()
    return read_journal(session.journal_path).events


async def test_a_faulted_host_that_cannot_be_reached_to_renew_its_leash_stops_the_session(tmp_path: Path) -> None:
    host = Host("t1")
    host.on_inject = lambda: setattr(host, "reachable", False)  # the host vanishes right after the injection
    # leash window 6 s: the heartbeat renews every 2 s; unconfirmed reverts are retried for 4 s.
    sc = make_scenario(fault_step(duration=60.0))
    sc = dataclasses.replace(sc, blast_radius=dataclasses.replace(sc.blast_radius, leash=6.0))
    s = Session(sc, journal_path=tmp_path / "j.jsonl", clock=ManualClock(),
                sources=[FakeSource(ok_rate=1.0)], executor_factory=lambda t: MemoryExecutor(t.name, host.handle),
                reconfirm_for=4.0)
    events = await _run(s)
    injected = _one(events, "fault-injected")
    stop = _one(events, "emergency-stop")
    assert stop.data["source"] == "target-lost"
    assert stop.data["reason"] == "lost contact with t1: could not renew its leash (connection refused)"
    assert stop.mono - injected.mono <= 2.5  # the first renewal
    failed = _one(events, "fault-revert-failed")
    assert failed.data["target"] == "t1" and "connection refused" in failed.data["error"]
    assert not any(e.type == "fault-reverted" for e in events)  # never called clean
    recovery = _one(events, "recovery-measured")
    assert recovery.data["seconds"] is None and "not confirmed reverted on t1" in recovery.data["detail"]
    ended = _one(events, "session-ended")
    assert (ended.data["outcome"], ended.data["unconfirmed"]) == ("rolled-back", ["t1"])
    assert ended.mono - injected.mono < 8.0  # renewal (2 s) + revert + reconfirm window (4 s); not the 60 s step


async def test_reconfirming_a_hung_host_stops_at_the_end_of_its_window(tmp_path: Path) -> None:
    host = Host("t1")
    clock = ManualClock()
    hung = False

    async def handle(action: Action) -> ActionResult:
        if hung:  # a dead link: every command runs into its own timeout
            assert isinstance(action.timeout, float)
            await clock.sleep(action.timeout)
            return ActionResult(ok=False, error=f"timed out after {action.timeout:g}s")
        return host.handle(action)

    src = FakeSource(ok_rate=1.0)

    def cut() -> None:
        nonlocal hung
        src.values["ok_rate"] = 0.5  # trips the stop condition...
        hung = True  # ...and every command to the host hangs from now on

    host.on_inject = cut
    s = Session(make_scenario(fault_step(duration=60.0)), journal_path=tmp_path / "j.jsonl", clock=clock,
                sources=[src], executor_factory=lambda t: MemoryExecutor(t.name, handle), reconfirm_for=4.0)
    events = await _run(s)
    finished = _one(events, "rollback-finished")
    assert finished.data["unconfirmed"] == ["t1"]
    ended = _one(events, "session-ended")
    # One reconfirm attempt (revert + three verifies, each into its timeout) would take far longer than 4 s.
    assert ended.mono - finished.mono <= 4.0 + 0.3
    assert ended.data["unconfirmed"] == ["t1"]
