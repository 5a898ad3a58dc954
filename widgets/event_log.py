"""The event log: the newest journal lines, in words, newest at the bottom."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from itertools import islice

from rich.style import Style
from rich.text import Text

from controlroom.viewstate import LogEntry, LogLevel, RoomState
from controlroom.widgets._pane import Pane, Tone

# A line's look follows its entry's level (set by the fold), never the words in it. An error is bold as well:
# under NO_COLOR the weight alone marks it.
LEVEL_LOOK: dict[LogLevel, tuple[Tone | None, str]] = {
    "info": (None, ""), "note": ("info", ""), "rollback": ("rollback", ""), "warning": ("active", ""),
    "error": ("bad", "bold"),
}


class EventLogPane(Pane):
    TITLE = "Event log"
    DEFAULT_CSS = """
    EventLogPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # Lines of the room itself, not of the journal (a feed that failed): shown after the journal's.
        self.room_lines: list[LogEntry] = []

    def level_style(self, level: LogLevel) -> Style:
        return self.tone(*LEVEL_LOOK[level])

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        entries: Sequence[LogEntry] = [*state.log, *self.room_lines] if self.room_lines else state.log
        n = len(entries)
        lines: Iterable[tuple[str, LogLevel]]
        if self.has_class("-zoom"):
            # Zoomed, every line is read in full: long lines wrap under their text, newest at the bottom.
            rows: list[tuple[str, LogLevel]] = []
            for entry in reversed(entries):
                wrapped = textwrap.wrap(entry.line, max(20, width), subsequent_indent=" " * 9) or [""]
                rows[:0] = [(row, entry.level) for row in wrapped]
                if len(rows) >= height:
                    break
            lines = rows[-height:]
        else:
            lines = ((e.line, e.level) for e in islice(entries, max(0, n - height), n))
        for i, (line, level) in enumerate(lines):
            if i:
                text.append("\n")
            text.append(line, style=self.level_style(level))
        return text
