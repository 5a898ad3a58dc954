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
    EmergencyStopControl.-ended { background: $success-darken-3; color: $text; }
    EmergencyStopControl.-ended.-dirty { background: $error-darken-3; }
    """

    class Pressed(Message):
        """The control was clicked: stop everything."""

    stopping: reactive[bool] = reactive(False)
    verdict: reactive[str] = reactive("")  # once the rollback has finished: "all clean" or "N unconfirmed: …"
    title: reactive[str] = reactive("")  # what the stop is: EMERGENCY STOP, or AUTOMATIC ROLLBACK (its cause)
    keys: reactive[str] = reactive("F12 or !")
    ended: reactive[str] = reactive("")  # once the session has ended: what is left ("all clean" / "NOT clean: …")
    dirty: reactive[bool] = reactive(False)  # ended with something not confirmed clean

    def __init__(self, *, read_only: bool = False, replay: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only or replay
        self.replay = replay
        self.set_class(read_only, "-read-only")

    def watch_stopping(self, stopping: bool) -> None:
        self.set_class(stopping, "-stopping")

    def watch_ended(self, ended: str) -> None:
        self.set_class(bool(ended) and not self.replay, "-ended")  # a replay's control stays the grey REPLAY

    def watch_dirty(self, dirty: bool) -> None:
        self.set_class(dirty, "-dirty")

    def render(self) -> Text:
        if self.replay:
            return Text("REPLAY\nnothing here touches\na target", justify="center")
        if self.ended:
            # The session is over: no stop offered, what is left said instead.
            who = "read-only" if self.read_only else "q quits"
            return Text(f"■ SESSION ENDED ■\n{self.ended}\n{who}", justify="center")
        if self.read_only:
            return Text("READ-ONLY VIEW\nstop: facilitator or\n`controlroom stop`", justify="center")
        head, _, cause = (self.title or "STOPPING").partition(" (")
        cause = cause.removesuffix(")")
        cause = cause if len(cause) <= 22 else cause[:21] + "…"  # whole in the rollback pane's headline
        if self.stopping and self.verdict:
            done = "STOPPED" if head in ("EMERGENCY STOP", "STOPPING") else head
            verdict = self.verdict.replace(" — ", "\n", 1)
            return Text(f"■ {done} ■\n{cause + chr(10) if cause and chr(10) not in verdict else ''}{verdict}",
                        justify="center")
        if self.stopping:
            return Text(f"■ {head} ■\n{cause or 'rolling back'}\n{'rolling back' if cause else 'all faults'}",
                        justify="center")
        return Text(f"■ EMERGENCY STOP ■\n{self.keys}\nno confirmation", justify="center")

    def on_click(self) -> None:
        if not self.read_only and not self.ended:
            self.post_message(self.Pressed())
