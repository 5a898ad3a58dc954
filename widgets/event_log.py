"""The event log: the newest journal lines, in words, newest at the bottom."""

from __future__ import annotations

import textwrap
from itertools import islice

from rich.text import Text

from controlroom.viewstate import RoomState
from controlroom.widgets._pane import Pane

HIGHLIGHTS = (("BREACH", "bold red"), ("FAILED", "bold red"), ("EMERGENCY", "bold red"), ("LOST", "bold red"),
              ("⟲", "magenta"), ("✎", "cyan"), ("warning", "yellow"))


class EventLogPane(Pane):
    TITLE = "Event log"
    DEFAULT_CSS = """
    EventLogPane { height: 1fr; }
    """

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        n = len(state.log)
        if self.has_class("-zoom"):
            # Zoomed, every line is read in full: long lines wrap under their text, newest at the bottom.
            rows: list[tuple[str, str]] = []
            for line in reversed(state.log):
                style = next((s for word, s in HIGHLIGHTS if word in line), "")
                wrapped = textwrap.wrap(line, max(20, width), subsequent_indent=" " * 9) or [""]
                rows[:0] = [(row, style) for row in wrapped]
                if len(rows) >= height:
                    break
            lines = rows[-height:]
        else:
            lines = [(line, next((s for word, s in HIGHLIGHTS if word in line), ""))
                     for line in islice(state.log, max(0, n - height), n)]
        for i, (line, style) in enumerate(lines):
            if i:
                text.append("\n")
            text.append(line, style=style)
        return text
