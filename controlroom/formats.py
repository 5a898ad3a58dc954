"""The one session clock and the one sparkline: every reader (the room, the report, the headless printer,
`history`) draws time and series with these, so the same journal reads the same everywhere.

Pure functions of their arguments (no Textual, no Rich): the widgets call them too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

BARS = "▁▂▃▄▅▆▇█"
FLAT = BARS[3]  # a series that does not move: a mid-low bar, so a flat line reads as neither a dip nor a spike


def format_clock(seconds: float) -> str:
    """Session time as T+mm:ss (T+h:mm:ss past an hour), TRUNCATED to the whole second: 62.6 s is T+01:02.

    Truncating, never rounding: the clock of an event must not read later than the event (an emergency stop
    at 62.6 s happened during second 62, not at T+01:03), and the room's ticking clock shows the same second.
    """
    s = max(0, int(seconds)) if math.isfinite(seconds) else 0
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"T+{h}:{m:02d}:{sec:02d}" if h else f"T+{m:02d}:{sec:02d}"


def sparkline(values: Iterable[float | None], width: int, *, whole: bool = False) -> str:
    """Values as `width` bar glyphs scaled between their min and max; a gap (None, NaN, inf) is a space.

    `whole=False` (the live room): the last `width` values, right-aligned in `width` cells.
    `whole=True` (the report, history): every value, averaged into at most `width` buckets, a bucket without a
    number a gap; fewer values than `width` give one glyph each (no padding).
    Each bar is the nearest of the eight levels; a flat series draws `FLAT`.
    """
    if width <= 0:
        return ""
    vals: Sequence[float | None] = [v if v is None or math.isfinite(v) else None for v in values]
    if whole:
        n = len(vals)
        if n > width:
            buckets: list[float | None] = []
            for b in range(width):
                chunk = [v for v in vals[b * n // width:(b + 1) * n // width] if v is not None]
                buckets.append(sum(chunk) / len(chunk) if chunk else None)
            vals = buckets
    else:
        vals = vals[-width:]
    nums = [v for v in vals if v is not None]
    if not nums:
        return " " * (len(vals) if whole else width)
    lo, hi = min(nums), max(nums)
    span = hi - lo
    top = len(BARS) - 1
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
        elif span <= 0:
            out.append(FLAT)
        else:
            out.append(BARS[min(top, int((v - lo) / span * top + 0.5))])
    line = "".join(out)
    return line if whole else line.rjust(width)
