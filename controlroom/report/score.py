"""The resilience score: pure functions from measured facts to 0..100 components and a weighted total.

Weights and formulas are documented in docs/report.md; every output shows them.
A component that cannot be judged (no success-rate series, no stop condition) is
None and left out, and the remaining weights are scaled up to sum to 1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from controlroom.report.model import DEFAULT_RECOVERY_CRITERION_S, WEIGHTS


def ratio(x: float) -> float:
    """A success rate as a 0..1 ratio: they arrive as ratios or as percentages; anything above 1 is a percentage."""
    return min(1.0, max(0.0, x / 100.0 if x > 1.0 else x))


def availability(ratio_total: float | Fraction, count: int) -> float | None:
    """Mean success rate while faulted, as 0..100, from the sum of `ratio` over `count` in-fault samples (an
    exact sum stays exact to the one rounding at the end)."""
    if count <= 0:
        return None
    return float(100 * ratio_total / count)


def availability_score(success_rates: list[float]) -> float | None:
    """Mean success rate while faulted, as 0..100. `success_rates`: every in-fault sample of every success series."""
    return availability(sum(map(ratio, success_rates)), len(success_rates))


def recovery_score(recoveries: list[tuple[float | None, float | None]]) -> float | None:
    """Mean over measured recoveries of 100 x min(1, criterion / seconds); never recovered scores 0.

    Each item is (seconds or None when steady state never came back, criterion seconds or None for the default).
    """
    if not recoveries:
        return None
    total = 0.0
    for seconds, criterion in recoveries:
        c = DEFAULT_RECOVERY_CRITERION_S if criterion is None else criterion
        if seconds is None:
            continue  # adds 0
        total += 100.0 if seconds <= c else 100.0 * c / seconds
    return total / len(recoveries)


def blast_radius_score(unconfirmed_revert: bool, contained: bool) -> float:
    """100, minus 50 when a revert on this target could not be confirmed, minus 50 when the impact spread
    (a cascading failure, or a target outside the step's plan changed state)."""
    return 100.0 - (50.0 if unconfirmed_revert else 0.0) - (50.0 if not contained else 0.0)


def degradation_score(samples_judged: int, samples_within: int) -> float | None:
    """Share of in-fault samples on which no stop condition held, as 0..100; None when nothing could be judged."""
    if samples_judged <= 0:
        return None
    return 100.0 * samples_within / samples_judged


def combine(components: dict[str, float | None], weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The weighted total and its breakdown: per component its score, nominal weight, effective weight, points."""
    weights = weights or WEIGHTS
    judged = {k: v for k, v in components.items() if v is not None and k in weights}
    wsum = sum(weights[k] for k in judged)
    breakdown: dict[str, Any] = {}
    total = 0.0
    for name, w in weights.items():
        value = components.get(name)
        eff = (w / wsum) if (value is not None and wsum > 0) else 0.0
        points = (value or 0.0) * eff
        total += points
        breakdown[name] = {
            "score": None if value is None else round(value, 1),
            "weight": w,
            "effective_weight": round(eff, 4),
            "points": round(points, 1),
        }
    return {"total": round(total, 1) if judged else None, "components": breakdown}
