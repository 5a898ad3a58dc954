"""The metrics pane: one sparkline per series with its current value, threshold status and the steady-state verdict."""

from __future__ import annotations

from controlroom.widgets._pane import Pane
from controlroom.widgets.sparkline import clip, format_value, sparkline
from rich.text import Text

from controlroom.viewstate import RoomState, SeriesView

# A glyph per status keeps the pane readable under NO_COLOR and for colour-blind participants.
STATUS = {"ok": ("✓", "green"), "warn": ("!", "bold yellow"), "breach": ("✗", "bold red"), "unknown": ("?", "dim")}


class MetricsPane(Pane):
    TITLE = "Metrics"
    DEFAULT_CSS = """
    MetricsPane { height: 1fr; }
    """

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        verdict = state.steady_verdict
        ok = state.steady is not None and state.steady.get("ok")
        text.append(clip(verdict, width), style="bold green" if ok else ("bold red" if state.steady else "dim"))
        if state.telemetry_lost:
            lost = "telemetry LOST: " + ", ".join(sorted(state.telemetry_lost))
            text.append("\n" + clip(lost, width), style="bold reverse red")
            height -= 1
        series = list(state.series.values())
        if not series:
            text.append("\nno series yet", style="dim")
            return text
        rows = height - 1
        shown = series if len(series) <= rows else series[: max(0, rows - 1)]
        name_w = min(18, max(len(s.name) for s in series))
        value_w = 8
        spark_w = max(4, width - name_w - value_w - 4)
        # Room to spare (a tall terminal, few series): a second line per series with its thresholds and range.
        detailed = len(series) * 2 <= rows
        for sv in shown:
            text.append("\n")
            self._row(text, sv, name_w, spark_w, value_w, width)
            if detailed:
                text.append("\n" + " " * (name_w + 1))
                text.append(self._detail(sv), style="dim")
        if len(shown) < len(series):
            hidden = len(series) - len(shown)
            breaching = sum(1 for s in series[len(shown):] if s.status == "breach")
            text.append(f"\n… {hidden} more series" + (f", {breaching} breaching" if breaching else ""), style="dim")
        return text

    @staticmethod
    def _detail(sv: SeriesView) -> str:
        nums = [v for v in sv.values if v is not None]
        parts = [f"stop if {str(c).removeprefix(c.series + ' ')}" for c in sv.stop]
        parts += [f"needs {str(c).removeprefix(c.series + ' ')}" for c in sv.steady]
        if nums:
            parts.append(f"range {format_value(min(nums))}…{format_value(max(nums))}")
        if sv.error:
            parts.append(f"error: {sv.error}")
        return " · ".join(parts) or "no thresholds"

    def _row(self, text: Text, sv: SeriesView, name_w: int, spark_w: int, value_w: int, width: int) -> None:
        status = "breach" if sv.breached else sv.status
        glyph, style = STATUS[status]
        text.append(clip(sv.name, name_w).ljust(name_w) + " ")
        text.append(sparkline(sv.values, spark_w), style=style if status != "ok" else "green")
        value = "error" if sv.error and sv.current is None else format_value(sv.current)
        text.append(" " + value.rjust(value_w) + " ", style="bold")
        text.append(glyph, style=style)
