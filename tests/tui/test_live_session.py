"""The room driving the real engine: a Session with an in-memory target, confirmed and stopped from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import LiveFeed
from controlroom.app.preflight_screen import PreflightScreen
from controlroom.engine.gates import InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.faults import catalogue as cat
from controlroom.journal.reader import read_journal
from controlroom.scenario.model import (
    BlastRadius,
    FaultSpec,
    Observe,
    Scenario,
    SteadyState,
    Step,
    StopWhen,
    Target,
)
from controlroom.targets.memory import MemoryExecutor
from tests.doubles import FLAG, Host
from tests.tui.conftest import screen_text


class SteadySource:
    """ok_rate is 1.0 unless `host` is faulted and `hurts` is set: then the fault really hurts."""

    name = "fake"

    def __init__(self, host: Host | None = None, hurts: bool = False) -> None:
        self.host = host
        self.hurts = hurts

    def series(self) -> list[str]:
        return ["ok_rate"]

    async def start(self) -> None:
        return None

    async def sample(self) -> dict[str, float | None]:
        hurt = self.hurts and self.host is not None and self.host.faulted
        return {"ok_rate": 0.5 if hurt else 1.0}

    async def close(self) -> None:
        return None


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Host:
    monkeypatch.setitem(cat.catalogue(), "flag", FLAG)
    return Host()


def make_session(host: Host, journal: Path, hurts: bool = False,
                 checklist: tuple[str, ...] = ()) -> tuple[Session, InteractiveFacilitator]:
    scenario = Scenario(
        name="tui-live", hypothesis="ok_rate stays up", environment="test",
        targets={"t1": Target(name="t1", kind="local")},
        steps=(Step(id="flip", title="Flip the flag on t1", faults=(FaultSpec(type="flag", target="t1"),),
                    duration=30.0, expect="ok_rate stays at 1"),),
        # Real time: a window of a few samples that a loaded machine (CI's 4 workers on 2 cores) still fills.
        observe=Observe(every=0.2, lost_after=5.0),
        steady_state=SteadyState(window=1.0, require=("ok_rate >= 0.95",)),
        blast_radius=BlastRadius(max_targets=1, max_duration=60.0, allowed_environments=("test",)),
        stop_when=StopWhen(conditions=("ok_rate < 0.8",)), checklist=checklist,
    )
    facilitator = InteractiveFacilitator()
    session = Session(scenario, journal_path=journal, facilitator=facilitator, sources=[SteadySource(host, hurts)],  # type: ignore[list-item]
                      executor_factory=lambda t: MemoryExecutor(t.name, host.handle), control=False)
    return session, facilitator


async def until(pilot, check, what: str, tries: int = 600) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(f"never happened: {what}")


async def test_confirm_then_estop_reverts_the_real_fault(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "live.jsonl"
    session, facilitator = make_session(host, journal)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None and app.state.active_gate(), "the gate opens")
        assert "Flip the flag on t1" in screen_text(app)
        await pilot.press("c")
        await until(pilot, lambda: host.faulted and app.state.targets["t1"].state == "faulted", "t1 is faulted")
        await pilot.press("question_mark")  # the stop works from inside a modal
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: app.state.ended, "the session ends")
        await pilot.pause()
        assert not host.faulted
        assert app.state.rollback is not None and app.state.rollback.verdict == "all clean"
        assert "VERDICT: all clean" in screen_text(app)
        await pilot.press("q")
    types = [e.type for e in read_journal(journal).events]
    assert types.index("fault-injected") < types.index("emergency-stop") < types.index("session-ended")
    assert app.return_value == 1  # stopped by the facilitator: not a held hypothesis


async def test_note_and_checklist_reach_the_journal(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "notes.jsonl"
    session, facilitator = make_session(host, journal)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None, "the gate opens")
        await pilot.press("n", *"hello room", "enter")
        await pilot.press("s")  # skip the step: nothing injected
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    assert [e.get("text") for e in events if e.type == "note"] == ["hello room"]
    assert not [e for e in events if e.type == "fault-injecting"]
    assert not host.faulted


async def test_quitting_at_a_gate_ends_the_journal_cleanly(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "quit.jsonl"
    session, facilitator = make_session(host, journal)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None, "the gate opens")
        await pilot.press("q")
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    assert events[-1].type == "session-ended" and events[-1].get("outcome") == "aborted"
    assert not [e for e in events if e.type == "fault-injecting"]


async def test_a_breach_rolls_back_by_itself_and_the_room_shows_it(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "breach.jsonl"
    session, facilitator = make_session(host, journal, hurts=True)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None, "the gate opens")
        await pilot.press("c")
        await until(pilot, lambda: app.state.ended, "the stop condition rolls back and the session ends")
        await pilot.pause()
        text = screen_text(app)
        assert not host.faulted
        assert any(m.kind == "breach" for m in app.state.markers)
        assert "⚠" in text and "VERDICT: all clean" in text
        assert app.state.targets["t1"].state == "clean"
        assert app.state.outcome == "rolled-back"


CHECKLIST = ("on-call knows", "status page drafted")


async def test_the_checklist_is_ticked_and_confirmed_before_the_first_step(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "checklist.jsonl"
    session, facilitator = make_session(host, journal, checklist=CHECKLIST)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None and app.state.checklist_pending(),
                    "the checklist gate opens")
        assert isinstance(app.screen, PreflightScreen)
        assert "START?" in screen_text(app) and "2 items to tick first" in screen_text(app)
        await pilot.press("space", "down", "space")
        await until(pilot, lambda: app.state.checklist_done, "both items are ticked")
        await pilot.press("c")
        await until(pilot, lambda: app.state.active_gate(), "the first step's gate opens")
        assert not isinstance(app.screen, PreflightScreen)  # the room closed the pre-flight screen
        await pilot.press("s")
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    ticks = [(e.get("item"), e.get("ticked")) for e in events if e.type == "checklist-item"]
    assert ticks == [("on-call knows", True), ("status page drafted", True)]
    gate = next(e for e in events if e.type == "step-confirmed" and e.get("gate") == "checklist")
    assert gate.get("decision") == "confirm"
    types = [e.type for e in events]
    assert types.index("checklist-item") < events.index(gate) < types.index("step-briefed")


async def test_starting_before_every_item_is_ticked_is_refused(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "early.jsonl"
    session, facilitator = make_session(host, journal, checklist=CHECKLIST)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None and app.state.checklist_pending(),
                    "the checklist gate opens")
        await pilot.press("space", "c")  # one of two ticked
        await pilot.pause(0.3)
        assert facilitator.pending is not None and facilitator.pending.kind == "checklist"
        assert "not started: tick every checklist item first (status page drafted)" in screen_text(app)
        assert app.state.checklist_pending() and app.state.step is None
        await pilot.press("a")  # abort at the checklist: the session ends without a step
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    assert [e.get("decision") for e in events if e.type == "step-confirmed"] == ["abort"]
    assert not [e for e in events if e.type in ("step-briefed", "fault-injecting")]
    assert events[-1].type == "session-ended" and events[-1].get("outcome") == "aborted"


async def test_the_stop_key_works_at_the_checklist_gate(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "stop-at-checklist.jsonl"
    session, facilitator = make_session(host, journal, checklist=CHECKLIST)
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None and app.state.checklist_pending(),
                    "the checklist gate opens")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    types = [e.type for e in events]
    assert "emergency-stop" in types and "step-briefed" not in types and "fault-injecting" not in types
    assert [e.get("decision") for e in events if e.type == "step-confirmed"] == ["abort"]


async def test_the_facilitator_judges_the_statements_in_a_modal_at_the_end(
        host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from controlroom.app.modals import StatementsScreen
    from controlroom.scenario.model import SuccessCriteria

    monkeypatch.setenv("CONTROLROOM_FACILITATOR", "Grace")
    journal = tmp_path / "judged.jsonl"
    session, facilitator = make_session(host, journal)
    session.scenario = dataclasses.replace(session.scenario, success_criteria=SuccessCriteria(
        statements=("nobody was paged", "the runbook was enough")))
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None, "the gate opens")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StatementsScreen), "the statements are asked")
        assert "nobody was paged" in screen_text(app) and "1 of 2" in screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: "the runbook was enough" in screen_text(app), "the second statement")
        await pilot.press("s")
        await until(pilot, lambda: app.state.ended, "the session ends")
    events = read_journal(journal).events
    assert [e.data for e in events if e.type == "criterion-judged"] == [
        {"criterion": "nobody was paged", "met": False, "by": "Grace"},
        {"criterion": "the runbook was enough", "met": None, "by": "nobody (Grace skipped it)"}]
    assert events[-1].data["outcome"] == "failed"  # the room and the report agree: a statement was not met


class StuckSource(SteadySource):
    """Hurts once the fault is in, and stays hurt after it is reverted: recovery never comes."""

    def __init__(self, host: Host) -> None:
        super().__init__(host, hurts=False)
        self.stuck = False

    async def sample(self) -> dict[str, float | None]:
        if self.host is not None and self.host.faulted:
            self.stuck = True
        return {"ok_rate": 0.9 if self.stuck else 1.0}


async def test_after_an_estop_the_room_watches_recovery_and_e_ends_the_watch(host: Host, tmp_path: Path) -> None:
    journal = tmp_path / "watch.jsonl"
    session, facilitator = make_session(host, journal)
    session.sources = [StuckSource(host)]  # type: ignore[list-item]
    app = ControlRoomApp(LiveFeed(session, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None, "the gate opens")
        await pilot.press("c")
        await until(pilot, lambda: host.faulted, "t1 is faulted")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: app.state.recovering_after_stop(), "the room watches recovery after the stop")
        assert not host.faulted
        assert "End recovery" in screen_text(app)  # the key is offered while the watch runs
        await pilot.press("e")
        await until(pilot, lambda: app.state.ended, "the session ends once the watch is ended")
    events = read_journal(journal).events
    rec = next(e for e in events if e.type == "recovery-measured")
    assert rec.data["after_stop"] is True and rec.data["held"] is False
    assert "ended the watch" in rec.data["detail"]
    assert events[-1].data["outcome"] == "aborted"
