"""The fault timeline: a lane per target over session time, fault bars, and markers for breaches, rollbacks, notes.

One fault of a step sent to many targets (a label selector: `zone=eu-2`) is one row with a count, not a lane per
target (`controlroom.fleet_view.fault_groups`); the expand key shows its targets' lanes under it. A target whose
revert is not confirmed keeps a lane of its own even when its fault is grouped: a row never hides it.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.geometry import Size

from controlroom.fleet_view import FaultGroup, fault_groups, natural_key
from controlroom.viewstate import FaultWindow, RoomState, format_clock
from controlroom.widgets._pane import Pane, Tone
from controlroom.widgets.sparkline import clip

MARKER_TONES: dict[str, Tone] = {"breach": "bad", "rollback": "rollback", "note": "info"}
# A row: ("target", name, indented) or ("group", FaultGroup) or ("idle", count of targets with no fault yet).
Row = tuple[str, object, bool]


class FaultTimeline(Pane):
    TITLE = "Timeline  ━ fault  ⚠ breach  ⟲ rollback  ✎ note"
    DEFAULT_CSS = """
    FaultTimeline { height: 7; }
    """

    _subtitle: str | None = None
    expanded = False  # the targets' own lanes under each grouped fault's row (the expand key)

    def show(self, state: RoomState) -> None:
        # On big terminals the timeline is as tall as its lanes (CSS `height: auto`): the rows it does not
        # need go to the metrics pane.
        self.show_shape(state, (len(state.targets), len(state.windows), self.expanded))

    def toggle_expanded(self) -> bool:
        self.expanded = not self.expanded
        if self._state is not None:
            self.show(self._state)
        return self.expanded

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """A row per lane, the session lane and the time axis (rendering cannot say: it needs the height)."""
        return len(self.rows(self._state)) + 2 if self._state is not None else 2

    def rows(self, state: RoomState) -> list[Row]:
        """The lanes under the session lane: each fault sent to several targets as one row (with its targets'
        lanes under it when expanded), then a lane per other target — active, unconfirmed, the rest by name.
        Targets no fault has touched share one row when there are more lanes than would fit on a screen."""
        groups = [g for g in fault_groups(state) if len(g.targets) > 1]
        grouped = {w.target for g in groups for w in g.windows}
        out: list[Row] = []
        for g in groups:
            out.append(("group", g, False))
            if self.expanded:
                out += [("target", name, True) for name in g.targets]
        # Targets with something on them first: active, then unconfirmed, then the rest by name.
        own = sorted((n for n, tv in state.targets.items() if n not in grouped or tv.state == "unconfirmed"),
                     key=lambda n: (not state.targets[n].active, state.targets[n].state != "unconfirmed",
                                    natural_key(n)))
        if groups and not self.expanded:
            touched = {w.target for w in state.windows}
            idle = [n for n in own if n not in touched and state.targets[n].state == "clean"]
            if len(idle) > 1:
                own = [n for n in own if n not in set(idle)]
                out += [("target", n, False) for n in own]
                out.append(("idle", len(idle), False))
                return out
        out += [("target", n, False) for n in own]
        return out

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        rows_wanted = self.rows(state)

        def label(row: Row) -> str:
            kind, what, indented = row
            if kind == "group":
                assert isinstance(what, FaultGroup)
                return f"{what.key} ×{len(what.targets)}"
            if kind == "idle":
                return f"no fault ×{what}"
            return ("  " if indented else "") + str(what)

        labels = [label(r) for r in rows_wanted]
        label_w = min(16 if any(r[0] != "target" for r in rows_wanted) else 12, max([len(x) for x in labels] + [7]))
        track_w = max(8, width - label_w - 1)
        span = max(60.0, state.now)  # at least a minute wide, so early bars do not fill the lane
        per_col = span / track_w

        def col(mono: float) -> int:
            return min(track_w - 1, max(0, int(mono / per_col)))

        marker = {kind: self.tone(tone, "bold") for kind, tone in MARKER_TONES.items()}
        fault_bar = self.tone("active", "bold")
        rolled_back_at = state.rollback.started if state.rollback is not None else None

        def draw(windows: list[FaultWindow]) -> tuple[list[str], list[str | Style]]:
            cells = ["·"] * track_w
            styles: list[str | Style] = ["dim"] * track_w
            # A fault on 200 targets: their windows fall on a few distinct column spans; each is drawn once,
            # the failed ones last, so a failed injection on any of the group's targets stays visible.
            spans = {(col(w.start), col(w.end if w.end is not None else state.now), w.failed) for w in windows}
            for c0, c1, failed in sorted(spans, key=lambda span: span[2]):
                cells[c0:c1 + 1] = ["╳" if failed else "━"] * (c1 + 1 - c0)
                styles[c0:c1 + 1] = [marker["breach"] if failed else fault_bar] * (c1 + 1 - c0)
            if rolled_back_at is not None:
                for c in {col(w.end) for w in windows if w.end is not None and w.end >= rolled_back_at}:
                    cells[c] = "⟲"
                    styles[c] = marker["rollback"]
            return cells, styles

        by_target: dict[str, list[FaultWindow]] = {}
        for w in state.windows:
            by_target.setdefault(w.target, []).append(w)
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
        rows = max(1, height - 1)
        for row, name in zip(rows_wanted[:rows - 1], labels, strict=False):
            kind, what, _ = row
            if kind == "group":
                assert isinstance(what, FaultGroup)
                lanes.append((name, *draw(what.windows)))
            elif kind == "idle":
                lanes.append((name, ["·"] * track_w, ["dim"] * track_w))
            else:
                lanes.append((name, *draw(by_target.get(str(what), []))))
        total = len(rows_wanted) + 1
        # Lanes that do not fit are counted in the bottom border: a count never takes a lane's row.
        subtitle = f"+{total - rows} more lanes · z all" if total > rows else None
        if self._subtitle != subtitle:
            self._subtitle = subtitle
            self.call_after_refresh(setattr, self, "border_subtitle", subtitle)  # not mid-paint: it would be lost
        for i, (name, cells, styles) in enumerate(lanes):
            if i:
                text.append("\n")
            text.append(clip(name, label_w).ljust(label_w) + " ", style="bold" if name == "session" else "")
            # One span per run of equal style: a span per cell makes 50 lanes cost 100x to paint.
            start = 0
            for j in range(1, len(cells) + 1):
                if j == len(cells) or styles[j] != styles[start]:
                    text.append("".join(cells[start:j]), style=styles[start])
                    start = j
        axis_left = "0:00"
        axis_right = format_clock(span).removeprefix("T+")
        text.append("\n" + " " * (label_w + 1) + axis_left + axis_right.rjust(track_w - len(axis_left)), style="dim")
        return text
