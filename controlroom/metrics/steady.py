"""The steady-state verdict: does the hypothesis hold over its window, and with which figures.

Definition (docs/observability.md says the same):

* the window is `[now - window, now]`;
* it is *covered* when samples reach back to its start and no two
  consecutive samples (nor the last sample and `now`) are more than
  `max_gap` apart — by default two sampling intervals, so one missed
  sample is tolerated and two are not;
* the steady state holds when the window is covered and every condition
  holds for every sample in it; a sample without a value for a condition's
  series ("no data") does not hold;
* the figure of each required series is its *worst* value in the window for
  the direction of its condition: the minimum for `>`/`>=`, the maximum for
  `<`/`<=`, the value farthest from the threshold for `==`/`!=` (the first
  failing one if any). That is the number a facilitator needs to see next to
  "held" or "failed".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from controlroom.metrics.conditions import Condition

Sample = tuple[float, dict[str, float | None]]


@dataclass(frozen=True)
class SteadyVerdict:
    ok: bool
    figures: dict[str, float | None]
    failed: list[str] = field(default_factory=list)  # the conditions that did not hold, as written
    detail: str = ""  # one line for the journal and the pane: why it failed, or "held for 30s (30 samples)"

    def payload(self, when: str) -> dict[str, object]:
        """The `steady-state` event payload (journal/events.py)."""
        return {"when": when, "ok": self.ok, "figures": self.figures, "failed": self.failed, "detail": self.detail}


def _worst(cond: Condition, values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if cond.op in (">", ">="):
        return min(present)
    if cond.op in ("<", "<="):
        return max(present)
    failing = [v for v in present if not cond.holds(v)]
    if failing:
        return failing[0]
    return max(present, key=lambda v: abs(v - cond.threshold))


def evaluate_steady(
    samples: Sequence[Sample],
    require: Sequence[Condition],
    window: float,
    now: float,
    every: float = 1.0,
    max_gap: float | None = None,
) -> SteadyVerdict:
    """Judge the steady state over `[now - window, now]` (see the module docstring for the exact rule)."""
    gap = max_gap if max_gap is not None else 2.0 * every + 1e-6
    start = now - window
    in_window = [(t, v) for t, v in samples if start <= t <= now]
    figures: dict[str, float | None] = {}
    failed: list[str] = []
    reasons: list[str] = []
    for cond in require:
        series = [v.get(cond.series) for _, v in in_window]
        verdicts = [cond.holds(x) for x in series]
        worst = _worst(cond, series)
        holds = bool(in_window) and all(v is True for v in verdicts)
        # A series in several conditions shows the figure of the one that failed.
        if cond.series not in figures or not holds:
            figures[cond.series] = worst
        if not holds:
            failed.append(str(cond))
            missing = sum(1 for v in verdicts if v is None)
            shown = "no data" if worst is None else f"worst {worst:g}"
            reasons.append(f"{cond} ({shown}{f', {missing} samples without data' if missing else ''})")
    covered, why = _coverage([t for t, _ in in_window], start, now, gap)
    if not covered:
        reasons.insert(0, why)
    ok = covered and not failed
    detail = f"held for {window:g}s ({len(in_window)} samples)" if ok else "; ".join(reasons)
    return SteadyVerdict(ok=ok, figures=figures, failed=failed, detail=detail)


def _coverage(times: list[float], start: float, now: float, gap: float) -> tuple[bool, str]:
    if not times:
        return False, f"no samples in the last {now - start:g}s"
    if times[0] - start > gap:
        return False, f"samples cover only the last {now - times[0]:.1f}s of the {now - start:g}s window"
    edges = [*times, now]
    worst = max((b - a for a, b in pairwise(edges)), default=0.0)
    if worst > gap:
        return False, f"a {worst:.1f}s gap without samples in the window (at most {gap:.1f}s)"
    return True, ""


class SampleHistory:
    """The recent samples the engine keeps for steady-state checks: append each, old ones drop off."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self._samples: deque[Sample] = deque()

    def add(self, t: float, values: dict[str, float | None]) -> None:
        self._samples.append((t, dict(values)))
        while self._samples and self._samples[0][0] < t - self.keep:
            self._samples.popleft()

    def extend(self, samples: Iterable[Sample]) -> None:
        for t, values in samples:
            self.add(t, values)

    def samples(self) -> list[Sample]:
        return list(self._samples)

    def latest(self) -> dict[str, float | None]:
        return dict(self._samples[-1][1]) if self._samples else {}


def samples_from_backfill(points: dict[str, list[tuple[float, float | None]]], shift: float) -> list[Sample]:
    """Range-query history ({series: [(unix_t, value)]}, as `PrometheusSource.backfill` gives it) as samples.

    `shift` is subtracted from every timestamp to bring it onto the session's clock
    (unix time of session mono 0). Series missing at a timestamp are None there, so a
    seeded history can cover the steady-state window without waiting for it.
    """
    names = sorted(points)
    by_time: dict[float, dict[str, float | None]] = {}
    for name in names:
        for t, value in points[name]:
            by_time.setdefault(t, dict.fromkeys(names))[name] = value
    return [(t - shift, values) for t, values in sorted(by_time.items())]
