"""The event log: the newest journal lines, in words, newest at the bottom."""

from __future__ import annotations

from itertools import islice

from controlroom.widgets._pane import Pane
from rich.text import Text

from controlroom.viewstate import RoomState

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
        lines = list(islice(state.log, max(0, n - height), n))
        for i, line in enumerate(lines):
            if i:
                text.append("\n")
            style = next((s for word, s in HIGHLIGHTS if word in line), "")
            text.append(line, style=style)
        return text
