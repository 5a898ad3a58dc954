"""The base of every pane: holds the last `RoomState` it was shown and renders it to text on demand."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from controlroom.viewstate import RoomState

# What a piece of text says, for its colour: good (verified, held), info (labels, armed, notes), active (a fault is
# on, a countdown), rollback (reverting), bad (failed, unconfirmed, a breach). Every state also has a glyph and a word.
Tone = Literal["good", "info", "active", "rollback", "bad"]
TONES: tuple[Tone, ...] = ("good", "info", "active", "rollback", "bad")


class Pane(Widget):
    """A pane is a pure function of the room state: `show(state)` then `render()` from it.

    Colours come from the `pane--<tone>` component classes (`tone()`), so the theme and the app's CSS decide them.
    The theme has roles for good, active and bad; it has none for a rollback or for plain information, so those
    two are ANSI magenta and cyan (mapped through the terminal's ANSI theme). Under NO_COLOR Textual's `:nocolor`
    rules drop the hue: the glyph, the word and the weight say it.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"pane--{tone}" for tone in TONES}
    DEFAULT_CSS = """
    Pane {
        border: round $primary-darken-1;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    Pane > .pane--good { color: $text-success; }
    Pane > .pane--info { color: ansi_cyan; }
    Pane > .pane--active { color: $text-warning; }
    Pane > .pane--rollback { color: ansi_magenta; }
    Pane > .pane--bad { color: $text-error; }
    Pane:nocolor > .pane--good, Pane:nocolor > .pane--info, Pane:nocolor > .pane--active,
    Pane:nocolor > .pane--rollback, Pane:nocolor > .pane--bad { color: $foreground; }
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

    def tone(self, tone: Tone | None, attrs: str = "") -> Style:
        """The style for text of this tone (None: no colour), with Rich attributes such as "bold reverse"."""
        extra = Style.parse(attrs) if attrs else Style()
        if tone is None:
            return extra
        return self.get_component_rich_style(f"pane--{tone}", partial=True) + extra

    def render(self) -> Text:
        if self._state is None:
            return Text("waiting for the session…", style="dim")
        size = self.content_size
        text = self.render_state(self._state, max(1, size.width), max(1, size.height))
        return text

    def render_state(self, state: RoomState, width: int, height: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError
