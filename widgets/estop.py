"""The emergency stop: a big red control, always on screen; a click posts `Pressed` (keys are the App's)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class EmergencyStopControl(Widget):
    """Shows how to stop and, once stopping, that it is stopping. Read-only views show where stopping happens."""

    DEFAULT_CSS = """
    EmergencyStopControl {
        width: 24; height: 3;
        background: $error; color: $text; text-style: bold;
        content-align: center middle; text-align: center;
    }
    EmergencyStopControl.-stopping { background: $error-darken-2; }
    EmergencyStopControl.-read-only { background: $panel-darken-1; color: $text-muted; text-style: none; }
    """

    class Pressed(Message):
        """The control was clicked: stop everything."""

    stopping: reactive[bool] = reactive(False)
    verdict: reactive[str] = reactive("")  # once the rollback has finished: "all clean" or "N unconfirmed: …"
    title: reactive[str] = reactive("")  # what the stop is: EMERGENCY STOP, or AUTOMATIC ROLLBACK (its cause)
    keys: reactive[str] = reactive("F12 or !")

    def __init__(self, *, read_only: bool = False, replay: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only or replay
        self.replay = replay
        self.set_class(read_only, "-read-only")

    def watch_stopping(self, stopping: bool) -> None:
        self.set_class(stopping, "-stopping")

    def render(self) -> Text:
        if self.replay:
            return Text("REPLAY\nnothing here touches\na target", justify="center")
        if self.read_only:
            return Text("READ-ONLY VIEW\nstop: facilitator or\n`controlroom stop`", justify="center")
        head, _, cause = (self.title or "STOPPING").partition(" (")
        cause = cause.removesuffix(")")
        cause = cause if len(cause) <= 22 else cause[:21] + "…"  # whole in the rollback pane's headline
        if self.stopping and self.verdict:
            done = "STOPPED" if head in ("EMERGENCY STOP", "STOPPING") else head
            return Text(f"■ {done} ■\n{cause + chr(10) if cause else ''}{self.verdict}", justify="center")
        if self.stopping:
            return Text(f"■ {head} ■\n{cause or 'rolling back'}\n{'rolling back' if cause else 'all faults'}",
                        justify="center")
        return Text(f"■ EMERGENCY STOP ■\n{self.keys}\nno confirmation", justify="center")

    def on_click(self) -> None:
        if not self.read_only:
            self.post_message(self.Pressed())
