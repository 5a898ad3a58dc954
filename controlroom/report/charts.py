"""Charts without a chart library: inline SVG for the HTML report, unicode sparklines and bars for text.

Pure string builders over the report's data; every value that reaches markup is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from controlroom.formats import format_clock as clock
from controlroom.report.model import COMPONENT_TITLES, parse_condition

MARKER_COLOURS = {
    "breach": "#d62728",
    "emergency-stop": "#8b0000",
    "rollback": "#9467bd",
    "rollback-finished": "#6a4c93",
    "note": "#1f77b4",
    "telemetry-lost": "#7f7f7f",
    "fault-failed": "#ff7f0e",
    "revert-failed": "#d62728",
    "inject-stopped": "#ff7f0e",
}


def text_bar(value: float | None, width: int = 20) -> str:
    """0..100 -> a unicode bar of `width` cells, with eighths for the last cell."""
    if value is None:
        return "·" * width
    cells = max(0.0, min(100.0, value)) / 100.0 * width
    full = int(cells)
    part = int((cells - full) * 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if full < width and part else "")
    return bar.ljust(width, "·")


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def series_svg(series: dict[str, Any], *, t_end: float, windows: list[tuple[float, float, str]],
               markers: list[dict[str, Any]], width: int = 880, height: int = 180) -> str:
    """One series over session time: its samples as polylines (broken at gaps), fault windows shaded,
    stop-condition thresholds dashed, and events (breach, rollback, notes) as marked vertical lines."""
    left, right, top, bottom = 60, 12, 12, 24
    pw, ph = width - left - right, height - top - bottom
    pts = [(float(m), v) for m, v in series.get("points") or [] if m is not None]
    thresholds = [c for c in (parse_condition(t) for t in series.get("stop_conditions") or []) if c is not None]
    ys = [v for _, v in pts if v is not None] + [c.value for c in thresholds]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.06
    # A series that never goes below zero (ms, rps, a ratio) gets no negative axis: the padding stops at 0.
    floor = 0.0 if not ys or min(ys) >= 0 else None
    lo, hi = lo - pad, hi + pad
    if floor is not None:
        lo = max(lo, floor)
    t_end = max(t_end, max((m for m, _ in pts), default=0.0), 1e-9)

    def x(t: float) -> float:
        return left + pw * max(0.0, min(1.0, t / t_end))

    def y(v: float) -> float:
        return top + ph * (1.0 - (v - lo) / (hi - lo))

    name = escape(str(series.get("name", "")))
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{name} over session time">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>']
    for a, b, label in windows:
        parts.append(f'<rect class="fault" x="{x(a):.1f}" y="{top}" width="{max(1.0, x(b) - x(a)):.1f}" height="{ph}">'
                     f'<title>{escape(label)}: {clock(a)} – {clock(b)}</title></rect>')
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        parts.append(f'<text class="axis" x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    for frac, anchor in ((0.0, "start"), (0.25, "middle"), (0.5, "middle"), (0.75, "middle"), (1.0, "end")):
        t = t_end * frac
        parts.append(f'<text class="axis" x="{x(t):.1f}" y="{height - 6}" text-anchor="{anchor}">{clock(t)}</text>')
    for c in thresholds:
        parts.append(f'<line class="threshold" x1="{left}" x2="{left + pw}" y1="{y(c.value):.1f}" y2="{y(c.value):.1f}">'
                     f'<title>stop when {escape(c.text)}</title></line>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for m, v in pts:
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(m):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="line-dot" cx="{cx}" cy="{cy}" r="2"/>')
        else:
            parts.append(f'<polyline class="line" points="{" ".join(seg)}"/>')
    for mk in markers:
        colour = MARKER_COLOURS.get(str(mk.get("kind")), "#444")
        mx = x(float(mk.get("mono") or 0.0))
        parts.append(f'<line class="marker marker-{escape(str(mk.get("kind")))}" x1="{mx:.1f}" x2="{mx:.1f}" '
                     f'y1="{top}" y2="{top + ph}" stroke="{colour}"><title>{clock(float(mk.get("mono") or 0))} '
                     f'{escape(str(mk.get("label", "")))}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def score_svg(components: dict[str, Any], width: int = 420) -> str:
    """The score breakdown as horizontal bars: one per component, labelled with score and weight."""
    row, label_w, bar_w = 22, 170, width - 170 - 90
    height = row * len(components) + 6
    parts = [f'<svg class="score-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="score breakdown">']
    for i, (name, comp) in enumerate(components.items()):
        yy = 4 + i * row
        value = comp.get("score")
        title = escape(COMPONENT_TITLES.get(name, name))
        parts.append(f'<text class="axis" x="0" y="{yy + 14}">{title}</text>')
        parts.append(f'<rect class="bar-bg" x="{label_w}" y="{yy + 3}" width="{bar_w}" height="14"/>')
        if value is not None:
            colour = "#2ca02c" if value >= 80 else "#ffbf00" if value >= 50 else "#d62728"
            parts.append(f'<rect class="bar" x="{label_w}" y="{yy + 3}" width="{bar_w * value / 100:.1f}" height="14" '
                         f'fill="{colour}"/>')
        shown = "n/a" if value is None else f"{value:g}"
        parts.append(f'<text class="axis" x="{label_w + bar_w + 6}" y="{yy + 14}">{shown} ×{comp.get("weight")}</text>')
    parts.append("</svg>")
    return "".join(parts)
