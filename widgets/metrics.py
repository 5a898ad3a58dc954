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
        series = list(state.series.values())
        if not series:
            text.append("\nno series yet", style="dim")
            return text
        rows = height - 1
        shown = series if len(series) <= rows else series[: max(0, rows - 1)]
        name_w = min(18, max(len(s.name) for s in series))
        value_w = 8
        spark_w = max(4, width - name_w - value_w - 4)
        for sv in shown:
            text.append("\n")
            self._row(text, sv, name_w, spark_w, value_w, width)
        if len(shown) < len(series):
            hidden = len(series) - len(shown)
            breaching = sum(1 for s in series[len(shown):] if s.status == "breach")
            text.append(f"\n… {hidden} more series" + (f", {breaching} breaching" if breaching else ""), style="dim")
        return text

    def _row(self, text: Text, sv: SeriesView, name_w: int, spark_w: int, value_w: int, width: int) -> None:
        status = "breach" if sv.breached else sv.status
        glyph, style = STATUS[status]
        text.append(clip(sv.name, name_w).ljust(name_w) + " ")
        text.append(sparkline(sv.values, spark_w), style=style if status != "ok" else "green")
        value = "error" if sv.error and sv.current is None else format_value(sv.current)
        text.append(" " + value.rjust(value_w) + " ", style="bold")
        text.append(glyph, style=style)
