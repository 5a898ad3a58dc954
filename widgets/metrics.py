"""The metrics pane: the current steady-state judgement, then one sparkline per series with value and status.

No series the room cares about is ever hidden: what the current step expects, what a stop condition or the
steady state watches, and anything breaching or near a threshold come first (`RoomState.series_order`);
the rest scroll by keyboard under a line that counts them. Zoomed, the pane uses columns to show every series.
"""

from __future__ import annotations

import textwrap

from rich.style import Style
from rich.text import Text

from controlroom.viewstate import RoomState, SeriesView, format_clock
from controlroom.widgets._pane import Pane, Tone
from controlroom.widgets.sparkline import clip, format_value, sparkline

# A glyph per status keeps the pane readable under NO_COLOR and for colour-blind participants.
STATUS: dict[str, tuple[str, Tone | None, str]] = {
    "ok": ("✓", "good", ""), "near": ("≈", "active", ""), "warn": ("!", "active", "bold"), "breach": ("✗", "bad", "bold"),
    "unknown": ("?", None, "dim")}
MIN_COLUMN = 36  # a series row: name, a short sparkline, value and glyph
GUTTER = 2
VALUE_W = 8
COUNT_ROW_MIN = 3  # fewer content rows than this: the hidden-series count goes in the border, not a row


def _condition_tail(series: str, text: str) -> str:
    return text.removeprefix(series + " ")


