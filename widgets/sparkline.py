"""Text sparklines and number formatting shared by the panes (no Textual: cheap to render hundreds of series)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float | None], width: int) -> str:
    """The last `width` values as bar glyphs scaled between their min and max; a gap is a space."""
    if width <= 0:
        return ""
    tail: Sequence[float | None] = list(values)[-width:]
    nums = [v for v in tail if v is not None and math.isfinite(v)]
    if not nums:
        return " " * width
    lo, hi = min(nums), max(nums)
    span = hi - lo
    out = []
    for v in tail:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif span <= 0:
            out.append(BARS[3])
        else:
            out.append(BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + 0.5))])
    return "".join(out).rjust(width)


def format_value(value: float | None) -> str:
    if value is None:
        return "—"
    a = abs(value)
    if a >= 10000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def clip(text: str, width: int) -> str:
    """Cut to `width` cells with an ellipsis, so a long name never wraps a pane line."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
