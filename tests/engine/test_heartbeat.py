"""The session's heartbeat, on a clock the test controls: every leash and claim renewed every window/3, in one
command per host, whatever the session is doing — observing, injecting, or waiting at a gate."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.heartbeat import batch, split
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.scenario.model import Step
from controlroom.targets.base import Action, ActionResult, Shell
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario

WINDOW = 10.0  # the default blast_radius.leash


def _session(tmp_path: Path, scenario, hosts: dict[str, Host], handler=None) -> Session:  # type: ignore[no-untyped-def]
    return Session(scenario, journal_path=tmp_path / "j.jsonl", clock=ManualClock(), sources=[FakeSource(ok_rate=1.0)],
                   executor_factory=lambda t: MemoryExecutor(t.name, (handler or hosts[t.name].handle)))


async def _until(session: Session, state: str) -> None:
    clock: ManualClock = session.clock  # type: ignore[assignment]
    for _ in range(2000):
        if session.state == state:
            return
        await clock.advance(0.1)
    raise AssertionError(f"never reached {state}; at {session.state}")


async def test_every_leash_is_renewed_every_few_seconds_in_one_command_per_host(tmp_path: Path) -> None:
    hosts = {"a": Host("a"), "b": Host("b")}
    two_on_a = fault_step(target="a").faults * 2
    sc = make_scenario(Step(id="long", title="long", faults=two_on_a + fault_step(target="b").faults,
                            duration=60.0), targets=("a", "b"), max_targets=2)
    s = _session(tmp_path, sc, hosts)
    task = asyncio.ensure_future(s.run())
    clock: ManualClock = s.clock  # type: ignore[assignment]
    await _until(s, "observing")
    before = {n: (h.commands, h.log.count(f"renew {WINDOW:.1f}")) for n, h in hosts.items()}
    start = s.now()
    await clock.advance(30.0)  # a quarter of the step: the old step loop renewed once in that time, per fault
    for name, faults in (("a", 2), ("b", 1)):
        commands = hosts[name].commands - before[name][0]
        renewals = hosts[name].log.count(f"renew {WINDOW:.1f}") - before[name][1]
        assert 30.0 / (WINDOW / 3) - 1 <= commands <= 30.0 / (WINDOW / 3) + 1, (name, commands)
        assert renewals == faults * commands  # every leash on the host, in that one command
    rounds = [e for e in read_journal(tmp_path / "j.jsonl").events
              if e.type == "leash-renewed" and e.mono >= start]
    assert all(e.data["faults"] == ["long/0@a", "long/1@a", "long/2@b"] for e in rounds)
    assert all(e.data["leash_s"] == WINDOW for e in rounds)
    gaps = [b.mono - a.mono for a, b in itertools.pairwise(rounds)]
    assert gaps and max(gaps) <= WINDOW / 3 + 0.01  # never a gap anywhere near the window
    await s.emergency_stop("key")
    await drive(clock, task)
    assert not hosts["a"].faulted and not hosts["b"].faulted


async def test_a_fault_still_being_injected_is_renewed_too(tmp_path: Path) -> None:
    host = Host("t1")
    clock = ManualClock()

    async def slow(action: Action) -> ActionResult:
        if isinstance(action, Shell) and action.script == "inject":
            await clock.sleep(25.0)  # an injection that takes longer than two windows
        return host.handle(action)

    s = Session(make_scenario(fault_step(duration=5.0)), journal_path=tmp_path / "j.jsonl", clock=clock,
                sources=[FakeSource(ok_rate=1.0)], executor_factory=lambda t: MemoryExecutor(t.name, slow))
    task = asyncio.ensure_future(s.run())
    await _until(s, "injecting")
    await clock.advance(1.0)
    renewed = host.log.count(f"renew {WINDOW:.1f}")
    await clock.advance(20.0)
    assert not host.faulted  # still injecting...
    assert host.log.count(f"renew {WINDOW:.1f}") - renewed >= 20.0 / (WINDOW / 3) - 1  # ...and kept leashed
    await drive(clock, task)
    assert task.result().outcome == "held" and not host.faulted


async def test_the_claim_is_renewed_while_the_room_waits_at_a_gate(tmp_path: Path) -> None:
    from controlroom.engine.gates import InteractiveFacilitator

    host = Host("t1")
    fac = InteractiveFacilitator()
    gates = []
    fac.on_gate(gates.append)
    s = Session(make_scenario(fault_step(confirm=True)), journal_path=tmp_path / "j.jsonl", clock=ManualClock(),
                sources=[FakeSource(ok_rate=1.0)], facilitator=fac,
                executor_factory=lambda t: MemoryExecutor(t.name, host.handle))
    task = asyncio.ensure_future(s.run())
    await _until(s, "awaiting-confirmation")
    taken = len(host.claims)
    await s.clock.advance(60.0)  # type: ignore[attr-defined]
    assert len(host.claims) - taken >= 60.0 / (WINDOW / 3) - 1 and "inject" not in host.log
    gates[-1].resolve("confirm")
    await drive(s.clock, task)  # type: ignore[arg-type]
    assert task.result().outcome == "held"
    assert host.claims[0] == "take" and host.claims[-1] == "release"  # released once the host is verified clean


async def test_a_leash_that_fired_while_the_room_lived_rolls_back_and_verifies(tmp_path: Path) -> None:
    host = Host("t1")
    s = _session(tmp_path, make_scenario(fault_step(duration=60.0)), {"t1": host})
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    host.guard_fired = True  # the guard is gone: it fired (or was killed) behind the room's back
    await drive(s.clock, task)  # type: ignore[arg-type]
    outcome = task.result()
    assert outcome.outcome == "rolled-back" and outcome.unconfirmed == () and not host.faulted
    events = read_journal(tmp_path / "j.jsonl").events
    expired = next(e for e in events if e.type == "leash-expired")
    assert expired.data["target"] == "t1" and "not running" in expired.data["detail"]
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["source"] == "leash" and stop.mono - expired.mono < 0.01
    # Clean only because the verify said so, after the expiry: not on the guard's word.
    assert host.log.index("verify", host.log.index(f"renew {WINDOW:.1f}")) > 0
    reverted = next(e for e in events if e.type == "fault-reverted")
    assert reverted.mono >= expired.mono and reverted.data["verified"] is True


async def test_a_host_another_room_holds_refuses_preflight_and_nothing_is_injected(tmp_path: Path) -> None:
    host = Host("t1", claim_holder="session=room-a pid=4242 by=alice@desk since=2026-01-01T09:00:00Z expires=99")
    outcome = await _run_to_end(_session(tmp_path, make_scenario(fault_step()), {"t1": host}))
    assert outcome.exit_code == 2
    assert outcome.message.startswith(
        "pre-flight failed: t1 is under fault by session room-a (pid 4242, facilitator alice@desk, "
        "since 2026-01-01T09:00:00Z)")
    assert "inject" not in host.log and "arm 10.0" not in host.log
    assert "has-tool" not in host.log  # the claim comes first: the rest of the host's checks never ran


async def test_a_host_taken_over_by_another_room_is_never_reverted_by_this_one(tmp_path: Path) -> None:
    hosts = {"a": Host("a"), "b": Host("b")}
    sc = make_scenario(Step(id="two", title="two", faults=fault_step(target="a").faults + fault_step(target="b").faults,
                            duration=60.0), targets=("a", "b"), max_targets=2)
    s = _session(tmp_path, sc, hosts)
    task = asyncio.ensure_future(s.run())
    await _until(s, "observing")
    # This room went silent past its claim; room B took host a over (its pre-flight found a clean).
    hosts["a"].claim_holder = "session=room-b pid=7 by=bob@laptop since=2026-01-01T00:00:30Z expires=99"
    a_log = len(hosts["a"].log)
    await drive(s.clock, task)  # type: ignore[arg-type]
    outcome = task.result()
    assert outcome.outcome == "rolled-back" and outcome.unconfirmed == ("a",)  # not verified by us: not clean
    assert "revert" not in hosts["a"].log[a_log:]  # room B's faults on a are left alone...
    assert "revert" in hosts["b"].log and not hosts["b"].faulted  # ...b is rolled back as usual
    events = read_journal(tmp_path / "j.jsonl").events
    failed = next(e for e in events if e.type == "fault-revert-failed")
    assert failed.data["target"] == "a" and "taken over by session room-b (pid 7" in failed.data["error"]
    assert next(e for e in events if e.type == "emergency-stop").data["source"] == "leash"
    # a's claim is room B's now: no release is even sent there; b's own is released after its verified revert.
    assert hosts["a"].claims[-1] == "take" and hosts["b"].claims[-1] == "release"


async def _run_to_end(session: Session):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(session.run())
    await drive(session.clock, task)  # type: ignore[arg-type]
    return task.result()


def test_a_batch_answers_each_part_as_if_it_ran_alone() -> None:
    parts = [Shell("exit 0"), Shell("echo gone >&2; exit 75"), Shell("echo fine")]
    one = batch(parts)
    assert one is not None and one.script.count("( ") == 3
    import subprocess

    proc = subprocess.run(["sh", "-c", one.script], capture_output=True, text=True, check=False)
    answers = split(parts, ActionResult(ok=proc.returncode == 0, status=proc.returncode, stdout=proc.stdout))
    assert [(a.ok, a.status) for a in answers] == [(True, 0), (False, 75), (True, 0)]
    assert answers[1].detail == "gone" and answers[2].stdout == "fine"
    lost = split(parts, ActionResult(ok=False, error="connection refused"))
    assert all(a.error == "connection refused" for a in lost)
    assert batch([Shell("a", sudo=True), Shell("b")]) is None  # one command cannot be both sudo and not
