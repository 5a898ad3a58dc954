"""The room header: scenario, environment, session clock (T+mm:ss from event time), state and mode."""

from __future__ import annotations

from rich.text import Text

from controlroom.viewstate import RoomState
from controlroom.widgets._pane import Pane, Tone

STATE_TONES: dict[str, Tone] = {
    "observing": "active", "injecting": "active", "reverting": "rollback",
    "awaiting-confirmation": "info", "completed": "good", "recovered": "good",
    "failed": "bad", "rolled-back": "bad", "aborted": "bad",
}


class RoomHeader(Pane):
    DEFAULT_CSS = """
    RoomHeader { border: none; padding: 0 1; height: 3; background: $panel; }
    """

    def __init__(self, mode: str = "live", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        self.banner = ""  # replay: play state, speed, position; takes the hypothesis line

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        # Clock and state first: on a narrow terminal the scenario name is what gets cut, never these.
        text.append(state.clock, style="bold")
        text.append("  ")
        shown = state.outcome.upper() if state.ended and state.outcome else state.state.upper()
        text.append(f"[{shown}]", style=self.tone(STATE_TONES.get(state.outcome or state.state), "bold"))
        text.append("  ")
        text.append(state.scenario or "(no session yet)", style=self.tone("info", "bold"))
        text.append(f"  env {state.environment or '?'}")
        text.append("\n")
        step = state.step
        where = f"step {step.index + 1}/{state.steps_total}: {step.title}" if step else "pre-flight"
        mode = {"live": "LIVE", "watch": "WATCH · read-only", "replay": "REPLAY · read-only"}.get(self.mode, self.mode)
        if state.ended and self.mode == "live":
            mode = "ENDED"  # nothing here is live any more
        text.append(f"{mode}  ", style="reverse" if self.mode == "live" else "bold")
        text.append(where)
        text.append("\n")
        if self.mode == "replay" and self.banner:
            text.append(self.banner, style="bold")
        else:
            text.append(state.hypothesis, style="italic dim")
        return text
