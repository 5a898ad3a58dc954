"""The end of a session and every way out: an end screen, a stop key that always finishes, a guarded quit.

- F12 after the session ended says at once what is left ("nothing active — all clean"), never a stop banner
  that does not finish; the same on the too-small overlay.
- The command palette offers the room's actions; its Quit (and ctrl+q) goes through the guarded quit.
- The end screen: outcome, verdict, what was faulted and whether it is verified clean, recovery, notes,
  the journal and the commands to replay and report it. The same summary is printed on exit.
"""

from __future__ import annotations

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, LiveFeed, RecordingControls
from controlroom.app.modals import QuitScreen
from controlroom.summary import summary_lines
from controlroom.viewstate import fold
from controlroom.widgets.too_small import TooSmall
from tests.tui.conftest import FakeSession, screen_text
from tests.tui.test_keys import wait_for_gate

SIZES = [(80, 24), (120, 40), (160, 48)]
IDS = ["80x24", "120x40", "160x48"]


def facilitator_app(events: list, controls: RecordingControls | None = None) -> ControlRoomApp:  # type: ignore[type-arg]
    feed = EventListFeed(events, mode="live", controls=controls or RecordingControls(), journal=fixtures.JOURNAL)
    return ControlRoomApp(feed, clock_tick=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()


def pane_text(app: ControlRoomApp, widget: type) -> str:  # type: ignore[type-arg]
    """A pane's rows as one line of words: wrapped text reads as written."""
    region = app.query_one(widget).region
    rows = screen_text(app).splitlines()[region.y:region.bottom]
    return " ".join(" ".join(row[region.x + 1:region.right - 1] for row in rows).split())


def footer(app: ControlRoomApp) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


# ---- the stop key after the end, and with nothing active ------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_f12_after_the_session_ended_says_nothing_active_at_once(size: tuple[int, int]) -> None:
    controls = RecordingControls()
    app = facilitator_app(fixtures.ended_events(), controls)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await pilot.pause()
        text = screen_text(app)
        assert "nothing active — all clean" in text
        assert "STOPPING" not in text and "rolling back" not in text
        assert ("emergency_stop", None) not in controls.calls  # an ended session has nothing to stop
        await pilot.press("exclamation_mark")
        await settle(pilot)
        assert "STOPPING" not in screen_text(app)


async def test_f12_after_an_unclean_end_names_what_is_not_confirmed() -> None:
    app = facilitator_app(fixtures.estop_events(finished=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        text = screen_text(app)
        assert "NOT confirmed clean: api-1" in text and "controlroom recover" in text
        assert "all clean" not in text


async def test_a_revert_the_journal_does_not_say_was_verified_is_never_called_clean() -> None:
    events = [e for e in fixtures.ended_events() if not (e.type == "fault-reverted" and e.get("target") == "db-1")]
    events.append(fixtures.ev("fault-reverted", 242.4, fault="slow-db/0", target="db-1"))  # no `verified`
    app = facilitator_app(sorted(events, key=lambda e: e.mono))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "not verified: db-1" in text.splitlines()[1]  # the red control
        await pilot.press("f12")
        await settle(pilot)
        text = screen_text(app)
        assert "nothing active — all clean" not in text and "reverted, not verified: db-1" in text


async def test_f12_with_nothing_active_says_so_at_once_and_still_ends_the_session() -> None:
    controls = RecordingControls()
    app = facilitator_app(fixtures.gate_events(), controls)  # armed, nothing injected
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await pilot.pause()
        text = screen_text(app)
        assert "nothing active — all clean" in text
        assert "rolling back" not in text.split("Blast radius")[0]
        assert ("emergency_stop", None) in controls.calls  # the session still ends through the one stop path


async def test_f12_on_the_too_small_overlay_shows_the_stop(fake: FakeSession) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))  # type: ignore[arg-type]
    async with app.run_test(size=(70, 20)) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await settle(pilot)
        overlay = app.query_one(TooSmall)
        assert overlay.display and "STOP" not in screen_text(app).replace("emergency stop", "")
        await pilot.press("f12")
        await settle(pilot)
        text = screen_text(app)
        assert fake.stops == ["key"]
        assert "Terminal too small" in text  # still the overlay, now saying what the stop did
        assert "session ended: aborted — NOT confirmed clean: api-1" in text


async def test_f12_after_the_end_on_the_too_small_overlay_says_all_clean() -> None:
    app = facilitator_app(fixtures.ended_events())
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        text = screen_text(app)
        assert "Terminal too small" in text and "session ended: held — nothing active — all clean" in text



async def test_an_unverified_revert_is_not_good_news_on_the_too_small_overlay() -> None:
    """Nothing is called clean that was not verified: "reverted, not verified" is not drawn as good news."""
    from tests.tui.test_event_log import line_colours

    events = [fixtures.ev(e.type, e.mono, **{**e.data, "verified": None}) if e.type == "fault-reverted" else e
              for e in fixtures.ended_events()]
    app = facilitator_app(events)
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        overlay = app.query_one(TooSmall)
        colours = line_colours(overlay.render())
        line, colour = next((line, c) for line, c in colours.items() if line.startswith("session ended"))
        assert "not verified" in line
        good = app.theme_variables["text-success"].lower()
        assert colour is not None and colour.name != "green"
        assert colour.triplet is not None and colour.triplet.hex != good
        assert colour.triplet.hex == app.theme_variables["text-error"].lower()


# ---- the command palette and every way out ---------------------------------------------------------------------


async def open_palette_and_run(pilot, app: ControlRoomApp, command: str) -> None:  # type: ignore[no-untyped-def]
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*command)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_palette_quit_with_an_active_fault_asks_first(fake: FakeSession, size: tuple[int, int]) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))  # type: ignore[arg-type]
    async with app.run_test(size=size) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await settle(pilot)
        assert app.state.faulted_targets
        await open_palette_and_run(pilot, app, "Quit")
        assert isinstance(app.screen, QuitScreen), "the palette's Quit left without asking"
        assert app.return_value is None and fake.stops == []
        assert "Faults are active" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert fake.stops == ["key"]  # reverted through the emergency-stop path before leaving


