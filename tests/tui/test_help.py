"""Help is built from the bindings: one table says what each key does, for the footer, the keymap and help."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.widgets import Static

from controlroom.app import fixtures
from controlroom.app.app import CONTROL_ACTIONS, PLAYBACK_ACTIONS, ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls, ReplayFeed
from controlroom.app.keymap import BINDING_IDS
from controlroom.app.modals import HelpScreen
from controlroom.replay import Replay

SIZE = (120, 40)
DEMO = Path(__file__).parents[1] / "report" / "fixtures" / "demo.jsonl"
# The stop's second binding (after the end) shares the stop's keys and its keymap entry (the room moves both):
# help names the stop once, and the keymap file has no id for it.
NO_HELP_LINE = {"emergency-stop-ended"}


def room_bindings() -> list[Binding]:
    return [b for b in ControlRoomApp.BINDINGS if isinstance(b, Binding)]


async def help_lines(app: ControlRoomApp) -> list[str]:
    """The help screen as it is shown: one line per key."""
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = str(app.screen.query_one(Static).render())
    return [line.strip() for line in shown.splitlines()]


def live_room() -> ControlRoomApp:
    return ControlRoomApp(EventListFeed(fixtures.mid_step_events(), mode="live", controls=RecordingControls()),
                          keymap={"note": "m"})


def replay_room() -> ControlRoomApp:
    return ControlRoomApp(ReplayFeed(Replay.open(DEMO), playing=False))


def test_every_binding_has_a_help_line_and_a_keymap_id() -> None:
    for binding in room_bindings():
        assert binding.id is not None and (binding.id in BINDING_IDS) == (binding.id not in NO_HELP_LINE), binding
        assert bool(binding.tooltip) == (binding.id not in NO_HELP_LINE), binding.id


async def test_every_binding_appears_in_help_and_every_help_line_comes_from_a_binding() -> None:
    tooltips = {b.tooltip: b for b in room_bindings() if b.tooltip}
    seen: set[str] = set()
    for app in (live_room(), replay_room()):
        lines = await help_lines(app)
        rows = [line for line in lines if "  " in line]  # "keys  what": the other lines are the title and footnotes
        assert rows
        for row in rows:
            keys, what = (part.strip() for part in row.split("  ", 1))
            assert what in tooltips, f"help line {row!r} is not a binding's"
            binding = tooltips[what]
            assert keys == app.keys_for(str(binding.id))  # the keys after the user's keymap
            seen.add(what)
    assert seen == set(tooltips)  # a live room and a replay together show every key
    live = dict((line.split("  ", 1)[1].strip(), line.split("  ", 1)[0]) for line in await help_lines(live_room())
                if "  " in line)
    assert live["add a timestamped note to the journal"] == "m"


async def test_a_read_only_room_lists_no_control_and_a_live_room_no_playback() -> None:
    def actions(lines: list[str]) -> set[str]:
        by_tip = {b.tooltip: b.action.split("(")[0] for b in room_bindings() if b.tooltip}
        return {by_tip[line.split("  ", 1)[1].strip()] for line in lines if "  " in line}

    replay = actions(await help_lines(replay_room()))
    assert not replay & CONTROL_ACTIONS and PLAYBACK_ACTIONS <= replay
    live = actions(await help_lines(live_room()))
    assert not live & PLAYBACK_ACTIONS and {"emergency_stop", "decide", "note"} <= live
