"""Pilot tests for every gate and key of the room, against a fake session with the engine's surface."""

from __future__ import annotations

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, LiveFeed, RecordingControls
from controlroom.app.modals import HelpScreen, NoteScreen, QuitScreen
from controlroom.app.preflight_screen import PreflightScreen
from controlroom.widgets.rollback import RollbackPane
from controlroom.widgets.too_small import TooSmall
from tests.tui.conftest import FakeSession, screen_text

SIZE = (120, 40)


def live_app(fake: FakeSession, **kw: object) -> ControlRoomApp:
    return ControlRoomApp(LiveFeed(fake, fake.facilitator), **kw)  # type: ignore[arg-type]


async def wait_for_gate(app: ControlRoomApp, pilot: object) -> None:
    for _ in range(50):
        await pilot.pause()  # type: ignore[attr-defined]
        if app.state.active_gate() and app.feed.controls is not None and app.controls is not None:
            if app.feed.controls.facilitator.pending is not None:  # type: ignore[attr-defined]
                return
    raise AssertionError("the gate never opened")


async def test_confirm_key_injects_the_armed_step(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        assert "INJECT?" in screen_text(app)
        await pilot.press("c")
        await pilot.pause()
        assert fake.decisions == ["confirm"]
        await pilot.pause()
        assert app.state.targets["db-1"].state == "faulted"
        assert "⏱" in screen_text(app)


async def test_skip_key_skips_the_step(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert fake.decisions == ["skip"]
        await pilot.pause()
        assert app.state.step is not None and app.state.step.outcome == "skipped"
        assert app.state.faulted_targets == []


async def test_abort_key_aborts_at_the_gate(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.pause()
        assert fake.decisions == ["abort"]
        assert app.state.outcome == "aborted"


async def test_gate_keys_do_nothing_when_no_step_is_armed(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("s", "a")
        await pilot.pause()
        assert fake.decisions == ["confirm"]  # the later keys found no gate


async def test_estop_from_inside_the_help_modal(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("exclamation_mark")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]
        assert not isinstance(app.screen, HelpScreen)  # the progress is on the main view
        assert app.query_one(RollbackPane).has_class("-visible")
        text = screen_text(app)
        assert "1 unconfirmed: api-1" in text
        # The rollback finished and the session ended: the red control says what is left, not "stopping".
        assert "SESSION ENDED" in text and "NOT clean: api-1" in text and "STOPPING" not in text


async def test_estop_f12_from_inside_the_note_modal_and_bang_types_in_the_note(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)
        # While typing, "!" is text (a note like "db down!" must not stop the game day); F12 always stops.
        await pilot.press("x", "exclamation_mark")
        await pilot.pause()
        assert fake.stops == []
        await pilot.press("f12")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]
        assert not isinstance(app.screen, NoteScreen)
        assert fake.notes == ["x!"]  # the half-typed note is kept, not lost to the stop


async def test_estop_twice_stops_once(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("f12", "f12", "exclamation_mark")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]


async def test_estop_from_the_preflight_screen(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        await pilot.press("f12")
        await pilot.pause()
        assert fake.stops == ["key"]
        assert not isinstance(app.screen, PreflightScreen)


async def test_note_goes_to_the_session_and_the_log(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"db slow", "enter")
        await pilot.pause()
        await pilot.pause()
        assert fake.notes == ["db slow"]
        assert "✎ facilitator: db slow" in screen_text(app)


async def test_escape_drops_the_note(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("n", "x", "escape")
        await pilot.pause()
        assert fake.notes == []


async def test_quit_with_active_faults_asks_then_stops_before_exiting(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        assert app.state.faulted_targets
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen) and fake.stops == []
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]
    assert app.return_value == 1  # the session's outcome: stopped


async def test_quit_without_active_faults_does_not_ask_and_ends_the_session(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen)
        for _ in range(40):
            if app.return_value is not None:
                break
            await pilot.pause(0.05)
    assert fake.stops == ["key"]  # the session is ended through the one stop path, so its journal closes
    assert app.return_value == 1  # left before the session ended: not a held hypothesis


async def test_command_palette_offers_the_emergency_stop(fake: FakeSession) -> None:
    from textual.command import CommandPalette

    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Emergency stop")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]


async def test_checklist_items_are_ticked_through_the_session(fake: FakeSession) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("down", "space")
        await pilot.pause()
        assert fake.ticks == [("status page drafted", True)]
        await pilot.pause()
        assert app.state.checklist["status page drafted"] is True
        assert "[x] status page drafted" in screen_text(app)


async def test_keymap_remaps_a_key(fake: FakeSession) -> None:
    app = live_app(fake, keymap={"note": "m"})
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)


async def test_read_only_view_has_no_controls_and_keys_do_nothing() -> None:
    feed = EventListFeed(fixtures.gate_events(), mode="watch")
    app = ControlRoomApp(feed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert app.state.active_gate()
        for key in ("c", "s", "a", "exclamation_mark", "f12", "n"):
            await pilot.press(key)
            await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        assert not app.stop_requested
        assert app.state.step is not None and app.state.step.decision is None
        for action in ("emergency_stop", "decide", "note"):
            assert app.check_action(action, ()) is False
        text = screen_text(app)
        assert "READ-ONLY" in text
        footer = text.rstrip("\n").splitlines()[-1]
        assert "E-STOP" not in footer and "Confirm" not in footer and "Note" not in footer
        assert "Help" in footer
        assert "waiting for the facilitator" in text


async def test_help_lists_the_keys_and_closes() -> None:
    app = ControlRoomApp(EventListFeed(fixtures.mid_step_events()), keymap={"emergency-stop": "f12,f11"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Read-only view" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_too_small_overlay_says_how_big_is_enough() -> None:
    app = ControlRoomApp(EventListFeed(fixtures.mid_step_events()))
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        overlay = app.query_one(TooSmall)
        assert overlay.display
        text = screen_text(app)
        assert "70x20" in text and "80x24" in text
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not overlay.display


async def test_clicking_the_red_control_stops(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.click("#estop")
        await pilot.pause()
        await pilot.pause()
        assert fake.stops == ["key"]


async def test_events_arriving_under_a_modal_are_folded_and_shown_after(fake: FakeSession) -> None:
    app = live_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        fake.emit_new("note", text="seen under the help", author="observer")
        fake.emit(fixtures.ev("metric-sample", 61.5, values={"p99_ms": 6000.0}, errors={}))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        text = screen_text(app)
        assert "seen under the help" in text and "6000" in text


async def test_a_feed_that_fails_says_so_and_keeps_the_room_open() -> None:
    from controlroom.errors import JournalError

    class Broken(EventListFeed):
        async def pump(self, emit):  # type: ignore[no-untyped-def]
            raise JournalError("x.jsonl: journal already exists; choose another --journal path")

    app = ControlRoomApp(Broken([], mode="live", controls=None))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert "journal already exists" in screen_text(app)
        assert app.exit_code == 2


async def test_a_failed_preflight_stays_on_screen_with_the_reason() -> None:
    events = [*fixtures.preflight_events(until=3.0),
              fixtures.ev("preflight-check", 3.6, check="reachable", target="api-2", ok=False, detail="timed out"),
              fixtures.ev("session-ended", 3.7, outcome="preflight-failed", exit_code=2, unconfirmed=[],
                          message="api-2: not reachable over ssh")]
    app = ControlRoomApp(EventListFeed(events, mode="watch"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        text = screen_text(app)
        assert "NOT STARTED (preflight-failed): api-2: not reachable over ssh" in text
        assert "✗ reachable" in text


async def test_lost_telemetry_is_shown_until_restored() -> None:
    events = [*fixtures.mid_step_events(),
              fixtures.ev("telemetry-lost", 126.0, source="prober", policy="rollback", detail="connection refused")]
    app = ControlRoomApp(EventListFeed(events))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert "telemetry LOST: prober" in screen_text(app)
        app.receive(fixtures.ev("telemetry-restored", 130.0, source="prober"))
        await pilot.pause()
        assert "telemetry LOST" not in screen_text(app).split("Event log")[0]


async def test_zoom_cycles_through_the_panes_and_back_keeping_the_stop_in_view() -> None:
    app = ControlRoomApp(EventListFeed(fixtures.mid_step_events(), mode="live", controls=RecordingControls()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        text = screen_text(app)
        assert "orders_rows" in text and "Blast radius" not in text
        assert "stop if < 0.95" in text  # the zoomed metrics pane has room for each series' thresholds
        assert "EMERGENCY STOP" in text
        await pilot.press("z")
        await pilot.pause()
        text = screen_text(app)
        assert "Blast radius" in text and "Metrics" not in text and "EMERGENCY STOP" in text
        await pilot.press("z", "z", "z")
        await pilot.pause()
        text = screen_text(app)
        assert "Blast radius" in text and "Metrics" in text and "Timeline" in text


async def test_a_gate_is_not_hidden_by_a_zoomed_pane() -> None:
    app = ControlRoomApp(EventListFeed(fixtures.gate_events(), mode="live", controls=RecordingControls()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        text = screen_text(app)
        assert "INJECT?" in text and "orders_rows" in text and "Blast radius" not in text
