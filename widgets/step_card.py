"""The step card: what the team is doing now, what to expect, the countdown, and the facilitator's gate."""

from __future__ import annotations

from controlroom.widgets._pane import Pane
from rich.text import Text

from controlroom.viewstate import RoomState, format_seconds


class StepCard(Pane):
    TITLE = "Step"
    DEFAULT_CSS = """
    StepCard { height: auto; min-height: 5; max-height: 12; text-wrap: wrap; }
    StepCard.-gate { border: heavy $accent; }
    """

    def __init__(self, *, id: str | None = None, read_only: bool = False) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self.gate_keys = {"confirm": "c", "skip": "s", "abort": "a"}

    def show(self, state: RoomState) -> None:
        gate = state.active_gate()
        if self.has_class("-gate") != gate:
            self.set_class(gate, "-gate")
        step = state.step
        title = f"Step {step.index + 1}/{state.steps_total}" if step else "Step"
        if self.border_title != title:
            self.border_title = title
        shape = (step.id, gate, step.decision, step.outcome, step.injected_at is None) if step else (None, state.checklist_pending())
        self.show_shape(state, shape)

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        step = state.step
        text = Text(overflow="fold")
        if step is None:
            text.append("Pre-flight: no step briefed yet.", style="bold")
            if state.checklist_pending():
                who = "the facilitator" if self.read_only else "you (p shows it)"
                text.append(f"\n▶ the checklist waits for {who}", style="bold reverse")
            text.append(f"\n{state.steady_verdict}", style="dim")
            return text
        text.append(step.title, style="bold")
        countdown = state.countdown
        if countdown is not None:
            text.append(f"   ⏱ {format_seconds(countdown)} left", style="bold yellow")
        elif step.duration and step.outcome is None:
            text.append(f"   ⏱ {format_seconds(step.duration)}", style="dim")
        if step.outcome:
            text.append(f"   ✔ {step.outcome}", style="bold")
        # The gate comes right under the title: on a short terminal it must never be cut off.
        if state.active_gate():
            text.append("\n")
            if self.read_only:
                text.append("▶ waiting for the facilitator to confirm", style="bold reverse")
            else:
                k = self.gate_keys
                text.append("▶ INJECT?", style="bold reverse")
                text.append(f" {k['confirm']}=confirm {k['skip']}=skip {k['abort']}=abort", style="bold")
        elif step.decision and step.decision != "confirm":
            text.append(f"\n{step.decision} by the facilitator", style="italic")
        if step.brief:
            text.append("\nBrief  ", style="bold cyan")
            text.append(step.brief)
        if step.expect:
            text.append("\nExpect ", style="bold cyan")
            text.append(step.expect)
        if step.faults and width >= 90:
            for f in step.faults:
                text.append("\nFault  ", style="bold cyan")
                text.append(f"{f.get('type')} on {f.get('target')}", style="bold")
                if f.get("summary"):
                    text.append(f" — {f.get('summary')}")
        elif step.faults:
            text.append("\nFaults ", style="bold cyan")
            text.append(", ".join(f"{f.get('type')} on {f.get('target')}" for f in step.faults), style="bold")
        return text
