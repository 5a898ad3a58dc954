"""The fault timeline: a lane per target over session time, fault bars, and markers for breaches, rollbacks, notes."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.geometry import Size

from controlroom.viewstate import RoomState, format_clock
from controlroom.widgets._pane import Pane, Tone
from controlroom.widgets.sparkline import clip

MARKER_TONES: dict[str, Tone] = {"breach": "bad", "rollback": "rollback", "note": "info"}


class FaultTimeline(Pane):
    TITLE = "Timeline  ━ fault  ⚠ breach  ⟲ rollback  ✎ note"
    DEFAULT_CSS = """
    FaultTimeline { height: 7; }
    """

    _subtitle: str | None = None

    def show(self, state: RoomState) -> None:
        # On big terminals the timeline is as tall as its lanes (CSS `height: auto`): the rows it does not
        # need go to the metrics pane.
        self.show_shape(state, (len(state.targets),))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """A lane per target, the session lane and the time axis (rendering cannot say: it needs the height)."""
        return len(self._state.targets) + 2 if self._state is not None else 2

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        label_w = min(12, max([len(n) for n in state.targets] + [7]))
        track_w = max(8, width - label_w - 1)
        span = max(60.0, state.now)  # at least a minute wide, so early bars do not fill the lane
        per_col = span / track_w

        def col(mono: float) -> int:
            return min(track_w - 1, max(0, int(mono / per_col)))

        marker = {kind: self.tone(tone, "bold") for kind, tone in MARKER_TONES.items()}
        fault_bar = self.tone("active", "bold")
        lanes: list[tuple[str, list[str], list[str | Style]]] = []
        session = [" "] * track_w
        session_styles: list[str | Style] = [""] * track_w
        for m in state.markers:
            if m.target is None:
                c = col(m.mono)
                # A breach outranks a rollback outranks a note when they share a column.
                if session[c] == " " or m.kind == "breach" or (m.kind == "rollback" and session[c] == "✎"):
                    session[c] = m.glyph
                    session_styles[c] = marker[m.kind]
        lanes.append(("session", session, session_styles))
        # Targets with something on them first: active, then unconfirmed, then the rest by name.
        targets = sorted(state.targets, key=lambda n: (not state.targets[n].active,
                                                       state.targets[n].state != "unconfirmed", n))
        for name in targets:
            cells = ["·"] * track_w
            styles: list[str | Style] = ["dim"] * track_w
            for w in state.windows:
                if w.target != name:
                    continue
                end = w.end if w.end is not None else state.now
                for c in range(col(w.start), col(end) + 1):
                    cells[c] = "╳" if w.failed else "━"
                    styles[c] = marker["breach"] if w.failed else fault_bar
                if w.end is not None and state.rollback is not None and w.end >= state.rollback.started:
                    cells[col(w.end)] = "⟲"
                    styles[col(w.end)] = marker["rollback"]
            lanes.append((name, cells, styles))
        rows = max(1, height - 1)
        # Lanes that do not fit are counted in the bottom border: a count never takes a lane's row.
        subtitle = f"+{len(lanes) - rows} more lanes · z all" if len(lanes) > rows else None
        if self._subtitle != subtitle:
            self._subtitle = subtitle
            self.call_after_refresh(setattr, self, "border_subtitle", subtitle)  # not mid-paint: it would be lost
        lanes = lanes[:rows]
        for i, (name, cells, styles) in enumerate(lanes):
            if i:
                text.append("\n")
            text.append(clip(name, label_w).ljust(label_w) + " ", style="bold" if name == "session" else "")
            # One span per run of equal style: a span per cell makes 50 lanes cost 100x to paint.
            start = 0
            for i in range(1, len(cells) + 1):
                if i == len(cells) or styles[i] != styles[start]:
                    text.append("".join(cells[start:i]), style=styles[start])
                    start = i
        axis_left = "0:00"
        axis_right = format_clock(span).removeprefix("T+")
        text.append("\n" + " " * (label_w + 1) + axis_left + axis_right.rjust(track_w - len(axis_left)), style="dim")
        return text
