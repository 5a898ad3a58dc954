"""The session state machine, driven by a clock the test controls and an in-memory target."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.gates import Gate, InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.scenario.model import Step
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, advance_until, drive, fault_step, make_scenario


def _session(tmp_path: Path, scenario, hosts: dict[str, Host], source: FakeSource | None = None, **kw) -> Session:
    return Session(
        scenario, journal_path=tmp_path / "j.jsonl", clock=ManualClock(), sources=[source] if source else [],
        executor_factory=lambda t: MemoryExecutor(t.name, hosts[t.name].handle), **kw,
    )


async def _run(session: Session, clock_limit: float = 120.0):
    task = asyncio.ensure_future(session.run())
    await drive(session.clock, task, limit=clock_limit)  # type: ignore[arg-type]
    return task.result()


def _types(path: Path) -> list[str]:
    return [e.type for e in read_journal(path).events]


async def test_a_held_hypothesis_exits_zero_and_leaves_the_target_clean(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    s = _session(tmp_path, make_scenario(Step(id="baseline", title="Baseline", confirm=False), fault_step()),
                 {"t1": host}, src)
    outcome = await _run(s)
    assert (outcome.outcome, outcome.exit_code) == ("held", 0)
    assert not host.faulted
    types = _types(tmp_path / "j.jsonl")
    assert types[0] == "session-started" and types[-1] == "session-ended"
    order = [t for t in types if t in ("fault-injecting", "fault-injected", "fault-reverted", "recovery-measured")]
    assert order == ["fault-injecting", "fault-injected", "fault-reverted", "recovery-measured"]
    # The leash was armed before the inject and disarmed after the verify.
    assert host.log.index("inject") > next(i for i, c in enumerate(host.log) if c.startswith("arm "))
    assert host.log[-1] == "disarm"


async def test_the_injection_is_journaled_before_it_is_sent(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    seen: list[bool] = []
    host = Host("t1")
    host.on_inject = lambda: seen.append('"type":"fault-injecting"' in journal.read_text())
    await _run(_session(tmp_path, make_scenario(fault_step()), {"t1": host}, FakeSource(ok_rate=1.0)))
    assert seen == [True]


async def test_a_stop_condition_rolls_back_within_one_sample(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.5)
    s = _session(tmp_path, make_scenario(fault_step(duration=30.0)), {"t1": host}, src)
    outcome = await _run(s)
    assert (outcome.outcome, outcome.exit_code) == ("rolled-back", 1)
    assert not host.faulted
    events = read_journal(tmp_path / "j.jsonl").events
    injected = next(e for e in events if e.type == "fault-injected")
    breach = next(e for e in events if e.type == "condition-breached")
    rollback = next(e for e in events if e.type == "rollback-started")
    assert breach.data["condition"] == "ok_rate < 0.8"
    assert breach.mono - injected.mono <= 0.5 + 1e-6  # the first sample after the injection
    assert rollback.mono - breach.mono <= 0.1
    assert next(e for e in events if e.type == "step-completed").data["outcome"] == "rolled-back"


async def test_a_stop_condition_must_hold_for_its_for_time(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    s = _session(tmp_path, make_scenario(fault_step(duration=6.0), hold=2.0), {"t1": host}, src)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    await advance_until(clock, lambda: s.state == "observing")
    src.values["ok_rate"] = 0.5  # a 1 s blip: shorter than `for: 2s`
    await clock.advance(1.0)
    src.values["ok_rate"] = 1.0
    await drive(clock, task)
    assert task.result().outcome == "held"
    assert "condition-breached" not in _types(tmp_path / "j.jsonl")


async def test_emergency_stop_reverts_everything_and_verifies(tmp_path: Path) -> None:
    hosts = {"a": Host("a"), "b": Host("b")}
    sc = make_scenario(Step(id="two", title="two hosts", faults=fault_step(target="a").faults
                            + fault_step(target="b").faults, duration=30.0), targets=("a", "b"), max_targets=2)
    s = _session(tmp_path, sc, hosts, FakeSource(ok_rate=1.0))
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    await advance_until(clock, lambda: s.state == "observing")
    assert hosts["a"].faulted and hosts["b"].faulted
    await s.emergency_stop("key")
    await drive(clock, task)
    outcome = task.result()
    assert (outcome.outcome, outcome.exit_code, outcome.unconfirmed) == ("aborted", 1, ())
    assert not hosts["a"].faulted and not hosts["b"].faulted
    events = read_journal(tmp_path / "j.jsonl").events
    finished = next(e for e in events if e.type == "rollback-finished")
    assert finished.data == {"clean": True, "unconfirmed": []}
    assert sum(e.type == "emergency-stop" for e in events) == 1


async def test_a_revert_that_cannot_be_verified_is_reported_unconfirmed(tmp_path: Path) -> None:
    host = Host("t1", revert_works=False)
    s = _session(tmp_path, make_scenario(fault_step()), {"t1": host}, FakeSource(ok_rate=1.0))
    outcome = await _run(s)
    assert outcome.outcome == "failed" and outcome.unconfirmed == ("t1",)
    assert "disarm" not in host.log  # the leash stays armed: it is the last line of defence
    failed = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "fault-revert-failed")
    assert "flag still set" in failed.data["error"]


async def test_gates_skip_and_abort(tmp_path: Path) -> None:
    fac = InteractiveFacilitator()
    answers = iter(["skip", "abort"])
    fac.on_gate(lambda gate: asyncio.get_running_loop().call_soon(gate.resolve, next(answers)))
    host = Host("t1")
    sc = make_scenario(fault_step("one", confirm=True), fault_step("two", confirm=True), fault_step("three"))
    outcome = await _run(_session(tmp_path, sc, {"t1": host}, FakeSource(ok_rate=1.0), facilitator=fac))
    assert outcome.outcome == "aborted"
    assert "inject" not in host.log
    events = read_journal(tmp_path / "j.jsonl").events
    decisions = [(e.data["step"], e.data["decision"]) for e in events if e.type == "step-confirmed"]
    assert decisions == [("one", "skip"), ("two", "abort")]
    assert not any(e.type == "step-briefed" and e.data["step"] == "three" for e in events)


async def test_lost_telemetry_rolls_back_by_policy(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: setattr(src, "down", True)
    outcome = await _run(_session(tmp_path, make_scenario(fault_step(duration=30.0)), {"t1": host}, src))
    assert outcome.outcome == "rolled-back"
    lost = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "telemetry-lost")
    assert lost.data["policy"] == "rollback" and not host.faulted


async def test_lost_telemetry_with_policy_warn_goes_on(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: setattr(src, "down", True)
    sc = make_scenario(fault_step(duration=3.0), lost="warn", require=())
    outcome = await _run(_session(tmp_path, sc, {"t1": host}, src))
    assert outcome.outcome == "held"
    assert "telemetry-lost" in _types(tmp_path / "j.jsonl")


async def test_preflight_failure_exits_two_and_injects_nothing(tmp_path: Path) -> None:
    host = Host("t1", has_tool=False)
    outcome = await _run(_session(tmp_path, make_scenario(fault_step()), {"t1": host}, FakeSource(ok_rate=1.0)))
    assert outcome.exit_code == 2 and "t1: tool missing" in outcome.message
    assert "inject" not in host.log
    checks = [e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "preflight-check"]
    assert any(c.data["ok"] is False and c.data["check"] == "tool" for c in checks)
    reach = [c.data["ok"] for c in checks if c.data["check"] == "reachable"]
    assert reach == [None, True]  # shown running first, then its answer


async def test_steady_state_must_hold_before_the_first_injection(tmp_path: Path) -> None:
    host = Host("t1")
    outcome = await _run(_session(tmp_path, make_scenario(fault_step()), {"t1": host}, FakeSource(ok_rate=0.5)))
    assert outcome.exit_code == 2 and "steady state does not hold" in outcome.message
    assert "inject" not in host.log


async def test_recovery_time_is_measured_from_revert_to_steady(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.9)  # degraded but above the stop condition
    s = _session(tmp_path, make_scenario(fault_step(duration=3.0), window=1.0, recovery=10.0), {"t1": host}, src)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    await advance_until(clock, lambda: s.state == "recovering")
    await clock.advance(2.0)  # still degraded for two seconds after the revert
    src.values["ok_rate"] = 1.0
    await drive(clock, task)
    rec = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "recovery-measured")
    assert rec.data["held"] is True and 1.9 <= rec.data["seconds"] <= 2.6
    assert task.result().outcome == "held"


async def test_runtime_blast_radius_refuses_too_many_targets(tmp_path: Path) -> None:
    hosts = {"a": Host("a"), "b": Host("b")}
    sc = make_scenario(Step(id="wide", title="by label", faults=fault_step(target="role=app").faults, duration=2.0),
                       targets=("a", "b"), max_targets=1)
    outcome = await _run(_session(tmp_path, sc, hosts, FakeSource(ok_rate=1.0)))
    assert outcome.outcome == "failed"
    assert "inject" not in hosts["a"].log + hosts["b"].log
    warn = next(e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "warning")
    assert "max_targets 1" in warn.data["message"]


async def test_notes_and_checklist_are_journaled(tmp_path: Path) -> None:
    s = _session(tmp_path, make_scenario(Step(id="b", title="b", confirm=False), require=()), {"t1": Host("t1")})
    s.subscribe(lambda e: s.add_note("seen the start") if e.type == "session-started" else None)
    await _run(s)
    events = read_journal(tmp_path / "j.jsonl").events
    assert [e.data["text"] for e in events if e.type == "note"] == ["seen the start"]


async def test_journal_header_carries_the_scenario(tmp_path: Path) -> None:
    s = _session(tmp_path, make_scenario(Step(id="b", title="b", confirm=False), require=()), {"t1": Host("t1")})
    await _run(s)
    header = json.loads((tmp_path / "j.jsonl").read_text().splitlines()[0])
    assert header["format"] == "controlroom-journal" and header["scenario"] == "engine-test"


def test_gate_resolves_once() -> None:
    async def go() -> None:
        g = Gate(kind="step")
        assert g.resolve("confirm") and not g.resolve("abort")
        assert await g.future == "confirm"

    asyncio.run(go())


async def test_a_target_cut_off_during_the_revert_is_confirmed_once_it_is_back(tmp_path: Path) -> None:
    host = Host("t1")
    src = FakeSource(ok_rate=1.0)

    def cut() -> None:
        src.values.update(ok_rate=0.5)  # trips the stop condition...
        host.reachable = False          # ...and the link to the host goes down with it

    host.on_inject = cut
    s = _session(tmp_path, make_scenario(fault_step(duration=30.0)), {"t1": host}, src, reconfirm_for=20.0)
    seen: list[str] = []
    s.subscribe(lambda e: seen.append(e.type))
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    # At most 60 s of session time: a regression fails here instead of hanging the run.
    await advance_until(clock, lambda: "fault-revert-failed" in seen, limit=60.0, what="fault-revert-failed")
    assert host.faulted and s.rollback.unconfirmed == ("t1",)
    host.reachable = True
    src.values["ok_rate"] = 1.0
    await drive(clock, task)
    outcome = task.result()
    assert outcome.unconfirmed == () and not host.faulted
    reverted = [e for e in read_journal(tmp_path / "j.jsonl").events if e.type == "fault-reverted"]
    assert reverted[-1].data.get("reconfirmed") is True


async def test_a_rollback_reaches_the_disk_with_one_fsync(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    hosts = {n: Host(n) for n in ("a", "b", "c")}
    faults = tuple(f for n in hosts for f in fault_step(target=n).faults)
    sc = make_scenario(Step(id="three", title="three", faults=faults, duration=30.0), targets=tuple(hosts),
                       max_targets=3)
    s = _session(tmp_path, sc, hosts, FakeSource(ok_rate=1.0))
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    await advance_until(clock, lambda: s.state == "observing")
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    before = len(read_journal(tmp_path / "j.jsonl").events)
    await s.rollback.rollback_all("test")
    events = read_journal(tmp_path / "j.jsonl").events[before:]
    assert [e.type for e in events].count("fault-reverted") == 3
    assert len(calls) == 1  # rollback-started, three fault-reverted and rollback-finished: one group commit
    monkeypatch.setattr(os, "fsync", real_fsync)
    await drive(clock, task)
