"""The end of a session: verdict, what was faulted and whether it is verified clean, recovery, notes, and where
the journal is with the commands to replay and report it. Takes the step card's place once the session ends."""

from __future__ import annotations

import textwrap

from rich.style import Style
from rich.text import Text
from textual.geometry import Size

from controlroom.summary import end_summary, verified_clean
from controlroom.viewstate import RoomState
from controlroom.widgets._pane import Pane

LABEL = 9
GOOD = {"held"}


class EndPane(Pane):
    TITLE = "Session ended"
    DEFAULT_CSS = """
    EndPane { height: auto; max-height: 16; display: none; border: heavy $success; }
    EndPane.-visible { display: block; }
    EndPane.-bad { border: heavy $error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.journal: str | None = None
        self.keys = "q quits · d details · z zooms"
        self.after_stop = ""  # what the stop key said after the end ("nothing active — all clean")
        self.after_stop_clean = False  # ... and whether that is good news

    def show(self, state: RoomState) -> None:
        visible = state.ended
        if self.has_class("-visible") != visible:
            self.set_class(visible, "-visible")
        bad = state.outcome not in GOOD or bool(state.not_confirmed)
        if self.has_class("-bad") != bad:
            self.set_class(bad, "-bad")
        self.show_shape(state, (visible, bad, state.outcome, len(state.recoveries), state.notes, self.after_stop))

    def _lines(self, state: RoomState, width: int) -> list[list[tuple[str, str | Style]]]:
        """Every row of the summary, wrapped under its value (a long journal path is read in full)."""
        lines: list[list[tuple[str, str | Style]]] = []
        if self.after_stop:
            # First: it answers the key just pressed, and a short terminal cuts the bottom rows.
            style = self.tone("good" if self.after_stop_clean else "bad", "bold reverse")
            lines += [[(row, style)] for row in textwrap.wrap(self.after_stop, max(8, width))]
        rows = end_summary(state, self.journal, placeholder=width < 100)
        if width < 100:
            # Narrow: recovery and the notes count share a row, so the journal and its commands stay in view.
            notes = dict(rows).get("Notes", "0")
            rows = [(label, f"{value} · notes: {notes}" if label == "Recovery" else value)
                    for label, value in rows if label != "Notes"]
        for label, value in rows:
            style = self._style(state, label, value)
            for i, row in enumerate(textwrap.wrap(value, max(8, width - LABEL), break_on_hyphens=False) or [""]):
                lines.append([(label.ljust(LABEL) if i == 0 else " " * LABEL, self.tone("info", "bold")), (row, style)])
        lines.append([(self.keys, "dim")])
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(self._state, max(1, width))) if self._state is not None else 1

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, line in enumerate(self._lines(state, width)):
            if i:
                text.append("\n")
            for part, style in line:
                text.append(part, style=style)
        return text

    def _style(self, state: RoomState, label: str, value: str) -> Style:
        """A row's look from the state it summarises, not from its words."""
        if label == "Faulted":
            return self.tone("bad" if state.not_confirmed else "good" if verified_clean(state) else None, "bold")
        if label in ("Outcome", "Verdict"):
            return self.tone("good" if state.outcome in GOOD else "bad", "bold")
        if label == "Rollback":
            rb = state.rollback
            return self.tone("good" if rb is not None and rb.finished and not rb.unconfirmed else "bad", "bold")
        if label == "Clean up":
            return self.tone("bad", "bold")
        return Style()