async def test_ctrl_q_with_an_active_fault_asks_first(fake: FakeSession) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_gate(app, pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, QuitScreen)
        assert app.return_value is None and fake.stops == []


async def test_the_palette_offers_the_rooms_actions_not_textuals(fake: FakeSession) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_gate(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Emergency stop", "Confirm", "Skip", "Abort", "Add a note", "Zoom", "Details", "Quit"):
            assert wanted in titles
        for developer in ("Theme", "Keys", "Screenshot", "Maximize", "Minimize"):
            assert developer not in titles
        await open_palette_and_run(pilot, app, "Confirm")
        assert fake.decisions == ["confirm"]


# ---- the end screen and the printed summary --------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_the_end_screen_says_what_happened_and_what_next(size: tuple[int, int]) -> None:
    app = facilitator_app(fixtures.ended_events())
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        from controlroom.widgets.end import EndPane

        text = screen_text(app)
        flat = pane_text(app, EndPane)
        assert "SESSION ENDED" in text
        for said in ("HELD (exit 0)", "the hypothesis held",
                     "db-1 (latency): verified clean", "api-1 (bandwidth): verified clean",
                     "slow-db: 12.4 s (criterion 30 s)", "controlroom replay", "controlroom report",
                     "--format html -o report.html"):
            assert said in flat, f"{said!r} missing at {size}"
        assert fixtures.JOURNAL in flat.replace(" ", "")
        foot = footer(app)
        assert "E-STOP" not in foot and "Note" not in foot and "Quit" in foot
        assert "EMERGENCY STOP" not in text  # the red control no longer offers a stop


def test_the_summary_calls_clean_only_what_was_verified() -> None:
    lines = summary_lines(fold(fixtures.ended_events()), "/tmp/x y.jsonl")
    assert "verdict: the hypothesis held" in lines
    assert "faulted: api-1 (bandwidth): verified clean; db-1 (latency): verified clean — nothing active, all clean" \
        in lines
    assert "recovery: slow-db: 12.4 s (criterion 30 s)" in lines and "notes: 1" in lines
    assert "journal: /tmp/x y.jsonl" in lines
    assert "replay: controlroom replay '/tmp/x y.jsonl'" in lines
    assert "report: controlroom report '/tmp/x y.jsonl' --format html -o report.html" in lines
    unclean = summary_lines(fold(fixtures.estop_events(finished=True)), "/tmp/j.jsonl")
    assert any("api-1 (bandwidth): NOT confirmed clean" in line for line in unclean)
    assert "clean up: controlroom recover /tmp/j.jsonl" in unclean
    assert not any("all clean" in line for line in unclean)
    # A revert the journal does not say was verified is never called clean.
    events = [e for e in fixtures.ended_events() if not (e.type == "fault-reverted" and e.get("target") == "db-1")]
    events.insert(-3, fixtures.ev("fault-reverted", 242.4, fault="slow-db/0", target="db-1"))
    said = " ".join(summary_lines(fold(sorted(events, key=lambda e: e.mono))))
    assert "db-1 (latency): reverted, not verified" in said and "all clean" not in said


def test_the_summary_is_printed_when_the_room_closes(capsys: pytest.CaptureFixture[str]) -> None:
    from controlroom.app.entry import print_end_summary

    app = facilitator_app(fixtures.ended_events())
    for event in fixtures.ended_events():
        app.receive(event)
    print_end_summary(app)
    out = capsys.readouterr().out
    assert "session a1b2c3d4e5f6: checkout-survives-slow-db" in out
    assert f"journal: {fixtures.JOURNAL}" in out and f"controlroom replay {fixtures.JOURNAL}" in out
