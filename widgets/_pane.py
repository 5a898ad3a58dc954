"""The base of every pane: holds the last `RoomState` it was shown and renders it to text on demand."""

from __future__ import annotations

import os

from rich.style import Style
from rich.text import Span, Text
from textual.widget import Widget

from controlroom.viewstate import RoomState


class Pane(Widget):
    """A pane is a pure function of the room state: `show(state)` then `render()` from it."""

    DEFAULT_CSS = """
    Pane {
        border: round $primary-darken-1;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """
    TITLE = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = self.TITLE
        self._state: RoomState | None = None

    def show(self, state: RoomState) -> None:
        self._state = state
        self.refresh()

    def show_shape(self, state: RoomState, shape: tuple[object, ...]) -> None:
        """For auto-height panes: a layout pass only when what decides the height changed (layout is costly)."""
        self._state = state
        relayout = shape != getattr(self, "_shape", None)
        self._shape = shape
        self.refresh(layout=relayout)

    def render(self) -> Text:
        if self._state is None:
            return Text("waiting for the session…", style="dim")
        size = self.content_size
        text = self.render_state(self._state, max(1, size.width), max(1, size.height))
        return without_colour(text) if no_colour() else text

    def render_state(self, state: RoomState, width: int, height: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError


def no_colour() -> bool:
    """NO_COLOR (https://no-color.org): any non-empty value."""
    return bool(os.environ.get("NO_COLOR"))


def without_colour(text: Text) -> Text:
    """Keep bold, italic, reverse and underline; drop hues.

    Textual turns colours into greys under NO_COLOR, and red on a dark panel
    becomes dark grey on dark grey: the attributes alone stay readable.
    """
    text.spans = [Span(s.start, s.end, (Style.parse(s.style) if isinstance(s.style, str) else s.style).without_color)
                  for s in text.spans]
    return text
