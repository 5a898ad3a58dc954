"""The blast radius pane: every target's state, faulted targets against max_targets, time left against max_duration."""

from __future__ import annotations

from controlroom.widgets._pane import Pane
from controlroom.widgets.sparkline import clip
from rich.text import Text

from controlroom.viewstate import RoomState, format_seconds

# Glyph + word per state: readable without colour.
TARGET_STYLES = {
    "clean": ("○", "clean", "green"),
    "armed": ("◔", "armed", "cyan"),
    "faulted": ("●", "FAULTED", "bold yellow"),
    "reverting": ("⟲", "reverting", "bold magenta"),
    "unconfirmed": ("✗", "UNCONFIRMED", "bold red"),
    "unreachable": ("⊘", "unreachable", "bold red"),
}


class BlastRadiusPane(Pane):
    TITLE = "Blast radius"
    DEFAULT_CSS = """
    BlastRadiusPane { height: 1fr; }
    """

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        faulted = len(state.faulted_targets)
        limit = state.max_targets
        over = limit is not None and faulted > limit
        text.append(f"faulted {faulted}/{limit if limit is not None else '?'}", style="bold red" if over else "bold")
        left = state.time_left
        if left is not None and state.max_duration is not None:
            text.append(f"  left {format_seconds(left)}/{format_seconds(state.max_duration)}",
                        style="bold red" if left < 30 else "bold")
        elif state.max_duration is not None:
            text.append(f"  max fault time {format_seconds(state.max_duration)}", style="dim")
        targets = list(state.targets.values())
        # Faulted and troubled targets first: with 50 targets the ones that matter stay on screen.
        order = {"unconfirmed": 0, "faulted": 1, "reverting": 2, "unreachable": 3, "armed": 4, "clean": 5}
        targets.sort(key=lambda t: (order.get(t.state, 9), t.name))
        rows = height - 1
        shown = targets if len(targets) <= rows else targets[: max(0, rows - 1)]
        name_w = min(16, max((len(t.name) for t in targets), default=4))
        open_windows = sum(1 for w in state.windows if w.end is None)
        roomy = len(targets) + open_windows <= rows
        for tv in shown:
            glyph, word, style = TARGET_STYLES.get(tv.state, ("?", tv.state, ""))
            text.append("\n")
            text.append(f"{glyph} ", style=style)
            text.append(clip(tv.name, name_w).ljust(name_w) + " ")
            text.append(word, style=style)
            if tv.since is not None:
                text.append(f" {format_seconds(state.now - tv.since)}", style="dim")
            elif tv.detail and tv.state in ("unreachable", "unconfirmed"):
                text.append(" " + clip(tv.detail, max(0, width - name_w - len(word) - 4)), style="dim")
            if roomy:
                # Spare rows: say what is on the target, so nobody has to cross-read the step card.
                open_faults = [w for w in state.windows if w.target == tv.name and w.end is None]
                for w in open_faults:
                    text.append("\n    " + clip(f"{w.type}: {w.summary}", max(0, width - 4)), style="dim")
        if len(shown) < len(targets):
            clean = sum(1 for t in targets[len(shown):] if t.state == "clean")
            text.append(f"\n… {len(targets) - len(shown)} more ({clean} clean)", style="dim")
        return text
