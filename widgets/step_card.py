"""The step card: what the team is doing now, what to expect, the countdown, and the facilitator's gate.

The card lays out its own lines within the rows CSS gives it (`max-height`): the title, the gate and the
faults always keep their line; the brief and the expectation share what is left. A cut text ends in "…"
and is read in full in the event log and the details (`d`).
"""

from __future__ import annotations

import textwrap

from rich.style import Style
from rich.text import Text
from textual.css.scalar import Unit
from textual.geometry import Size

from controlroom.viewstate import RoomState, format_seconds
from controlroom.widgets._pane import Pane
from controlroom.widgets.sparkline import clip

LABEL = 7  # "Brief  ", "Expect ", "Faults "
Line = list[tuple[str, str | Style]]  # one screen row as (text, style) runs


class StepCard(Pane):
    TITLE = "Step"
    DEFAULT_CSS = """
    StepCard { height: auto; min-height: 5; max-height: 12; }
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
        shape = (step.id, gate, step.decision, step.outcome, step.injected_at is None, state.held_brief is None) \
            if step else (None, state.checklist_pending())
        self.show_shape(state, shape)

    def _budget(self) -> int:
        """Content rows the card may use: its CSS max-height less the border."""
        mh = self.styles.max_height
        if mh is not None and mh.unit == Unit.CELLS:
            return max(3, int(mh.value) - 2)
        return 10

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self._state is None:
            return 1
        return len(self._lines(self._state, max(1, width), self._budget()))

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, line in enumerate(self._lines(state, width, self._budget())):
            if i:
                text.append("\n")
            for part, style in line:
                text.append(part, style=style)
        return text

    # ---- layout -------------------------------------------------------------------------------------------

    def _wrap(self, label: str, body: str, width: int) -> list[Line]:
        rows = textwrap.wrap(body, max(8, width - LABEL)) or [""]
        label_style = self.tone("info", "bold")
        return [[(label.ljust(LABEL) if i == 0 else " " * LABEL, label_style), (row, "")] for i, row in enumerate(rows)]

    def _lines(self, state: RoomState, width: int, budget: int) -> list[Line]:
        step = state.step
        if step is None:
            lines: list[Line] = [[("Pre-flight: no step briefed yet.", "bold")]]
            if state.checklist_pending():
                who = "the facilitator" if self.read_only else "you (p shows it)"
                lines.append([(f"▶ the checklist waits for {who}", "bold reverse")])
            lines.append([(clip(state.steady_verdict, width), "dim")])
            return lines
        head: Line = [(step.title, "bold")]
        countdown = state.countdown
        if countdown is not None:
            head.append((f"   ⏱ {format_seconds(countdown)} left", self.tone("active", "bold")))
        elif step.duration and step.outcome is None:
            head.append((f"   ⏱ {format_seconds(step.duration)}", "dim"))
        if step.outcome:
            head.append((f"   ✔ {step.outcome}", "bold"))
        top: list[Line] = [head]
        # The gate comes right under the title: on a short terminal it must never be cut off.
        if state.active_gate():
            if self.read_only:
                top.append([("▶ waiting for the facilitator to confirm", "bold reverse")])
            else:
                k = self.gate_keys
                top.append([("▶ INJECT?", "bold reverse"), (f" {k['confirm']}=confirm {k['skip']}=skip {k['abort']}=abort", "bold")])
        elif step.decision and step.decision != "confirm":
            top.append([(f"{step.decision} by the facilitator", "italic")])
        held = state.held_brief
        if held is not None:
            # The step before went by without a gate: its brief stays readable here for a few seconds.
            top.append([(f"✔ {held.title}: ", "dim bold"), (clip(held.brief, max(8, width - len(held.title) - 4)), "dim")])
        # What will be injected, and where, always keeps its rows: one line per fault when it fits.
        # One fault sent to a fleet (a label selector) is one line: its type, how many targets, the first names.
        alike: dict[tuple[str, str], list[str]] = {}
        for f in step.faults:
            alike.setdefault((str(f.get("type")), str(f.get("summary") or "")), []).append(str(f.get("target")))

        def where(targets: list[str]) -> str:
            if len(targets) == 1:
                return targets[0]
            return f"{len(targets)} targets ({', '.join(targets[:3])}{', …' if len(targets) > 3 else ''})"

        per_fault: list[Line] = []
        for (kind, summary), targets in alike.items():
            per_fault += self._wrap("Fault", f"{kind} on {where(targets)}" + (f" — {summary}" if summary else ""), width)
        compact = ", ".join(f"{kind} on {where(targets)}" for (kind, _), targets in alike.items())
        brief = self._wrap("Brief", step.brief, width) if step.brief else []
        expect = self._wrap("Expect", step.expect, width) if step.expect else []
        left = budget - len(top)
        faults: list[Line] = []
        if step.faults:
            if width >= 90 and len(per_fault) <= max(1, left - bool(brief) - bool(expect)):
                faults = per_fault
            else:
                faults = [[("Faults".ljust(LABEL), self.tone("info", "bold")), (clip(compact, width - LABEL), "bold")]]
        left -= len(faults)
        # The brief and the expectation share the rest: when they do not both fit, the expectation keeps one
        # line and the brief what is left (at least one).
        tight = left < len(brief) + len(expect)
        give_e = min(len(expect), 1 if tight else len(expect))
        give_b = max(min(len(brief), 1), min(len(brief), left - give_e))
        give_e = max(0, min(len(expect), left - give_b))
        shown_brief = self._cut(brief[:give_b], give_b < len(brief), width)
        shown_expect = self._cut(expect[:give_e], give_e < len(expect), width)
        return [*top, *shown_brief, *shown_expect, *faults]

    @staticmethod
    def _cut(rows: list[Line], cut: bool, width: int) -> list[Line]:
        """The last row of a cut text ends in an ellipsis, so nobody takes it for the whole sentence."""
        if not cut or not rows:
            return rows
        last = rows[-1]
        label, (body, style) = last[0], last[-1]
        room = max(1, width - LABEL - 1)
        return [*rows[:-1], [label, (body[:room].rstrip() + "…", style)]]
