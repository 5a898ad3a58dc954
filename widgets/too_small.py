"""The overlay shown when the terminal is smaller than the room needs, saying how small is enough."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

MIN_WIDTH = 80
MIN_HEIGHT = 24


class TooSmall(Widget):
    """Shown by CSS breakpoints (Screen.-too-narrow / -too-short); the e-stop keys keep working underneath."""

    # Colours from the theme, as the panes' tones (this overlay is no pane: it has no room state to show).
    COMPONENT_CLASSES: ClassVar[set[str]] = {"too-small--good", "too-small--bad"}
    DEFAULT_CSS = """
    TooSmall {
        layer: overlay; display: none; width: 100%; height: 100%;
        background: $background; color: $text; content-align: center middle; text-align: center;
    }
    TooSmall > .too-small--good { color: $text-success; text-style: bold; }
    TooSmall > .too-small--bad { color: $text-error; text-style: bold; }
    TooSmall:nocolor > .too-small--good, TooSmall:nocolor > .too-small--bad { color: $foreground; }
    """

    # What the stop is doing, or what the ended session left: a stop pressed here must show, here.
    status: reactive[str] = reactive("")
    status_ok = False  # the status is good news (set before `status`, whose change redraws)

    def __init__(self, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self.stop_keys = "F12 or !"  # the app sets the keys of the user's keymap

    def render(self) -> Text:
        w, h = self.app.size
        text = Text(justify="center")
        bad_style = self.get_component_rich_style("too-small--bad", partial=True)
        text.append("Terminal too small\n", style=bad_style)
        text.append(f"this one is {w}x{h}; the control room needs at least {MIN_WIDTH}x{MIN_HEIGHT}\n")
        text.append("enlarge the window or reduce the font size\n")
        if self.status:
            look = self.get_component_rich_style("too-small--good", partial=True) if self.status_ok else bad_style
            text.append(self.status + "\n", style=look + Style(reverse=True))
        elif not self.read_only:
            text.append(f"{self.stop_keys}: emergency stop, still", style="bold")
        return text
