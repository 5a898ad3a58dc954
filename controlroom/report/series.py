"""Every series of a journal folded as it streams by, in bounded memory: chunks of aggregates, and chart points.

The report asks questions of the samples that need the fault windows — the mean
inside them, before the first, after the last, the worst value — and the windows
are known only at the end of the journal. Their edges, though, are always the
times of events: a fault's `fault-injecting` / `fault-injected`, its
`fault-reverted` / `fault-revert-failed`, its step's `step-completed`, or the
journal's last event. So the fold cuts the sample stream into chunks at each of
those events (`cut`) and every few thousand samples, and keeps per chunk and
series only what the questions need (count, sum, min and max with where they
came, the last value, how many values a condition held on); a chunk lies wholly
inside or wholly outside any window, and the answers add up over chunks exactly.
Memory grows with the number of such events and series, not with the samples.

Conditions must be known while samples stream (a chunk keeps how many values
each held on): the report takes them from `session-started` (or the header's
scenario) and folds a second time in the rare journal where they were not the
final ones (`SeriesFold.conditions`).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import repeat
from operator import itemgetter
from typing import Any

from controlroom.report.model import CHART_POINTS, Condition, is_success_series
from controlroom.report.score import ratio

CHUNK = 4096  # samples per chunk at the most: the raw values held at any time
_ABSENT = object()  # a sample without this series (not the same as a null value: that is a gap)


def _count_holding(values: list[float], cond: Condition, lo: float, hi: float) -> int:
    """How many of `values` (their min `lo`, max `hi`) `cond` holds on; from the extremes alone when they decide."""
    op, t = cond.op, cond.value
    if op in ("<", "<="):
        if (hi < t) if op == "<" else (hi <= t):
            return len(values)
        if (lo >= t) if op == "<" else (lo > t):
            return 0
    elif op in (">", ">="):
        if (lo > t) if op == ">" else (lo >= t):
            return len(values)
        if (hi <= t) if op == ">" else (hi < t):
            return 0
    return sum(map(_OPS[op], values, repeat(t)))


def _first_at_or_past(monos: Sequence[float], edge: float, i: int, j: int) -> int:
    """The first k in [i, j) with monos[k] >= edge, else j (times in journal order: usually rising, not always)."""
    part = monos[i:j]
    if max(part) < edge:
        return j
    for k, m in enumerate(part):
        if m >= edge:
            return i + k
    return j  # pragma: no cover - max said there is one


def _columns(rows: Sequence[Mapping[str, Any]], names: Iterable[str]) -> tuple[dict[str, list[Any]], set[str]]:
    """Rows of samples as a column per series (_ABSENT where a sample lacks it), and the series some lack."""
    out: dict[str, list[Any]] = {}
    partial: set[str] = set()
    for name in names:
        try:
            out[name] = list(map(itemgetter(name), rows))  # every sample has it: the common case
        except KeyError:
            out[name] = [r.get(name, _ABSENT) for r in rows]
            partial.add(name)
    return out, partial


def _exact_sum(values: list[float]) -> Fraction:
    """The exact sum of floats: fsum's correctly rounded sum plus the (correctly rounded) rest of it."""
    hi = math.fsum(values)
    values.append(-hi)
    lo = math.fsum(values)
    values.pop()
    return Fraction(hi) + Fraction(lo)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


