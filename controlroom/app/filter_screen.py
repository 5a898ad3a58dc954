"""The blast radius's filter bar (`/`, as in k9s): the pane follows what is typed; Enter keeps it, Esc clears it.

A bar docked in the room, not a modal screen: the room stays in view and live, and a letter typed repaints the
bar and the blast radius only (as a modal over the room, transparent so the room shows through, each letter
repainted the whole screen: 45-58 ms a key at 200 targets, against 10 ms for the pane's other keys).
While the bar has the focus its Input takes the printable keys: `!` and the gate keys are text here (the Input
consumes them before any binding, priority or not); F12 still stops.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input


class FilterBar(Vertical):
    """Hidden until `open`; `apply(text)` filters the pane and says how many targets match, `keep(text)` is told
    what stays once the bar closes (the text on Enter, "" on Esc)."""

    BINDINGS = [Binding("escape", "clear", "Clear", id="filter-clear")]
    DEFAULT_CSS = """
    FilterBar { dock: bottom; display: none; width: 100%; height: auto; border: thick $accent; background: $panel;
                padding: 0 1; }
    FilterBar.-open { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._apply: Callable[[str], str] = lambda _text: ""
        self._keep: Callable[[str], None] = lambda _text: None

    def compose(self) -> ComposeResult:
        box = Input(placeholder="name, label value, key=value or state", id="filter-input")
        # Focusable only while open: the room has no other focusable widget, and a closed bar that took the
        # focus (the screen focuses the first one it finds) would swallow the room's keys as text.
        box.can_focus = False
        yield box

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, current: str, apply: Callable[[str], str], keep: Callable[[str], None]) -> None:
        self._apply, self._keep = apply, keep
        self.border_title = self._label(apply(current))
        box = self.query_one("#filter-input", Input)
        with box.prevent(Input.Changed):
            box.value = current
        self.add_class("-open")
        box.can_focus = True
        box.focus()

    @staticmethod
    def _label(matched: str) -> str:
        return f"Filter: {matched} (Enter keeps, Esc clears; unclean targets always show)"

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        # The count is the bar's title: a title changes no layout, where a label's new text asks for one.
        self.border_title = self._label(self._apply(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close(event.value.strip())

    def action_clear(self) -> None:
        self._apply("")
        self._close("")

    def _close(self, text: str) -> None:
        self.remove_class("-open")
        box = self.query_one("#filter-input", Input)
        box.can_focus = False
        self.screen.set_focus(None)
        self._keep(text)
