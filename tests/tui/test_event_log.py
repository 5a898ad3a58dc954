"""The event log colours a line by its entry's level, through the theme: never by the words in it."""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed
from controlroom.errors import JournalError
from controlroom.widgets.event_log import EventLogPane

SIZE = (120, 40)
NOTE = "checked the dashboards: nothing FAILED, no BREACH, no EMERGENCY"


def line_colours(text: Text) -> dict[str, Color | None]:
    """Each line of the pane's text with the colour of its span (None: plain)."""
    out: dict[str, Color | None] = {}
    start = 0
    for line in text.plain.split("\n"):
        end = start + len(line)
        styles = [Style.parse(s.style) if isinstance(s.style, str) else s.style
                  for s in text.spans if s.start <= start and s.end >= end and s.end > s.start]
        colour = next((st.color for st in styles if st.color is not None), None)
        out[line] = colour
        start = end + 1
    return out


async def test_a_note_saying_nothing_failed_is_not_red_and_a_failure_is_the_themes_error() -> None:
    events = [*fixtures.gate_events(),
              fixtures.ev("note", 30.0, text=NOTE, author="Ada"),
              fixtures.ev("fault-failed", 31.0, fault="latency", target="db-1", error="tc exited 2")]
    app = ControlRoomApp(EventListFeed(events))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(EventLogPane)
        colours = line_colours(pane.render())
        error = app.theme_variables["text-error"]
        note = next(c for line, c in colours.items() if NOTE in line)
        failed = next(c for line, c in colours.items() if "injection FAILED latency" in line)
        assert note is None or note.name != "red"  # the words FAILED, BREACH, EMERGENCY in a note do not make it red
        assert note is not None and note == pane.tone("info").color and note != failed
        assert failed is not None and failed.triplet is not None and failed.triplet.hex == error.lower()


async def test_a_feed_error_is_the_rooms_line_not_the_journals() -> None:
    class Broken(EventListFeed):
        async def pump(self, emit):  # type: ignore[no-untyped-def]
            for ev in self.events:
                emit(ev)
            raise JournalError("x.jsonl: line 9 unreadable; run controlroom report x.jsonl")

    app = ControlRoomApp(Broken(fixtures.gate_events(), mode="watch"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        journal_lines = [entry.line for entry in app.state.log]
        assert not any("unreadable" in line for line in journal_lines)  # the state is what the journal says
        rendered = app.query_one(EventLogPane).render().plain
        assert "ERROR: x.jsonl: line 9 unreadable" in rendered.splitlines()[-1]


async def test_under_no_color_a_tone_keeps_its_weight_and_loses_its_hue(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Textual's :nocolor rules, not a second pass that strips Rich colours: an error is bold light text."""
    monkeypatch.setenv("NO_COLOR", "1")
    events = [*fixtures.gate_events(), fixtures.ev("fault-failed", 31.0, fault="latency", target="db-1", error="x")]
    app = ControlRoomApp(EventListFeed(events))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(EventLogPane)
        failed = next(c for line, c in line_colours(pane.render()).items() if "injection FAILED" in line)
        foreground = app.theme_variables["foreground"].lower()
        assert failed is not None and failed.triplet is not None and failed.triplet.hex == foreground
        assert pane.tone("bad", "bold").bold
        for tone in ("good", "info", "active", "rollback", "bad"):
            colour = pane.tone(tone).color  # type: ignore[arg-type]
            assert colour is not None and colour.triplet is not None and colour.triplet.hex == foreground, tone


async def test_a_theme_switch_recolours_the_tones() -> None:
    """The panes keep their tone styles between redraws, and drop them when the CSS changes."""
    app = ControlRoomApp(EventListFeed(fixtures.gate_events()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(EventLogPane)
        dark = pane.tone("bad").color
        assert dark is not None and dark.triplet is not None
        assert dark.triplet.hex == app.theme_variables["text-error"].lower()
        app.theme = "textual-light"
        await pilot.pause()
        light = app.theme_variables["text-error"].lower()
        assert light != dark.triplet.hex
        colour = pane.tone("bad").color
        assert colour is not None and colour.triplet is not None and colour.triplet.hex == light
