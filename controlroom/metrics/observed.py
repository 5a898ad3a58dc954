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

from collections.abc import Iterable
from dataclasses import dataclass, field

from controlroom.journal.events import Event

Figures = dict[str, float | None]  # {"before", "during", "after", "peak"}

_REVERT_TYPES = ("fault-reverted", "fault-revert-failed", "rollback-started")


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
class ObservedFold:
    """Feed it every event in order (`feed`); ask `figures(step)` for the `observed` event's `series`."""

    window: float
    series_names: list[str] = field(default_factory=list)
    _samples: list[tuple[float, dict[str, float | None]]] = field(default_factory=list)
    _steps: dict[str, _StepTimes] = field(default_factory=dict)
    _open: str | None = None  # the step whose faults are in (or being reverted)
    _now: float = 0.0

    @classmethod
    def from_events(cls, events: Iterable[Event], window: float) -> ObservedFold:
        fold = cls(window=window)
        for event in events:
            fold.feed(event)
        return fold

    def feed(self, event: Event) -> None:
        self._now = max(self._now, event.mono)
        kind, t = event.type, event.mono
        if kind == "session-started":
            self.series_names = [str(s) for s in event.get("series") or []]
        elif kind == "metric-sample":
            values = event.get("values") or {}
            self._samples.append((t, {str(k): _number(v) for k, v in values.items()}))
            for name in values:
                if name not in self.series_names:
                    self.series_names.append(str(name))
        elif kind in ("fault-injecting", "fault-injected"):
            step = str(event.get("step"))
            times = self._steps.setdefault(step, _StepTimes())
            if kind == "fault-injected" and times.inject is None:
                times.inject = t
            if kind == "fault-injecting" and times.injecting is None:
                times.injecting = t
            self._open = step
        elif kind in _REVERT_TYPES:
            if self._open is not None:
                times = self._steps[self._open]
                if times.revert is None:
                    times.revert = t
        elif kind == "recovery-measured":
            times = self._steps.setdefault(str(event.get("step")), _StepTimes())
            seconds = event.get("seconds")
            times.recovery = float(seconds) if isinstance(seconds, (int, float)) else None
        elif kind == "step-completed":
            step = str(event.get("step"))
            if step in self._steps:
                self._steps[step].end = t
            if self._open == step:
                self._open = None

    def steps(self) -> list[str]:
        """Steps that had a fault phase, in the order they were injected."""
        return [s for s, times in self._steps.items() if times.start is not None]

    def figures(self, step: str, now: float | None = None) -> dict[str, Figures]:
        """{series: {before, during, after, peak}} for one step; {} when the step had no faults."""
        times = self._steps.get(step)
        if times is None or times.start is None:
            return {}
        inject = times.start
        end = times.end if times.end is not None else (now if now is not None else self._now)
        revert = times.revert if times.revert is not None else end
        recovered = revert + (times.recovery or 0.0)
        out: dict[str, Figures] = {}
        for name in self.series_names:
            before = _mean(self._values(name, inject - self.window, inject, closed=False))
            during = _mean(self._values(name, inject, revert, closed=False))
            after = _mean(self._values(name, recovered, end, closed=True)) if times.revert is not None else None
            faulted = self._values(name, inject, recovered, closed=times.revert is None)
            out[name] = {"before": before, "during": during, "after": after, "peak": _peak(faulted, before)}
        return out

    def payload(self, step: str, now: float | None = None) -> dict[str, object]:
        """The `observed` event payload (journal/events.py)."""
        return {"step": step, "series": self.figures(step, now)}

    def all_figures(self) -> dict[str, dict[str, Figures]]:
        return {step: self.figures(step) for step in self.steps()}

    def _values(self, name: str, lo: float, hi: float, closed: bool) -> list[float]:
        out: list[float] = []
        for t, values in self._samples:
            value = values.get(name)
            if value is not None and lo <= t and (t <= hi if closed else t < hi):
                out.append(value)
        return out


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _peak(values: list[float], before: float | None) -> float | None:
    if not values:
        return None
    if before is None:
        return max(values)
    return max(values, key=lambda v: abs(v - before))
