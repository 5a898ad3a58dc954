"""`controlroom replay` in the room: the same panes as the live session, under the reviewer's clock, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls, ReplayFeed
from controlroom.app.modals import GotoScreen, NoteScreen
from controlroom.engine.gates import InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.journal.reader import read_journal
from controlroom.replay import Replay, parse_time
from controlroom.viewstate import fold
from tests.tui.conftest import screen_text

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"
DEMO = FIXTURES / "demo.jsonl"  # recorded with `controlroom demo --headless`: a breach rolled back
SIZE = (120, 40)


def replay_app(path: Path, *, speed: float = 1.0, playing: bool = False) -> tuple[ControlRoomApp, ReplayFeed]:
    feed = ReplayFeed(Replay.open(path), speed=speed, playing=playing)
    return ControlRoomApp(feed, clock_tick=False), feed


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.pause()


def body(text: str) -> list[str]:
    """The panes under the header row and above the footer: what live and replay rooms share."""
    return text.splitlines()[3:-1]


async def test_replaying_the_demo_journal_ends_in_the_live_rooms_state() -> None:
    events = read_journal(DEMO).events
    live = ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls(), journal=str(DEMO)),
                          clock_tick=False)
    async with live.run_test(size=SIZE) as pilot:
        await settle(pilot)
        live_state, live_text = live.state, screen_text(live)
    app, feed = replay_app(DEMO)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert feed.replay.position == 0 and app.state.scenario  # the first frame: the session-started event
        await pilot.press("end")
        await settle(pilot)
        assert app.state == fold(events) == live_state
        assert body(screen_text(app)) == body(live_text)
        assert "VERDICT: all clean" in screen_text(app)


async def test_playing_at_60x_reaches_the_end_and_pauses_there() -> None:
    app, feed = replay_app(DEMO, speed=60.0, playing=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if feed.replay.at_end and not feed.replay.playing:
                break
        await settle(pilot)
        assert app.state.ended and app.state.outcome == "rolled-back"
        count = feed.replay.count
        assert "❚❚ paused 60×" in screen_text(app) and f"event {count}/{count}" in screen_text(app)


async def test_keys_play_pause_change_speed_and_step_through_events() -> None:
    app, feed = replay_app(DEMO)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "REPLAY" in text and "❚❚ paused 1×" in text and f"event 1/{feed.replay.count}" in text
        await pilot.press("plus", "plus")
        assert feed.replay.speed == 16.0
        await pilot.press("minus")
        assert feed.replay.speed == 4.0
        await pilot.press("full_stop", "full_stop", "right")
        assert feed.replay.position == 3
        await pilot.press("comma")
        assert feed.replay.position == 2
        await settle(pilot)
        assert app.state == fold(read_journal(DEMO).events[:3])
        await pilot.press("space")  # on the pre-flight screen too: space plays, it ticks nothing here
        assert feed.replay.playing
        await pilot.press("space")
        assert not feed.replay.playing
        await pilot.press("home")
        assert feed.replay.position == 0
        await pilot.press("question_mark")
        await settle(pilot)
        help_text = screen_text(app)
        assert "+ or =" in help_text and ". or →" in help_text and "go to a session time" in help_text
        assert "EMERGENCY STOP: revert" not in help_text and "add a timestamped note" not in help_text


@pytest.mark.parametrize("typed", ["0:10", "10", "T+00:10.5"])
async def test_go_to_a_time_lands_on_the_last_event_at_or_before_it(typed: str) -> None:
    events = read_journal(DEMO).events
    app, feed = replay_app(DEMO)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, GotoScreen)
        await pilot.press(*typed, "enter")
        await settle(pilot)
        t = parse_time(typed)
        expected = max(i for i, e in enumerate(events) if e.mono <= t)
        assert feed.replay.position == expected
        want = fold(events[: expected + 1])
        want.now = t
        assert app.state == want
        await pilot.press("right_square_bracket")  # +10 s
        assert feed.replay.position == max(i for i, e in enumerate(events) if e.mono <= t + 10)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert feed.replay.time == max(0.0, t - 10) and feed.replay.position == max(
            (i for i, e in enumerate(events) if e.mono <= t - 10), default=-1)


async def test_a_time_that_is_not_one_is_refused_on_screen() -> None:
    app, feed = replay_app(DEMO)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", *"soon", "enter")
        await settle(pilot)
        assert "not a time: 'soon'" in screen_text(app)
        assert isinstance(app.screen, GotoScreen) and feed.replay.position == 0  # the box stays for a retry
        await pilot.press("escape")
        assert feed.replay.position == 0


async def test_no_key_in_a_replay_reaches_a_session_or_a_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("emergency_stop", "add_note", "tick_checklist"):
        monkeypatch.setattr(Session, name, lambda *a, _n=name, **k: calls.append(_n))
    monkeypatch.setattr(InteractiveFacilitator, "resolve", lambda *a, **k: calls.append("resolve"))
    app, feed = replay_app(DEMO)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("c", "s", "a", "x", "space", "space", "escape", "end", "c", "s", "a", "n",
                    "f12", "exclamation_mark", "z", "z", "z", "z", "z"):
            await pilot.press(key)
        await settle(pilot)
        assert feed.controls is None and app.controls is None
        assert not app.stop_requested and not isinstance(app.screen, NoteScreen)
        assert "REPLAY" in screen_text(app) and "nothing here touches" in screen_text(app)
        assert "E-STOP" not in screen_text(app)  # the footer offers no stop
    assert calls == []


async def test_a_crashed_session_replays_marked_incomplete() -> None:
    app, feed = replay_app(FIXTURES / "crashed.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert feed.incomplete and feed.replay.warnings
        assert "INCOMPLETE" in screen_text(app)
        assert not app.state.ended
    complete, _ = replay_app(DEMO)
    assert not complete.feed.incomplete  # type: ignore[attr-defined]


def test_time_parsing() -> None:
    assert parse_time("90") == 90.0 and parse_time("1:30") == 90.0 and parse_time("T+01:02:03") == 3723.0
    for bad in ("", "1:75", "-3", "a:b", "1:2:3:4"):
        with pytest.raises(ValueError, match="not a time"):
            parse_time(bad)


async def test_a_far_seek_while_indexing_waits_for_the_index_then_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    build = Replay.build_index

    def slow_build(self: Replay, progress: Any = None) -> None:
        release.wait(10)
        build(self, progress)

    monkeypatch.setattr(Replay, "build_index", slow_build)
    feed = ReplayFeed(Replay.open(DEMO, every=5), playing=False)
    feed.FAR_SEEK_EVENTS = 20  # type: ignore[misc]
    app = ControlRoomApp(feed, clock_tick=False)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(40):
            await pilot.pause(0.05)
            if feed.index_progress is not None:
                break
        assert feed.index_progress is not None  # the worker started after the first frame
        await pilot.press("full_stop")  # near: moves at once
        assert feed.replay.position == 1
        await pilot.press("end")  # far: waits for the index instead of freezing the room
        await settle(pilot)
        assert feed.pending_seek == feed.replay.duration and feed.replay.position == 1
        assert "once indexed" in screen_text(app)
        release.set()
        for _ in range(100):
            await pilot.pause(0.02)
            if feed.indexed:
                break
        await settle(pilot)
        assert feed.replay.at_end and feed.pending_seek is None
        assert app.state == fold(read_journal(DEMO).events)
