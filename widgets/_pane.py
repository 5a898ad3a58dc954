"""The base of every pane: holds the last `RoomState` it was shown and renders it to text on demand."""

from __future__ import annotations

from rich.text import Text
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
        self.refresh(layout=self.styles.height is not None and self.styles.height.is_auto)

    def render(self) -> Text:
        if self._state is None:
            return Text("waiting for the session…", style="dim")
        size = self.content_size
        return self.render_state(self._state, max(1, size.width), max(1, size.height))

    def render_state(self, state: RoomState, width: int, height: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError
