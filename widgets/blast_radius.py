"""The blast radius pane: every target's state, faulted targets against max_targets, time left against max_duration."""

from __future__ import annotations

import textwrap

from rich.text import Text

from controlroom.viewstate import RoomState, format_seconds
from controlroom.widgets._pane import Pane, Tone
from controlroom.widgets.sparkline import clip

# Glyph + word per state: readable without colour. Then the tone and the weight.
TARGET_LOOKS: dict[str, tuple[str, str, Tone | None, str]] = {
    "clean": ("○", "clean", "good", ""),
    "armed": ("◔", "armed", "info", ""),
    "faulted": ("●", "FAULTED", "active", "bold"),
    "reverting": ("⟲", "reverting", "rollback", "bold"),
    "unconfirmed": ("✗", "UNCONFIRMED", "bad", "bold"),
    "unreachable": ("⊘", "unreachable", "bad", "bold"),
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
        text.append(f"faulted {faulted}/{limit if limit is not None else '?'}", style=self.tone("bad" if over else None, "bold"))
        left = state.time_left
        if left is not None and state.max_duration is not None:
            text.append(f"  left {format_seconds(left)}/{format_seconds(state.max_duration)}",
                        style=self.tone("bad" if left < 30 else None, "bold"))
        elif state.max_duration is not None:
            limit_s = format_seconds(state.max_duration)  # labelled; the short form when the pane is narrow
            label = f"  max fault time {limit_s}" if len(text.plain) + 17 + len(limit_s) <= width else f"  ≤{limit_s}/fault"
            text.append(label, style="dim")
        targets = list(state.targets.values())
        # Faulted and troubled targets first: with 50 targets the ones that matter stay on screen.
        order = {"unconfirmed": 0, "faulted": 1, "reverting": 2, "unreachable": 3, "armed": 4, "clean": 5}
        targets.sort(key=lambda t: (order.get(t.state, 9), t.name))
        rows = height - 1
        shown = targets if len(targets) <= rows else targets[: max(0, rows - 1)]
        name_w = min(16, max((len(t.name) for t in targets), default=4))
        open_faults = {t.name: [f"{w.type}: {w.summary}" for w in state.windows if w.target == t.name and w.end is None]
                       for t in targets}
        zoomed = self.has_class("-zoom")

        def wrapped(line: str) -> list[str]:
            return textwrap.wrap(line, max(8, width - 4)) or [""]

        # Spare rows: say what is on each target, in full when there is room (or zoomed), else one line each.
        full_rows = len(targets) + sum(len(wrapped(f)) for fs in open_faults.values() for f in fs)
        roomy = len(targets) + sum(len(fs) for fs in open_faults.values()) <= rows
        in_full = zoomed or full_rows <= rows
        for tv in shown:
            glyph, word, tone, attrs = TARGET_LOOKS.get(tv.state, ("?", tv.state, None, ""))
            style = self.tone(tone, attrs)
            text.append("\n")
            text.append(f"{glyph} ", style=style)
            text.append(clip(tv.name, name_w).ljust(name_w) + " ")
            text.append(word, style=style)
            if tv.since is not None:
                text.append(f" {format_seconds(state.now - tv.since)}", style="dim")
            elif tv.detail and tv.state in ("unreachable", "unconfirmed"):
                if zoomed:
                    for line in wrapped(tv.detail):
                        text.append("\n    " + line, style="dim")
                else:
                    text.append(" " + clip(tv.detail, max(0, width - name_w - len(word) - 4)), style="dim")
            if roomy or zoomed:
                # Say what is on the target, so nobody has to cross-read the step card.
                for fault in open_faults[tv.name]:
                    for line in (wrapped(fault) if in_full else [clip(fault, max(0, width - 4))]):
                        text.append("\n    " + line, style="dim")
            if tv.pods and (zoomed or roomy):
                # Kubernetes: the pods chosen (journaled by name and uid), each selected/injected/recovered.
                pods = sorted(tv.pods.items())
                room = len(pods) if zoomed else max(1, min(len(pods), rows - len(shown)))
                for name, pod_state in pods[:room]:
                    text.append("\n    ▪ " + clip(name, max(0, width - 18)) + " ", style="dim")
                    text.append(pod_state, style="bold red" if pod_state == "unconfirmed" else "dim")
                if len(pods) > room:
                    text.append(f"\n    … {len(pods) - room} more pod(s) (zoom: z)", style="dim")
        if len(shown) < len(targets):
            clean = sum(1 for t in targets[len(shown):] if t.state == "clean")
            text.append(f"\n… {len(targets) - len(shown)} more ({clean} clean)", style="dim")
        return text
