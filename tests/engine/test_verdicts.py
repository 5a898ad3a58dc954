"""Honest verdicts: statements are judged by a person (or left not judged), an unobserved run is never "held",
a phase's validation is judged at the end of the phase, and its abort_on_failure ends the session."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from controlroom.clock import ManualClock
from controlroom.engine.gates import AutoFacilitator, InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.scenario.model import Phase, SuccessCriteria
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


def _run(tmp_path: Path, scenario, host: Host, src: FakeSource, **kw):  # type: ignore[no-untyped-def]
    s = Session(scenario, journal_path=tmp_path / "j.jsonl", clock=ManualClock(), sources=[src], control=False,
                executor_factory=lambda t: MemoryExecutor(t.name, host.handle), **kw)
    return s


async def _finish(s: Session, limit: float = 120.0):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(s.run())
    await drive(s.clock, task, limit=limit)  # type: ignore[arg-type]
    return task.result()


def _with_statements(*statements: str):  # type: ignore[no-untyped-def]
    sc = make_scenario(fault_step(duration=2.0))
    return dataclasses.replace(sc, success_criteria=SuccessCriteria(recovery_time=5.0, statements=statements))


async def test_with_yes_a_statement_is_left_not_judged_never_met(tmp_path: Path) -> None:
    s = _run(tmp_path, _with_statements("nobody was paged"), Host("t1"), FakeSource(ok_rate=1.0),
             facilitator=AutoFacilitator())
    outcome = await _finish(s)
    events = read_journal(tmp_path / "j.jsonl").events
    judged = next(e for e in events if e.type == "criterion-judged")
    assert judged.data == {"criterion": "nobody was paged", "met": None, "by": "nobody (--yes: not asked)"}
    crit = next(e for e in events if e.type == "success-criteria")
    assert crit.data["met"] is None  # not "met": nobody said so
    statement = next(r for r in crit.data["results"] if r["kind"] == "statement")
    assert statement == {"criterion": "nobody was paged", "ok": None, "detail": "not judged", "kind": "statement"}
    # Not a silent fail either: the machine checks held, so the hypothesis held; the report shows the gap.
    assert (outcome.outcome, outcome.exit_code) == ("held", 0)


@pytest.mark.parametrize(("answer", "outcome", "exit_code"), [(True, "held", 0), (False, "failed", 1)])
async def test_the_facilitator_judges_each_statement_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                answer: bool, outcome: str, exit_code: int) -> None:
    monkeypatch.setenv("CONTROLROOM_FACILITATOR", "Grace")
    facilitator = InteractiveFacilitator()
    s = _run(tmp_path, _with_statements("nobody was paged", "the on-call runbook was enough"), Host("t1"),
             FakeSource(ok_rate=1.0), facilitator=facilitator)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    for _ in range(2000):
        if facilitator.pending is not None:
            facilitator.resolve("confirm")
        if facilitator.statements:
            break
        await clock.advance(0.1)
    assert s.state == "judging"
    assert facilitator.statements == ("nobody was paged", "the on-call runbook was enough")
    assert facilitator.judged({"nobody was paged": answer})  # the second is skipped: not judged
    await drive(clock, task)
    result = task.result()
    assert (result.outcome, result.exit_code) == (outcome, exit_code)
    judged = [e.data for e in read_journal(tmp_path / "j.jsonl").events if e.type == "criterion-judged"]
    assert judged == [{"criterion": "nobody was paged", "met": answer, "by": "Grace"},
                      {"criterion": "the on-call runbook was enough", "met": None, "by": "nobody (Grace skipped it)"}]
    if not answer:
        assert result.message == "success criteria not met: nobody was paged"


async def test_an_unobserved_scenario_ends_unobserved_never_held(tmp_path: Path) -> None:
    sc = dataclasses.replace(make_scenario(fault_step(duration=2.0), require=(), stop=()), unobserved=True)
    host = Host("t1")
    outcome = await _finish(_run(tmp_path, sc, host, FakeSource(ok_rate=1.0)))
    assert outcome.outcome == "unobserved" and outcome.exit_code == 0
    assert not host.faulted
    ended = read_journal(tmp_path / "j.jsonl").events[-1]
    assert ended.data["outcome"] == "unobserved" and "nothing judged" in ended.data["message"]


def _phased(validation: tuple[str, ...], abort: bool) -> object:
    first = fault_step("warm", duration=2.0)
    second = fault_step("peak", duration=2.0)
    steps = (dataclasses.replace(first, phase="warm-up"), dataclasses.replace(second, phase="peak"))
    sc = make_scenario(*steps, stop=("ok_rate < 0.2",))
    return dataclasses.replace(sc, phases=(
        Phase("warm-up", ("warm",), validation=validation, abort_on_failure=abort),
        Phase("peak", ("peak",)),
    ))


@pytest.mark.parametrize(("abort", "steps_run"), [(True, ["warm"]), (False, ["warm", "peak"])])
async def test_a_phase_validation_is_judged_at_full_strength_and_may_end_the_session(
        tmp_path: Path, abort: bool, steps_run: list[str]) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.85)  # degraded while the fault is in
    original = host.handle

    def heal_on_revert(action):  # type: ignore[no-untyped-def]
        if "revert" in getattr(action, "script", ""):
            src.values["ok_rate"] = 1.0
        return original(action)

    s = Session(_phased(("ok_rate >= 0.9",), abort), journal_path=tmp_path / "j.jsonl",  # type: ignore[arg-type]
                clock=ManualClock(), sources=[src], control=False,
                executor_factory=lambda t: MemoryExecutor(t.name, heal_on_revert))
    outcome = await _finish(s)
    events = read_journal(tmp_path / "j.jsonl").events
    validated = next(e for e in events if e.type == "phase-validated")
    # At the end of the phase, its fault still in: 0.85 < 0.9 — after the revert it would have passed.
    assert validated.data == {"phase": "warm-up", "ok": False, "results": [
        {"criterion": "ok_rate >= 0.9", "ok": False, "detail": "ok_rate = 0.85", "kind": "check"}]}
    assert [e.data["step"] for e in events if e.type == "step-briefed"] == steps_run
    assert outcome.outcome == "failed" and "phase warm-up: ok_rate >= 0.9 (ok_rate = 0.85)" in outcome.message


async def test_a_phase_that_holds_its_validation_lets_the_session_hold(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    sc = _phased(("ok_rate >= 0.9",), True)
    outcome = await _finish(_run(tmp_path, sc, host, src))
    validated = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "phase-validated")
    assert validated.data["ok"] is True
    assert outcome.outcome == "held"


async def test_a_failed_step_in_a_phase_with_abort_on_failure_ends_the_session(tmp_path: Path) -> None:
    host, src = Host("t1", revert_works=False), FakeSource(ok_rate=1.0)
    sc = _phased((), True)
    outcome = await _finish(_run(tmp_path, sc, host, src, reconfirm_for=0.0))
    events = read_journal(tmp_path / "j.jsonl").events
    assert [e.data["step"] for e in events if e.type == "step-briefed"] == ["warm"]
    assert any("phase warm-up: step warm failed" in str(e.data.get("message")) for e in events if e.type == "warning")
    assert outcome.outcome == "failed"




async def test_a_fault_another_room_removed_mid_step_never_reports_held(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    s = _run(tmp_path, make_scenario(fault_step(duration=4.0)), host, src)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    while not host.faulted:
        await clock.advance(0.1)
    await clock.advance(1.0)
    host.faulted = False  # a second room (an HTTP target has no host claim) reverted the same fault
    await drive(clock, task)
    outcome = task.result()
    assert outcome.outcome == "failed" and outcome.exit_code == 1
    events = read_journal(tmp_path / "j.jsonl").events
    lost = next(e for e in events if e.type == "fault-lost")
    assert (lost.data["fault"], lost.data["target"]) == ("flip/0@t1", "t1")
    assert next(e for e in events if e.type == "step-completed").data["outcome"] == "failed"
    # ... and it was still reverted and verified, as every fault is (idempotent on a clean target).
    assert any(e.type == "fault-reverted" and e.data["verified"] for e in events)


async def test_headless_without_yes_asks_each_statement_on_the_terminal(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from controlroom.headless import TerminalFacilitator

    answers = iter(["y", "n", ""])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    verdicts = await TerminalFacilitator().judge(("nobody was paged", "runbook was enough", "customers noticed nothing"))
    assert verdicts == {"nobody was paged": True, "runbook was enough": False, "customers noticed nothing": None}

    def gone(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", gone)
    assert await TerminalFacilitator().judge(("nobody was paged",)) == {}  # no terminal: left not judged
