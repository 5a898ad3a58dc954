"""Snapshots of the room's main states at 80x24 and 120x40, fed fixed events (no wall clock, no animation).

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`.
Plain `def`: snap_compare runs the app itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls
from controlroom.journal.events import Event

STATES: dict[str, Callable[[], list[Event]]] = {
    "preflight": fixtures.preflight_events,
    "gate": fixtures.gate_events,
    "mid-step": fixtures.mid_step_events,
    "estop-progress": lambda: fixtures.estop_events(finished=False),
    "estop-verdict": lambda: fixtures.estop_events(finished=True),
}


def facilitator_app(events: list[Event]) -> ControlRoomApp:
    return ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls()), clock_tick=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("state", list(STATES))
def test_room_state_snapshot(snap_compare, state: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(facilitator_app(STATES[state]()), terminal_size=size, run_before=settle)


def test_watch_view_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = ControlRoomApp(EventListFeed(fixtures.gate_events(), mode="watch"), clock_tick=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_too_small_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(facilitator_app(fixtures.mid_step_events()), terminal_size=(64, 18), run_before=settle)


def test_replay_final_frame_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The recorded demo replayed to its end: the live room's panes, the REPLAY banner, no stop."""
    from pathlib import Path

    from controlroom.app.feeds import ReplayFeed
    from controlroom.replay import Replay

    journal = Path(__file__).parents[1] / "report" / "fixtures" / "demo.jsonl"
    feed = ReplayFeed(Replay.open(journal), playing=False)
    feed.journal = "tests/report/fixtures/demo.jsonl"  # the end screen names it: not this machine's absolute path
    app = ControlRoomApp(feed, clock_tick=False)

    async def to_the_end(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=to_the_end)


# ---- issue 12: every series visible, a stop that finishes after the end, a guarded palette quit, the end screen ---

SIZES = [(80, 24), (120, 40), (160, 48)]


async def _palette_quit(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"Quit")
    await pilot.pause(0.3)
    await pilot.press("enter")
    # The footer under the modal recomposes from a signal after the screen change: let it land.
    await pilot.pause(0.2)
    await settle(pilot)


def _after(*keys: str) -> Callable[..., object]:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


ROOM_CASES: dict[str, tuple[Callable[[], list[Event]], Callable[..., object]]] = {
    "twelve-series": (fixtures.wide_events, settle),  # the expected series pinned, the rest counted
    "twelve-series-zoomed": (fixtures.wide_events, _after("z")),  # zoom shows all twelve
    "end-screen": (fixtures.ended_events, settle),
    "f12-after-the-end": (fixtures.ended_events, _after("f12")),  # says "nothing active — all clean" at once
    "palette-quit-with-faults": (fixtures.mid_step_events, _palette_quit),  # the guarded quit's question
}


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40", "160x48"])
@pytest.mark.parametrize("case", list(ROOM_CASES))
def test_room_snapshot(snap_compare, case: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    make_events, run_before = ROOM_CASES[case]
    feed = EventListFeed(make_events(), mode="live", controls=RecordingControls(), journal=fixtures.JOURNAL)
    app = ControlRoomApp(feed, clock_tick=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