@dataclass(slots=True)
class Aggregate:
    """What the report asks of a run of one series' values (a chunk, or several added up)."""

    present: int = 0  # values that are numbers (nulls left out)
    # Sums kept exact (Fraction, from math.fsum and its remainder): a mean over any run of chunks is then the
    # correctly rounded mean of its values, whatever the chunking; a float running sum would round differently
    # from one cut to the next (0.8925 read as 0.89250000000000001 and shown 0.893).
    total: Fraction | int = 0
    ratio_total: Fraction | int = 0  # sum of ratio(v): the availability of a success series
    low: float | None = None
    low_at: int = 0  # the sample number of the first lowest value (ties go to the earlier)
    high: float | None = None
    high_at: int = 0
    last: float | None = None  # the last number
    stop_held: int = 0  # values on which any stop condition of the series held
    steady_failed: dict[Condition, int] = field(default_factory=dict)  # per requirement, values it failed on

    def add(self, other: Aggregate) -> None:
        """Add a run that comes after this one."""
        if other.present == 0:
            return
        self.present += other.present
        self.total += other.total
        self.ratio_total += other.ratio_total
        if self.low is None or (other.low is not None and other.low < self.low):
            self.low, self.low_at = other.low, other.low_at
        if self.high is None or (other.high is not None and other.high > self.high):
            self.high, self.high_at = other.high, other.high_at
        self.last = other.last
        self.stop_held += other.stop_held
        for c, n in other.steady_failed.items():
            self.steady_failed[c] = self.steady_failed.get(c, 0) + n

    @property
    def mean(self) -> float | None:
        return float(self.total / self.present) if self.present else None

    def farthest_from(self, base: float | None) -> float | None:
        """The value farthest from `base` either way, the first of equals; the highest without a base
        (`metrics.observed.peak`'s rule, from the extremes: the farthest value is always one of them)."""
        if self.low is None or self.high is None:
            return None
        if base is None:
            return self.high
        d_low, d_high = abs(self.low - base), abs(self.high - base)
        if d_low == d_high:
            return self.low if self.low_at <= self.high_at else self.high
        return self.low if d_low > d_high else self.high


@dataclass(slots=True)
class Chunk:
    """One run of samples between two cuts: its time span and each series' aggregate."""

    first: float  # time of its first sample
    last: float  # time of its last sample
    series: dict[str, Aggregate]


class Points:
    """At most ~CHART_POINTS [time, value] points of one series, min and max per bucket, so peaks survive.

    Every point while there are few; past the budget, buckets of 2^k samples that merge pairwise when their
    number passes half the budget. A bucket without any number is one [time, null] point: a visible gap.
    """

    __slots__ = ("buckets", "budget", "count", "raw", "size")

    def __init__(self, budget: int = CHART_POINTS) -> None:
        self.budget = budget
        self.raw: list[tuple[float, float | None]] | None = []
        self.size = 0  # samples per bucket, once bucketed
        self.buckets: list[list[Any]] = []  # [first time, (t, min) or None, (t, max) or None, samples]
        self.count = 0

    def extend(self, monos: list[float], values: list[float | None], gaps: bool = True) -> None:
        """Points of more samples; `gaps` False: the caller knows `values` holds no null (one search less)."""
        raw = self.raw
        if raw is not None:
            raw.extend(zip(monos, values, strict=True))
            self.count += len(monos)
            if len(raw) > self.budget:
                self.raw = None
                self.size = 1
                while len(raw) / self.size > self.budget // 2:
                    self.size *= 2
                self._add([m for m, _ in raw], [v for _, v in raw])
            return
        self.count += len(monos)
        self._add(monos, values, gaps)

    def _add(self, monos: list[float], values: list[float | None], gaps: bool = True) -> None:
        i, n = 0, len(monos)
        while i < n:
            if not self.buckets or self.buckets[-1][3] >= self.size:
                if len(self.buckets) >= self.budget // 2:
                    self._halve()
                    continue
                self.buckets.append([monos[i], None, None, 0])
            b = self.buckets[-1]
            j = min(n, i + self.size - b[3])
            part = values[i:j]
            nums = part if not gaps or None not in part else [v for v in part if v is not None]
            if nums:
                lo, hi = min(nums), max(nums)  # type: ignore[type-var]
                if b[1] is None or lo < b[1][1]:
                    b[1] = (monos[i + part.index(lo)], lo)
                if b[2] is None or hi > b[2][1]:
                    b[2] = (monos[i + part.index(hi)], hi)
            b[3] += j - i
            i = j

    def _halve(self) -> None:
        merged = []
        for k in range(0, len(self.buckets), 2):
            a = self.buckets[k]
            if k + 1 < len(self.buckets):
                b = self.buckets[k + 1]
                lo = a[1] if b[1] is None or (a[1] is not None and a[1][1] <= b[1][1]) else b[1]
                hi = a[2] if b[2] is None or (a[2] is not None and a[2][1] >= b[2][1]) else b[2]
                a = [a[0], lo, hi, a[3] + b[3]]
            merged.append(a)
        self.buckets = merged
        self.size *= 2

    def points(self) -> list[list[float | None]]:
        if self.raw is not None:
            return [[round(m, 3), v if v is None else float(v)] for m, v in self.raw]
        out: list[list[float | None]] = []
        for first, lo, hi, _ in self.buckets:
            if lo is None:
                out.append([round(first, 3), None])  # a whole bucket without data stays a visible gap
                continue
            for m, v in sorted({lo, hi}):
                out.append([round(m, 3), float(v)])
        return out


@dataclass
class SeriesInfo:
    """One series over the whole journal: counts, chart points, and its chunks' aggregates (in `SeriesFold`)."""

    name: str
    success: bool = False  # a success ratio: its chunks keep the sum of ratios (the availability component)
    samples: int = 0  # samples that carried it (a null included)
    gaps: int = 0  # of those, nulls
    errors: int = 0  # samples whose source reported an error for it
    points: Points = field(default_factory=Points)


class SeriesFold:
    """Metric samples in, per-chunk aggregates out. `add` each sample, `cut` at each window edge, `finish` once."""

    def __init__(self, stop: Iterable[Condition] = (), steady: Iterable[Condition] = ()) -> None:
        self.stop: dict[str, list[Condition]] = {}
        self.steady: dict[str, list[Condition]] = {}
        for c in stop:
            self.stop.setdefault(c.series, []).append(c)
        for c in steady:
            self.steady.setdefault(c.series, []).append(c)
        self.conditions = (frozenset(c for cs in self.stop.values() for c in cs),
                           frozenset(c for cs in self.steady.values() for c in cs))
        self.info: dict[str, SeriesInfo] = {}  # in the order series first appear (in values or errors)
        self.chunks: list[Chunk] = []
        self._firsts: list[float] = []  # each chunk's first time, for bisect
        self._monos: list[float] = []  # the open chunk: sample times
        # The open chunk's values, a column per series as long as `_monos` (_ABSENT where a sample lacks it);
        # `_partial` names the columns that may hold an _ABSENT. Columns, so that a run that comes as columns (the
        # parallel reader's) goes in without a row made per sample.
        self._cols: dict[str, list[Any]] = {}
        self._partial: set[str] = set()
        self._n = 0  # samples seen, all chunks
        self._edges: list[float] = []  # cut times still ahead of the samples (sorted): a sample at or past one
        #                                starts a new chunk (a sample written after its event, at its very time)

    # ---- in --------------------------------------------------------------------------------------------

    def add(self, mono: float, values: Mapping[str, float | None], errors: Mapping[str, str] | None) -> None:
        edges = self._edges
        if edges and mono >= edges[0]:
            while edges and mono >= edges[0]:
                edges.pop(0)
            self._close()
        if len(self._monos) >= CHUNK:
            self._close()
        self._names(values, errors)
        self._put({name: [v] for name, v in values.items()}, 1, ())
        self._monos.append(mono)

    def add_many(self, monos: Sequence[float], rows: Sequence[Mapping[str, float | None]],
                 errors: Sequence[Mapping[str, str] | None], names: AbstractSet[str] | None = None,
                 columns: Mapping[str, Sequence[float | None]] | None = None) -> None:
        """`add` of each sample in turn, a run at a time: the same chunks, the same series in the same order.

        The run's values are its `rows` (one mapping per sample), or its `columns` (each series' values, one
        per sample: every sample has every series; the series in the order they first appear), `rows` then
        unused. The series and error counts first (they touch nothing `_close` computes but the order `info`
        keeps, which this keeps); then the samples go into the open chunk in slices, each ending where `add`
        would close a chunk: at a sample at or past the next cut, or once a chunk is full. `names`, when
        given, are the names of all `rows` (the caller's one pass over them).
        """
        known = self.info
        if columns is None and names is None:
            names = set().union(*rows)
        if columns is not None:
            if any(errors) or not known.keys() >= columns.keys():
                for k, errs in enumerate(errors):  # every name is in the first sample, in the columns' order
                    self._names(columns if k == 0 else {}, errs)
        elif any(errors) or not known.keys() >= names:  # type: ignore[operator]
            for values, errs in zip(rows, errors, strict=True):
                self._names(values, errs)
        i, n = 0, len(monos)
        edges = self._edges
        while i < n:
            mono = monos[i]
            if edges and mono >= edges[0]:
                while edges and mono >= edges[0]:
                    edges.pop(0)
                self._close()
            if len(self._monos) >= CHUNK:
                self._close()
            j = min(n, i + CHUNK - len(self._monos))
            if edges and j > i + 1:
                j = _first_at_or_past(monos, edges[0], i + 1, j)
            if columns is not None:
                part = {name: col[i:j] for name, col in columns.items()} if (i, j) != (0, n) else columns
                self._put(part, j - i, ())
            else:
                part, partial = _columns(rows[i:j], names)  # type: ignore[arg-type]
                self._put(part, j - i, partial)
            self._monos.extend(monos[i:j])
            i = j

    def _put(self, part: Mapping[str, Sequence[Any]], k: int, partial_part: Iterable[str]) -> None:
        """`k` more samples into the open chunk, as columns (each of length k); `partial_part` names those that
        may hold an _ABSENT (a sample without the series)."""
        cols, partial = self._cols, self._partial
        n = len(self._monos)
        for name, vals in part.items():
            col = cols.get(name)
            if col is None:
                cols[name] = [_ABSENT] * n + list(vals) if n else list(vals)
                if n:
                    partial.add(name)
            else:
                col.extend(vals)
        partial.update(partial_part)
        if cols.keys() != part.keys():  # series of the chunk this part has not: absent from its samples
            for name, col in cols.items():
                if len(col) == n:
                    col.extend([_ABSENT] * k)
                    partial.add(name)

    def _names(self, values: Mapping[str, Any], errors: Mapping[str, str] | None) -> None:
        known = self.info
        if not known.keys() >= values.keys():  # a series seen for the first time: in order of appearance
            for name in values:
                if name not in known:
                    known[name] = SeriesInfo(name, is_success_series(name))
        if errors:
            for name in errors:
                info = known.get(name)
                if info is None:
                    info = known[name] = SeriesInfo(name, is_success_series(name))
                info.errors += 1

    def cut(self, mono: float) -> None:
        """An event at `mono` may be a window's edge: samples at or after it start a new chunk (those already
        read, and those to come)."""
        if not self._edges or mono > self._edges[-1]:
            self._edges.append(mono)
        elif mono not in self._edges:
            bisect.insort(self._edges, mono)
        monos = self._monos
        if not monos:
            return
        k = len(monos) if monos[-1] < mono else bisect.bisect_left(monos, mono)
        if k == len(monos):
            self._close()
            return
        if k == 0:
            return
        # Samples written before the event but at its very time (or after: a clock that stepped back) go on.
        rest_monos = monos[k:]
        rest = {name: col[k:] for name, col in self._cols.items()}
        rest_partial = set(self._partial)  # may hold an _ABSENT: the cut half of a column that did
        del monos[k:]
        for col in self._cols.values():
            del col[k:]
        self._close()
        self._put(rest, len(rest_monos), rest_partial)  # into the empty chunk the close left
        self._monos = rest_monos

    def finish(self, end: float) -> None:
        """The journal is read; `end` is its last event's time (windows of faults never reverted end there)."""
        self.cut(end)
        self._close()

    def _close(self) -> None:
        monos = self._monos
        if not monos:
            return
        n0 = self._n
        k = len(monos)
        aggs: dict[str, Aggregate] = {}
        partial = self._partial
        # Each series is folded on its own, so the order they come in changes nothing.
        for name, col in self._cols.items():
            at: list[int] = []
            s_vals: list[Any] = col
            s_monos = monos
            if name in partial:
                idx = [i for i, v in enumerate(col) if v is not _ABSENT]
                if not idx:
                    continue  # not in this chunk (a series that came later, or went)
                s_monos = [monos[i] for i in idx]
                s_vals = [col[i] for i in idx]
                at = [n0 + i for i in idx]
            aggs[name] = agg = self._aggregate(name, s_vals, at, n0)
            info = self.info[name]
            info.samples += len(s_vals)
            info.points.extend(s_monos, s_vals, agg.present < len(s_vals))
        self.chunks.append(Chunk(monos[0], monos[-1], aggs))
        self._firsts.append(monos[0])
        self._n = n0 + k
        self._monos = []
        self._cols = {}
        self._partial = set()

    def _aggregate(self, name: str, vals: list[Any], at: list[int], n0: int) -> Aggregate:
        gaps = vals.count(None)
        self.info[name].gaps += gaps
        nums: list[float] = vals if not gaps else [v for v in vals if v is not None]
        agg = Aggregate()
        if not nums:
            return agg
        lo, hi = min(nums), max(nums)
        i_lo, i_hi = vals.index(lo), vals.index(hi)
        agg.present = len(nums)
        agg.total = _exact_sum(nums)
        agg.low, agg.high = float(lo), float(hi)
        agg.low_at = at[i_lo] if at else n0 + i_lo
        agg.high_at = at[i_hi] if at else n0 + i_hi
        agg.last = float(nums[-1])
        if self.info[name].success:
            agg.ratio_total = agg.total if (lo >= 0.0 and hi <= 1.0) else _exact_sum(list(map(ratio, nums)))
        stops = self.stop.get(name)
        if stops:
            if len(stops) == 1:
                agg.stop_held = _count_holding(nums, stops[0], lo, hi)
            else:
                ops = [(_OPS[c.op], c.value) for c in stops]
                agg.stop_held = sum(1 for v in nums if any(op(v, t) for op, t in ops))
        for c in self.steady.get(name, ()):
            agg.steady_failed[c] = len(nums) - _count_holding(nums, c, lo, hi)
        return agg

    # ---- out -------------------------------------------------------------------------------------------

    def over(self, name: str, windows: list[tuple[float, float]]) -> Aggregate:
        """The series inside the windows [start, end) (sorted, not overlapping)."""
        out = Aggregate()
        firsts, chunks = self._firsts, self.chunks
        for a, b in windows:
            for i in range(bisect.bisect_left(firsts, a), bisect.bisect_left(firsts, b)):
                agg = chunks[i].series.get(name)
                if agg is not None:
                    out.add(agg)
        return out

    def before(self, name: str, t: float) -> Aggregate:
        """The series before time `t` (every sample when `t` is None)."""
        return self._span(name, 0, bisect.bisect_left(self._firsts, t))

    def since(self, name: str, t: float) -> Aggregate:
        return self._span(name, bisect.bisect_left(self._firsts, t), len(self.chunks))

    def everything(self, name: str) -> Aggregate:
        return self._span(name, 0, len(self.chunks))

    def _span(self, name: str, i: int, j: int) -> Aggregate:
        out = Aggregate()
        for chunk in self.chunks[i:j]:
            agg = chunk.series.get(name)
            if agg is not None:
                out.add(agg)
        return out