class MetricsPane(Pane):
    TITLE = "Metrics"
    DEFAULT_CSS = """
    MetricsPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series_offset = 0  # how far the unpinned series are scrolled
        self.scroll_keys = "↑/↓"
        self.can_scroll = False  # the last render hid series: the scroll keys have something to do
        self._subtitle: str | None = None

    def scroll_series(self, delta: int) -> None:
        self.series_offset = max(0, self.series_offset + delta)
        self.refresh()

    # ---- the judgement ------------------------------------------------------------------------------------

    def _judgement(self, text: Text, state: RoomState, width: int) -> None:
        """The steady state and the stop conditions as they stand on the latest sample, with its time."""
        if state.last_sample is None:
            line, style = "steady state: no samples yet", Style(dim=True)
        else:
            at = format_clock(state.last_sample)
            stops, _ = state.judge_now(state.stop_conditions, True)
            failing, unknown = state.judge_now(state.steady_conditions, False)
            if stops:
                what = ", ".join(f"{c.series} {format_value(v)}, stop if {_condition_tail(c.series, str(c))}"
                                 for c, v in stops)
                line, style = f"✗ stop condition holds ({at}): {what}", self.tone("bad", "bold reverse")
            elif not state.steady_conditions:
                line, style = f"steady state: no requirements ({at})", Style(dim=True)
            elif failing:
                what = ", ".join(f"{c.series} {format_value(v)}, needs {_condition_tail(c.series, str(c))}"
                                 for c, v in failing)
                line, style = f"✗ steady state fails ({at}): {what}", self.tone("active", "bold")
            elif unknown:
                line, style = f"? steady state unknown ({at}): no value for {', '.join(unknown)}", Style(bold=True)
            else:
                line, style = f"✓ steady state holds ({at})", self.tone("good", "bold")
        self._lines(text, line, style, width, first=True)

    def _lines(self, text: Text, line: str, style: str | Style, width: int, *, first: bool = False) -> int:
        """One logical line: clipped, or wrapped in full when the pane is zoomed. Returns the rows it took."""
        rows = textwrap.wrap(line, width, subsequent_indent="  ") if self.has_class("-zoom") else [clip(line, width)]
        for i, row in enumerate(rows or [""]):
            if not (first and i == 0):
                text.append("\n")
            text.append(row, style=style)
        return len(rows or [""])

    # ---- the series ---------------------------------------------------------------------------------------

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        self._judgement(text, state, width)
        used = 1 if not self.has_class("-zoom") else len(text.plain.splitlines())
        for source in sorted(state.telemetry_lost):
            why = state.telemetry_detail.get(source) or state.source_errors.get(source, "")
            used += self._lines(text, f"telemetry LOST: {source}" + (f" — {why}" if why else ""),
                                self.tone("bad", "bold reverse"), width)
        for source, error in sorted(state.source_errors.items()):
            if source not in state.telemetry_lost:
                used += self._lines(text, f"✗ {source}: {error}", self.tone("bad", "bold"), width)
        pinned, rest = state.series_order()
        total = len(pinned) + len(rest)
        if not total:
            text.append("\nno series yet", style="dim")
            return text
        rows = max(1, height - used)
        cols = 1
        if total > rows:
            cols = max(1, min(-(-total // rows), (width + GUTTER) // (MIN_COLUMN + GUTTER)))
        shown, above, below, hidden_alerting = self._choose(pinned, rest, rows, cols)
        self.can_scroll = bool(above or below)
        col_w = (width - GUTTER * (cols - 1)) // cols
        name_w = min(max((len(s.name) for s in shown), default=4), max(18, col_w // 3))
        spark_w = max(4, col_w - name_w - VALUE_W - 4)
        # Room to spare (a tall terminal, few series): a second line per series with its thresholds and range.
        detailed = cols == 1 and not (above or below) and total * 2 <= rows
        per_col = -(-len(shown) // cols)
        grid: list[list[SeriesView]] = [shown[c * per_col:(c + 1) * per_col] for c in range(cols)]
        for r in range(per_col):
            text.append("\n")
            for c in range(cols):
                if r >= len(grid[c]):
                    continue
                if c:
                    text.append(" " * GUTTER)
                self._row(text, grid[c][r], name_w, spark_w, col_w)
            if detailed:
                sv = grid[0][r]
                text.append("\n" + " " * (name_w + 1))
                text.append(clip(self._detail(sv), max(0, width - name_w - 1)), style="dim")
        # The count of what is hidden: its own row, or — when the pane has too few rows to spare one — the
        # bottom border, so a series row is never traded for it.
        count_row = (above or below) and rows >= COUNT_ROW_MIN
        subtitle = f"{len(shown)} of {total} series · z all" if (above or below) and not count_row else None
        if self._subtitle != subtitle:
            # Set after this paint: a change made while rendering would be lost with the frame being drawn.
            self._subtitle = subtitle
            self.call_after_refresh(setattr, self, "border_subtitle", subtitle)
        if count_row:
            parts = [f"{len(shown)} of {total} series"]
            if below:
                parts.append(f"▼ {below} more")
            if above:
                parts.append(f"▲ {above} above")
            if hidden_alerting:
                parts.append(f"{hidden_alerting} alerting")
            parts.append(f"{self.scroll_keys} scroll")
            if not self.has_class("-zoom"):
                parts.append("z all")
            text.append("\n" + clip(" · ".join(parts), width),
                        style=self.tone("active" if hidden_alerting else None, "bold"))
        return text

    def _choose(self, pinned: list[SeriesView], rest: list[SeriesView], rows: int,
                cols: int) -> tuple[list[SeriesView], int, int, int]:
        """The series to draw: all that fit; else the pinned ones (expected, watched by a condition, or
        alerting), which stay whatever the scroll, and a scrolled window over the rest.

        Returns (shown, hidden above, hidden below, alerting among the hidden).
        """
        ordered = [*pinned, *rest]
        if len(ordered) <= rows * cols:
            self.series_offset = 0
            return ordered, 0, 0, 0
        # One row says what is hidden and how to scroll, when there are enough rows to spare it.
        slots = (rows - 1) * cols if rows >= COUNT_ROW_MIN else rows * cols
        sticky = list(pinned)
        if len(sticky) > slots - 1:
            # More must-show series than rows: the alerting ones first (the worst first), and the others
            # scroll with the rest; at least one row is left to scroll through them.
            sticky = sorted(sticky, key=lambda s: (not s.breached and s.status != "breach", s.status != "warn",
                                                  s.status != "near", not s.alerting))[:max(min(1, slots), slots - 1)]
        flow = [s for s in ordered if s not in sticky]
        window = max(0, slots - len(sticky))
        self.series_offset = max(0, min(self.series_offset, len(flow) - window))
        visible = flow[self.series_offset:self.series_offset + window]
        position = {s.name: i for i, s in enumerate(ordered)}
        shown = sorted([*sticky, *visible], key=lambda s: position[s.name])
        hidden = flow[:self.series_offset] + flow[self.series_offset + window:]
        return shown, self.series_offset, len(flow) - self.series_offset - len(visible), \
            sum(1 for s in hidden if s.alerting)

    @staticmethod
    def _detail(sv: SeriesView) -> str:
        nums = [v for v in sv.values if v is not None]
        parts = [f"stop if {_condition_tail(c.series, str(c))}" for c in sv.stop]
        parts += [f"needs {_condition_tail(c.series, str(c))}" for c in sv.steady]
        if nums:
            parts.append(f"range {format_value(min(nums))}…{format_value(max(nums))}")
        if sv.error:
            parts.append(f"error: {sv.error}")
        return " · ".join(parts) or "no thresholds"

    def _row(self, text: Text, sv: SeriesView, name_w: int, spark_w: int, col_w: int) -> None:
        status = "breach" if sv.breached else sv.status
        glyph, tone, attrs = STATUS[status]
        style = self.tone(tone, attrs)
        text.append(clip(sv.name, name_w).ljust(name_w) + " ")
        text.append(sparkline(sv.values, spark_w), style=style)
        value = "error" if sv.error and sv.current is None else format_value(sv.current)
        text.append(" " + value.rjust(VALUE_W) + " ", style="bold")
        text.append(glyph, style=style)
