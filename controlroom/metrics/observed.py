"""Observed behaviour per step — before / during / after / peak of every series — folded from journal events.

The same fold serves the engine (which emits the `observed` event when a
step ends) and the report (which rebuilds it from a journal). It reads only
events from `journal/events.py`, by their `mono` time:

* a step's fault phase starts at its first `fault-injected` (falling back to
  `fault-injecting`, so a step whose injection failed half-way still has a
  phase) and ends at the first `fault-reverted`, `fault-revert-failed` or
  `rollback-started` after it; the step ends at `step-completed`;
* **before**: mean over `[inject - window, inject)`, `window` being the
  steady-state window;
* **during**: mean over `[inject, revert)`;
* **after**: mean over `[revert + recovery, step end]`, where recovery is the
  step's `recovery-measured` seconds (0 when it never recovered or was not
  measured, so "after" then is everything after the revert);
* **peak**: over `[inject, revert + recovery)` — the fault and the recovery,
  when retry storms happen — the value farthest from `before` (the maximum
  when there is no `before`). A success rate's peak is its dip, a latency's
  its spike, without a per-series direction.

Samples with no value for a series are left out of its means; a phase
without samples gives None. Steps without faults have no figures.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from controlroom.journal.events import (
    Event,
    FaultInjected,
    FaultInjecting,
    FaultReverted,
    FaultRevertFailed,
    MetricSample,
    RecoveryMeasured,
    RollbackStarted,
    SessionStarted,
    StepCompleted,
)
from controlroom.journal.handler import EventHandler

Figures = dict[str, float | None]  # {"before", "during", "after", "peak"}


@dataclass
class _StepTimes:
    inject: float | None = None
    injecting: float | None = None
    revert: float | None = None
    recovery: float | None = None
    end: float | None = None

    @property
    def start(self) -> float | None:
        return self.inject if self.inject is not None else self.injecting


@dataclass
class ObservedFold(EventHandler[None]):
    """Feed it every event in order (`feed`); ask `figures(step)` for the `observed` event's `series`.

    Memory stays bounded over a long session (and a million-event journal in the report): samples are kept
    only from `window` before the earliest step still open (or before now), and a step's figures are worked
    out and kept once a sample comes after both its end and its revert plus recovery time — nothing later in
    a journal the engine writes can change them, since `recovery-measured` and the reverts come before
    `step-completed`.
    """

    window: float
    series_names: list[str] = field(default_factory=list)
    _monos: list[float] = field(default_factory=list)  # sample times, in journal order
    # Each series' values, a column as long as `_monos` (None where a sample lacks it: the same as no data).
    _cols: dict[str, list[object]] = field(default_factory=dict)
    _steps: dict[str, _StepTimes] = field(default_factory=dict)
    _done: dict[str, dict[str, Figures]] = field(default_factory=dict)  # figures of steps over and past
    _ended: list[str] = field(default_factory=list)  # steps completed, their figures not yet kept
    _known: dict[str, None] = field(default_factory=dict)  # a name seen in samples is in series_names (a cache)
    _open: str | None = None  # the step whose faults are in (or being reverted)
    _live: dict[str, None] = field(default_factory=dict)  # steps injected, those kept since pruned at each horizon
    _now: float = 0.0

    @classmethod
    def from_events(cls, events: Iterable[Event], window: float) -> ObservedFold:
        fold = cls(window=window)
        for event in events:
            fold.feed(event)
        return fold

    def feed(self, event: Event) -> None:
        self._now = max(self._now, event.mono)
        self.dispatch(event)

    # ---- the fold ---------------------------------------------------------------------------------------

    def on_session_started(self, ev: Event, d: SessionStarted) -> None:
        self.series_names = [str(s) for s in d.get("series") or []]
        self._known = {}

    def on_metric_sample(self, ev: Event, d: MetricSample) -> None:
        self.sample(ev.mono, d.get("values") or {})

    def sample(self, mono: float, values: Mapping[str, object]) -> None:
        """One metric sample (what `on_metric_sample` does; the report's streaming reader calls it directly)."""
        if mono > self._now:
            self._now = mono
        if self._ended and mono > self._now_ended_min():
            self._keep_ended(mono)
        self._put({name: [v] for name, v in values.items()}, 1)
        self._monos.append(mono)
        self._learn(values)
        if len(self._monos) & 1023 == 0:
            self._forget_before(self._horizon())

    def sample_many(self, monos: Sequence[float], rows: Sequence[Mapping[str, object]],
                    names: AbstractSet[str] | None = None,
                    columns: Mapping[str, Sequence[object]] | None = None) -> None:
        """`sample` of each in turn, a run at a time (the report's fold), with the very same state after it.

        `sample` does more than append at two kinds of sample only: one past a completed step's settling
        (its figures are kept, from the samples before it) and one that makes the kept count a multiple of
        1024 (old samples are forgotten). The run goes in slices that end at each such sample. `names`, when
        given, are the names of all `rows` (the caller's one pass over them). `columns` instead of `rows`: each
        series' values, one per sample (every sample has every series, in the order they first appear).
        """
        if columns is None and names is None:
            names = set().union(*rows)
        learned = self._known.keys() >= (columns.keys() if columns is not None else names)  # type: ignore[operator]
        i, n = 0, len(monos)
        while i < n:
            j = min(n, i + 1024 - (len(self._monos) & 1023))  # the slice's last sample fills a multiple of 1024
            if self._ended:
                settled = self._now_ended_min()
                if monos[i] > settled:
                    self._now = max(self._now, monos[i])
                    self._keep_ended(monos[i])
                    continue  # the steps left settle at or after monos[i]: no second keep for it
                j = _first_past(monos, settled, i + 1, j)
            part = monos[i:j]
            top = max(part)
            if top > self._now:
                self._now = top
            if columns is not None:
                self._put({name: col[i:j] for name, col in columns.items()} if (i, j) != (0, n) else columns, j - i)
            else:
                self._put(_columns(rows[i:j], names), j - i)  # type: ignore[arg-type]
            self._monos.extend(part)
            if not learned:
                if columns is not None:
                    self._learn(columns)
                else:
                    for values in rows[i:j]:
                        self._learn(values)
            if len(self._monos) & 1023 == 0:
                self._forget_before(self._horizon())
            i = j

    def _put(self, part: Mapping[str, Sequence[object]], k: int) -> None:
        """`k` more samples' values, as columns of length k; a series they lack gets None."""
        cols = self._cols
        n = len(self._monos)
        for name, vals in part.items():
            col = cols.get(name)
            if col is None:
                cols[name] = [None] * n + list(vals) if n else list(vals)
            else:
                col.extend(vals)
        if cols.keys() != part.keys():
            for col in cols.values():
                if len(col) == n:
                    col.extend([None] * k)

    def _learn(self, values: Mapping[str, object]) -> None:
        if not self._known.keys() >= values.keys():  # rare: a series not seen before (or new series_names)
            names = self.series_names
            for name in values:
                if name not in names:
                    names.append(str(name))
            self._known = dict.fromkeys(names)

    def _on_inject(self, ev: Event, step: str, injected: bool) -> None:
        times = self._steps.setdefault(step, _StepTimes())
        self._live[step] = None
        if injected and times.inject is None:
            times.inject = ev.mono
        if not injected and times.injecting is None:
            times.injecting = ev.mono
        self._open = step

    def on_fault_injecting(self, ev: Event, d: FaultInjecting) -> None:
        self._on_inject(ev, str(d.get("step")), injected=False)

    def on_fault_injected(self, ev: Event, d: FaultInjected) -> None:
        self._on_inject(ev, str(d.get("step")), injected=True)

    def _on_revert(self, ev: Event) -> None:
        if self._open is not None:
            times = self._steps[self._open]
            if times.revert is None:
                times.revert = ev.mono

    def on_fault_reverted(self, ev: Event, d: FaultReverted) -> None:
        self._on_revert(ev)

    def on_fault_revert_failed(self, ev: Event, d: FaultRevertFailed) -> None:
        self._on_revert(ev)

    def on_rollback_started(self, ev: Event, d: RollbackStarted) -> None:
        self._on_revert(ev)

    def on_recovery_measured(self, ev: Event, d: RecoveryMeasured) -> None:
        times = self._steps.setdefault(str(d.get("step")), _StepTimes())
        seconds = d.get("seconds")
        times.recovery = float(seconds) if isinstance(seconds, (int, float)) else None

    def on_step_completed(self, ev: Event, d: StepCompleted) -> None:
        step = str(d.get("step"))
        if step in self._steps:
            self._steps[step].end = ev.mono
            if step not in self._done and step not in self._ended:
                self._ended.append(step)
        if self._open == step:
            self._open = None

    # ---- what it says -----------------------------------------------------------------------------------

    def steps(self) -> list[str]:
        """Steps that had a fault phase, in the order they were injected."""
        return [s for s, times in self._steps.items() if times.start is not None]

    def figures(self, step: str, now: float | None = None) -> dict[str, Figures]:
        """{series: {before, during, after, peak}} for one step; {} when the step had no faults."""
        kept = self._done.get(step)
        if kept is not None:
            return kept
        times = self._steps.get(step)
        if times is None or times.start is None:
            return {}
        inject = times.start
        end = times.end if times.end is not None else (now if now is not None else self._now)
        revert = times.revert if times.revert is not None else end
        recovered = revert + (times.recovery or 0.0)
        out: dict[str, Figures] = {}
        for name in self.series_names:
            before = mean(self._values(name, inject - self.window, inject, closed=False))
            during = mean(self._values(name, inject, revert, closed=False))
            after = mean(self._values(name, recovered, end, closed=True)) if times.revert is not None else None
            faulted = self._values(name, inject, recovered, closed=times.revert is None)
            out[name] = {"before": before, "during": during, "after": after, "peak": peak(faulted, before)}
        return out

    def payload(self, step: str, now: float | None = None) -> dict[str, object]:
        """The `observed` event payload (journal/events.py)."""
        return {"step": step, "series": self.figures(step, now)}

    def all_figures(self) -> dict[str, dict[str, Figures]]:
        return {step: self.figures(step) for step in self.steps()}

    # ---- the samples kept -------------------------------------------------------------------------------

    def _values(self, name: str, lo: float, hi: float, closed: bool) -> list[float]:
        monos = self._monos
        i = bisect.bisect_left(monos, lo)
        j = bisect.bisect_right(monos, hi) if closed else bisect.bisect_left(monos, hi)
        whole = self._cols.get(name)
        if whole is None:
            return []
        col: list[Any] = whole[i:j]
        kinds = set(map(type, col))
        if kinds <= _FLOATS:  # what a journal's samples hold: the same list, without the per-value calls
            return col if type(None) not in kinds else [v for v in col if v is not None]
        if kinds <= _READINGS:
            return [float(v) for v in col if v is not None]
        out: list[float] = []
        for value in map(_number, col):
            if value is not None:
                out.append(value)
        return out

    def _settled(self, step: str) -> float:
        """When a completed step's figures can change no more: its end, or its recovery if that came later
        (the figures read samples up to the revert plus the recovery time, also past the step's end)."""
        times = self._steps[step]
        end = times.end or 0.0
        revert = times.revert if times.revert is not None else end
        return max(end, revert + (times.recovery or 0.0))

    def _now_ended_min(self) -> float:
        return min(self._settled(s) for s in self._ended)

    def _keep_ended(self, mono: float) -> None:
        """A sample past a completed step's settling: nothing to come changes its figures, so keep them."""
        for step in [s for s in self._ended if self._settled(s) < mono]:
            self._done[step] = self.figures(step)
            self._ended.remove(step)

    def _horizon(self) -> float:
        """The earliest sample time any figures still to be asked for can read."""
        horizon = self._now - self.window
        # Only the steps injected and not kept (`_live`, pruned here): a long session's hundreds of steps
        # were walked at every 1024th sample.
        live, done, steps = self._live, self._done, self._steps
        for step in [s for s in live if s in done]:
            del live[step]
        for step in live:
            start = steps[step].start
            if start is not None:
                horizon = min(horizon, start - self.window)
        return horizon

    def _forget_before(self, horizon: float) -> None:
        k = bisect.bisect_left(self._monos, horizon)
        if k > 0:
            del self._monos[:k]
            for col in self._cols.values():
                del col[:k]


def _columns(rows: Sequence[Mapping[str, object]], names: Iterable[str]) -> dict[str, list[object]]:
    """Rows of samples as a column per series, None where a sample lacks it."""
    out: dict[str, list[object]] = {}
    for name in names:
        try:
            out[name] = list(map(itemgetter(name), rows))  # every sample has it: the common case
        except KeyError:
            out[name] = [r.get(name) for r in rows]
    return out


def _first_past(monos: Sequence[float], t: float, i: int, j: int) -> int:
    """The first k in [i, j) with monos[k] > t, else j (times in journal order: usually rising, not always)."""
    if i >= j or max(monos[i:j]) <= t:
        return j
    for k in range(i, j):
        if monos[k] > t:
            return k
    return j  # pragma: no cover - max said there is one


_FLOATS = frozenset({float, type(None)})
_READINGS = frozenset({float, int, type(None)})


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def mean(values: Sequence[float]) -> float | None:
    """The mean, None for no values."""
    return sum(values) / len(values) if values else None


def peak(values: Sequence[float], before: float | None) -> float | None:
    """The value farthest from `before` either way (the first of equals), or the maximum without a `before`:
    a success rate's peak is its dip, a latency's its spike, with no direction needed."""
    if not values:
        return None
    if before is None:
        return max(values)
    # max(values, key=lambda v: abs(v - before)), the keys made in C: the first value of the greatest distance
    distances = list(map(abs, map(operator.sub, values, repeat(before))))
    return values[distances.index(max(distances))]


def worst(values: Sequence[float], direction: str | None, fallback: float | None) -> float | None:
    """The worst value: the lowest of a higher-is-better series (`up`: success rate, rps), the highest of a
    lower-is-better one (`down`: latency); without a known direction, `fallback` (the peak)."""
    if not values:
        return None
    if direction == "up":
        return min(values)
    if direction == "down":
        return max(values)
    return fallback
