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
TONE_CLASSES = frozenset(f"pane--{tone}" for tone in TONES)


def tone_css(type_name: str) -> str:
    """The tones' colours for a widget or screen type that lists TONE_CLASSES among its component classes.

    The theme has roles for good, active and bad; it has none for a rollback or for plain information, so those
    two are ANSI magenta and cyan (mapped through the terminal's ANSI theme). Under NO_COLOR (`:nocolor`) every
    tone is the light foreground colour: Textual would turn red on a dark panel into dark grey on dark grey,
    and the glyph, the word and the weight say it anyway.
    """
    t = type_name
    return f"""
    {t} > .pane--good {{ color: $text-success; }}
    {t} > .pane--info {{ color: ansi_cyan; }}
    {t} > .pane--active {{ color: $text-warning; }}
    {t} > .pane--rollback {{ color: ansi_magenta; }}
    {t} > .pane--bad {{ color: $text-error; }}
    {t}:nocolor > .pane--good, {t}:nocolor > .pane--info, {t}:nocolor > .pane--active,
    {t}:nocolor > .pane--rollback, {t}:nocolor > .pane--bad {{ color: $foreground; }}
    """


def tone_style(widget: Widget, tone: Tone | None, attrs: str = "") -> Style:
    """The style for text of this tone (None: no colour) in `widget`, with Rich attributes such as "bold reverse"."""
    extra = Style.parse(attrs) if attrs else Style()
    if tone is None:
        return extra
    return widget.get_component_rich_style(f"pane--{tone}", partial=True) + extra


class Pane(Widget):
    """A pane is a pure function of the room state: `show(state)` then `render()` from it.

    Colours come from the `pane--<tone>` component classes (`tone()`), so the theme and the app's CSS decide them.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set(TONE_CLASSES)
    DEFAULT_CSS = """
    Pane {
        border: round $primary-darken-1;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """ + tone_css("Pane")
    TITLE = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = self.TITLE
        self._state: RoomState | None = None
        self._tones: dict[tuple[Tone | None, str], Style] = {}

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
        """The style for text of this tone (None: no colour), with Rich attributes such as "bold reverse".

        Kept until the CSS changes (a theme switch: `notify_style_update`), as Textual's Log and DataTable keep
        theirs: Textual drops its own component-style cache on every refresh, and a pane refreshes per event.
        """
        key = (tone, attrs)
        style = self._tones.get(key)
        if style is None:
            style = self._tones[key] = tone_style(self, tone, attrs)
        return style

    def notify_style_update(self) -> None:
        self._tones.clear()
        super().notify_style_update()

    def render(self) -> Text:
        if self._state is None:
            return Text("waiting for the session…", style="dim")
        size = self.content_size
        text = self.render_state(self._state, max(1, size.width), max(1, size.height))
        return text

    def render_state(self, state: RoomState, width: int, height: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError
