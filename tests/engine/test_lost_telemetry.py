"""Telemetry that lies is lost telemetry: a watched series with no value, NaN, or a source that is down, under
each policy — and a blind fault never runs to the end of its step."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.journal.events import Event
from controlroom.scenario.model import Step
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario

STEP = 30.0  # a step much longer than lost_after (1 s) and the sampling interval (0.5 s)


def _session(tmp_path: Path, scenario, host: Host, source: FakeSource,  # type: ignore[no-untyped-def]
             recovery: float = 2.0) -> Session:
    # Recovery cannot be measured blind: most tests need not wait long for it.
    return Session(scenario, journal_path=tmp_path / "j.jsonl", clock=ManualClock(), sources=[source],
                   executor_factory=lambda t: MemoryExecutor(t.name, host.handle), recovery_timeout=recovery)


async def _run(session: Session) -> list[Event]:
    task = asyncio.ensure_future(session.run())
    await drive(session.clock, task)  # type: ignore[arg-type]
    task.result()
    return read_journal(session.journal_path).events


def _one(events: list[Event], type_: str) -> Event:
    return next(e for e in events if e.type == type_)


async def test_a_stop_condition_series_with_no_value_is_lost_telemetry_and_rolls_back(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0, other=3.0)
    host.on_inject = lambda: src.values.update(ok_rate=None)  # the source answers; this one series is empty
    events = await _run(_session(tmp_path, make_scenario(fault_step(duration=STEP)), host, src))
    lost = _one(events, "telemetry-lost")
    assert lost.data["source"] == "fake:ok_rate" and lost.data["series"] == "ok_rate"
    assert lost.data["policy"] == "rollback" and "no value for ok_rate" in lost.data["detail"]
    assert _one(events, "emergency-stop").data["source"] == "telemetry"
    injected, reverted = _one(events, "fault-injected"), _one(events, "fault-reverted")
    assert 1.0 <= lost.mono - injected.mono <= 1.6  # lost_after is 1 s, sampled every 0.5 s
    assert reverted.mono - injected.mono < 3.0  # not the 30 s step
    assert _one(events, "session-ended").data["outcome"] == "rolled-back"
    assert not host.faulted


async def test_nan_from_a_source_is_no_value_and_never_reaches_the_journal(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=float("nan"))
    events = await _run(_session(tmp_path, make_scenario(fault_step(duration=STEP)), host, src))
    samples = [e for e in events if e.type == "metric-sample" and e.mono > _one(events, "fault-injected").mono]
    assert samples and all(s.data["values"]["ok_rate"] is None for s in samples[:2])
    assert "not a number" in samples[0].data["errors"]["ok_rate"]
    assert _one(events, "telemetry-lost").data["series"] == "ok_rate"
    assert _one(events, "emergency-stop").data["source"] == "telemetry"
    assert not host.faulted


async def test_under_pause_an_active_fault_is_reverted_when_telemetry_is_lost(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: setattr(src, "down", True)
    sc = make_scenario(fault_step("one", duration=STEP), fault_step("two", duration=STEP), lost="pause")
    events = await _run(_session(tmp_path, sc, host, src))
    lost = _one(events, "telemetry-lost")
    assert lost.data == {"source": "fake", "policy": "pause", "detail": lost.data["detail"]}
    stop = _one(events, "emergency-stop")
    assert stop.data["source"] == "telemetry" and stop.mono - lost.mono < 0.2
    reverted = _one(events, "fault-reverted")
    assert reverted.mono - _one(events, "fault-injected").mono < 3.0
    # Held: nothing more is injected, the second step never runs.
    assert sum(e.type == "fault-injecting" for e in events) == 1
    assert not any(e.type == "step-briefed" and e.data["step"] == "two" for e in events)
    assert not host.faulted and host.log.count("inject") == 1


async def test_telemetry_lost_before_a_fault_step_under_rollback_injects_nothing(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    baseline = Step(id="baseline", title="baseline", duration=3.0, confirm=False)
    sc = make_scenario(baseline, fault_step(duration=STEP))
    session = _session(tmp_path, sc, host, src)
    session.subscribe(lambda e: e.type == "step-briefed" and e.data["step"] == "baseline"
                      and setattr(src, "down", True))
    events = await _run(session)
    assert "telemetry-lost" in [e.type for e in events]
    assert "inject" not in host.log and "fault-injecting" not in [e.type for e in events]
    assert _one(events, "emergency-stop").data["source"] == "telemetry"
    assert _one(events, "session-ended").data["outcome"] == "rolled-back"


async def test_a_series_no_condition_names_may_go_dark_without_stopping_the_session(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0, shown_only=5.0)
    host.on_inject = lambda: src.values.update(shown_only=None)
    events = await _run(_session(tmp_path, make_scenario(fault_step(duration=3.0)), host, src, 10.0))
    assert "telemetry-lost" not in [e.type for e in events]
    assert _one(events, "session-ended").data["outcome"] == "held"


async def test_a_gap_in_the_data_does_not_reset_a_stop_conditions_hold(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    sc = make_scenario(fault_step(duration=10.0), hold=2.0)
    s = _session(tmp_path, sc, host, src)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    while s.state != "observing":
        await clock.advance(0.1)
    # Bad, then one missing sample (shorter than lost_after), then bad again: 2 s of bad in all.
    async def advance(seconds: float) -> None:
        for _ in range(round(seconds / 0.1)):
            await clock.advance(0.1)

    bad_from = s.now()
    src.values["ok_rate"] = 0.5
    await advance(1.0)
    src.values["ok_rate"] = None
    await advance(0.5)
    src.values["ok_rate"] = 0.5
    await drive(clock, task)
    events = read_journal(s.journal_path).events
    breach = _one(events, "condition-breached")
    assert breach.data["condition"] == "ok_rate < 0.8" and "telemetry-lost" not in [e.type for e in events]
    # Held over the gap: 2 s after the first bad sample (a reset hold would need 2 s more after the gap).
    assert breach.mono - bad_from < 3.0
