"""The blast radius's filter box (`/`, as in k9s): the pane follows what is typed; Enter keeps it, Esc clears it."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label

from controlroom.app.modals import RoomModal


class FilterScreen(RoomModal[str]):
    """A one-line box at the bottom; the room behind it stays live, and F12 still stops (`!` is text here)."""

    BINDINGS = [Binding("escape", "clear", "Clear", id="filter-clear")]
    DEFAULT_CSS = """
    FilterScreen { align: center bottom; background: $background 0%; }
    FilterScreen > Vertical { width: 100%; height: 5; border: thick $accent; background: $panel; padding: 0 1; }
    """

    def __init__(self, current: str, apply: Callable[[str], str]) -> None:
        """`apply(text)` filters the pane and says how many targets match, for the box's own line."""
        super().__init__()
        self.current = current
        self.apply = apply

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._label(self.apply(self.current)), id="filter-label")
            yield Input(value=self.current, placeholder="name, label value, key=value or state", id="filter-input")

    @staticmethod
    def _label(matched: str) -> str:
        return f"Filter: {matched} (Enter keeps, Esc clears; unclean targets always show)"

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#filter-label", Label).update(self._label(self.apply(event.value)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_clear(self) -> None:
        self.apply("")
        self.dismiss("")
