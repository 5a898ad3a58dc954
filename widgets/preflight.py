"""The pre-flight checklist: live progress per check and per target, and the human items the facilitator ticks."""

from __future__ import annotations

import textwrap

from rich.text import Text

from controlroom.viewstate import RoomState
from controlroom.widgets._pane import Pane
from controlroom.widgets.sparkline import clip


class PreflightPane(Pane):
    TITLE = "Pre-flight"
    DEFAULT_CSS = """
    PreflightPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, read_only: bool = False) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self.cursor = 0
        self.refused = ""  # why the last start was refused, until the checklist changes
        self.gate_keys = {"confirm": "c", "abort": "a"}

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if state.ended and state.step is None:
            text.append(f"NOT STARTED ({state.outcome}): {state.message}\n", style=self.tone("bad", "bold reverse"))
        items = list(state.preflight.values())
        failed = sum(1 for i in items if i.ok is False)
        passed = sum(1 for i in items if i.ok)
        running = sum(1 for i in items if i.ok is None)
        text.append("Automatic checks  ", style="bold")
        text.append(f"{passed} ok", style=self.tone("good"))
        text.append(f"  {failed} failed", style=self.tone("bad", "bold") if failed else "dim")
        text.append(f"  {running} running", style=self.tone("active") if running else "dim")
        hosts = state.connections()
        if hosts.total:
            # A fleet connects in batches (blast_radius.max_connecting): how far it got, before the rows below.
            text.append("\nConnections       ", style="bold")
            text.append(f"{hosts.connected}/{hosts.total} connected", style=self.tone("good") if hosts.connected else "dim")
            text.append(f"  {hosts.pending} pending", style=self.tone("active") if hosts.pending else "dim")
            text.append(f"  {hosts.failed} failed", style=self.tone("bad", "bold") if hosts.failed else "dim")
        checklist = list(state.checklist.items())
        gate_lines = (1 + bool(self.refused)) if state.checklist_pending() else int(state.checklist_decision is not None)
        room_for_checks = max(1, height - 4 - gate_lines - len(checklist) - bool(hosts.total))
        # Columns as wide as their longest entry allows: two checks that differ only at the end of their name
        # ("nothing to clobber (http-latency)" / "(http-errors)") must not read the same.
        target_w = min(max(14, width // 6), max([len(i.target or "-") for i in items] + [4]))
        longest_detail = min(max([len(i.detail) for i in items] + [0]), width // 3)
        check_w = min(max(24, width - target_w - 4 - longest_detail), max([len(i.check) for i in items] + [5]))
        detail_w = max(8, width - check_w - target_w - 4)
        # Failures first: they are what the facilitator must act on.
        ordered = sorted(items, key=lambda i: (i.ok is not False, i.ok is True))
        shown = ordered[:room_for_checks]
        # Rows to spare: a long detail wraps under its column instead of ending in "…" (failures first).
        spare = room_for_checks - len(shown)
        for item in shown:
            glyph, style = ("✓", self.tone("good")) if item.ok else (
                ("✗", self.tone("bad", "bold")) if item.ok is False else ("…", self.tone("active")))
            text.append(f"\n{glyph} ", style=style)
            text.append(clip(item.check, check_w).ljust(check_w) + " ")
            text.append(clip(item.target or "-", target_w).ljust(target_w) + " ", style="bold")
            rows = textwrap.wrap(item.detail, detail_w) or [""]
            if len(rows) - 1 > spare:
                rows = [clip(item.detail, detail_w)]
            spare -= len(rows) - 1
            text.append(rows[0], style="" if item.ok else style)
            for row in rows[1:]:
                text.append("\n" + " " * (width - detail_w) + row, style="" if item.ok else style)
        if len(ordered) > room_for_checks:
            text.append(f"\n… {len(ordered) - room_for_checks} more checks", style="dim")
        text.append("\n\nHuman checklist", style="bold")
        if not self.read_only:
            text.append("  (↑/↓ move, space ticks; journaled)", style="dim")
        if not checklist:
            text.append("\n  none in this scenario", style="dim")
        for i, (label, ticked) in enumerate(checklist):
            mark = "[x]" if ticked else "[ ]"
            here = i == self.cursor and not self.read_only
            text.append("\n" + ("▸ " if here else "  "), style="bold")
            text.append(f"{mark} {label}", style=self.tone("good" if ticked else None, "bold reverse" if here else ""))
        if state.checklist_pending():
            # The engine waits on this gate: say what starts the session, or who it waits for.
            left = sum(1 for ticked in state.checklist.values() if not ticked)
            text.append("\n")
            if self.read_only:
                text.append("▶ waiting for the facilitator to confirm the checklist", style="bold reverse")
            else:
                text.append("▶ START?", style="bold reverse")
                text.append(f" {self.gate_keys['confirm']}=start {self.gate_keys['abort']}=abort", style="bold")
                if left:
                    text.append(f"  ({left} item{'s' if left > 1 else ''} to tick first)", style=self.tone("active"))
            if self.refused:
                text.append(f"\n✗ {self.refused}", style=self.tone("bad", "bold"))
        elif state.checklist_decision is not None:
            text.append(f"\nchecklist: {state.checklist_decision}", style="italic")
        return text
