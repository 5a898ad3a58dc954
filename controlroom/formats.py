"""The one session clock, the one sparkline and the one way to name many targets: every reader (the room, the report, the headless printer,
`history`) draws time and series with these, so the same journal reads the same everywhere.

Pure functions of their arguments (no Textual, no Rich): the widgets call them too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

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


_NUMBERED = re.compile(r"(.*?)([0-9]+)")


@lru_cache(maxsize=8192)
def natural_key(name: str) -> tuple[object, ...]:
    """`host-9` before `host-10`: a fleet's names carry numbers (so `name_ranges` of a sorted fleet is `h[1:200]`,
    not `h1, h10, h100, …`). Cached: a fleet's names are few and fixed. The split alternates text and number,
    so two keys never compare a number with text."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower()))


def name_ranges(names: Iterable[str]) -> str:
    """Many target names in the scenario's own range form: h101 … h200 is `h[101:200]`, gaps split it
    (`h[1:3], h5`), names without a number stay as they are. The order is the names' order, runs of one
    prefix and width compressed; reading it back with the scenario's range rule gives the same names.
    """
    parts: list[str] = []
    run: list[tuple[str, int, int]] = []  # (prefix, number, width) of a run of consecutive numbers

    def flush() -> None:
        if not run:
            return
        prefix, first, width = run[0]
        last = run[-1][1]
        if len(run) == 1:
            parts.append(f"{prefix}{str(first).zfill(width) if width else first}")
        else:
            lo, hi = (str(first).zfill(width), str(last).zfill(width)) if width else (str(first), str(last))
            parts.append(f"{prefix}[{lo}:{hi}]")
        run.clear()

    for name in names:
        m = _NUMBERED.fullmatch(name)
        if m is None:
            flush()
            parts.append(name)
            continue
        prefix, digits = m.group(1), m.group(2)
        number = int(digits)
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        if run:
            run_width = run[0][2]
            same_form = len(digits) == run_width if run_width else width == 0
            if not (run[-1][0] == prefix and run[-1][1] + 1 == number and same_form):
                flush()
        run.append((prefix, number, width if not run else run[0][2]))
    flush()
    return ", ".join(parts)


def group_by_target(items: Iterable[tuple[str, tuple[str, ...]]]) -> list[tuple[str, int, tuple[str, ...]]]:
    """Consecutive (target, texts) that differ only by the target's name, as one entry: the names written as
    ranges (`name_ranges`), their count, and the texts with each name replaced by those ranges. A fleet step
    ("blackhole on h101 … on h200") reads as one line, in `plan` and in the headless log alike."""
    each = "\x00"  # stands for the target's name while comparing; no name or text contains it
    groups: list[tuple[tuple[str, ...], list[str]]] = []
    for target, texts in items:
        name = re.compile(rf"(?<![\w.-]){re.escape(target)}(?![\w.-])")
        shape = tuple(name.sub(each, text) for text in texts)
        if groups and groups[-1][0] == shape:
            groups[-1][1].append(target)
        else:
            groups.append((shape, [target]))
    out = []
    for shape, names in groups:
        many = name_ranges(names)
        out.append((many, len(names), tuple(text.replace(each, many) for text in shape)))
    return out


FLEET_LINES = 20  # targets up to which every host gets its own line in a log (pre-flight, inject, revert)


@dataclass
class FleetTally:
    """How far a fleet's injection or revert got, in words both logs use (headless and the room's): beyond
    FLEET_LINES faults, a running count instead of a line per host, and once the last is in, one line naming
    every host done. A failure is counted apart (its reader gives it a line of its own) and never named done.
    A value (compared by its fields): the room's state, which holds two, is compared whole by the replay tests.
    """

    verb: str
    total: int = 0
    failed_word: str = "failed"
    done: list[str] = field(default_factory=list)
    failed: int = 0

    @classmethod
    def injection(cls, total: int = 0) -> FleetTally:
        return cls("injected", total)

    @classmethod
    def rollback(cls, total: int = 0) -> FleetTally:
        return cls("reverted and verified clean", total, failed_word="NOT confirmed")

    @property
    def fleet(self) -> bool:
        return self.total > FLEET_LINES

    def counts(self, reverted: Mapping[str, object]) -> bool:
        """Whether a `fault-reverted` payload is this rollback's to count: not a re-confirmation after it ended
        (a host that came back), which keeps a line of its own in both logs."""
        return self.fleet and not reverted.get("reconfirmed")

    def settle(self, target: str | None) -> str:
        """One fault settled: done on `target`, or failed (None). The count as it now reads."""
        if target is None:
            self.failed += 1
        else:
            self.done.append(target)
        n = len(self.done)
        text = f"{self.verb} {n}/{self.total}" + (f" ({self.failed} {self.failed_word})" if self.failed else "")
        return f"{text}: {name_ranges(sorted(self.done, key=natural_key))}" if self.complete else text

    @property
    def complete(self) -> bool:
        return len(self.done) + self.failed >= self.total
