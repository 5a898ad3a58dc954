"""Success criteria — recovery_time, data_loss, custom — judged at the end of a session.

* **recovery_time**: every step that had a fault recovered, in at most the
  criterion's seconds (`recovery-measured` seconds; null = never recovered).
* **data_loss**: `"<series> must not drop"` — the series' value at the end
  (the final sample, else the last step's `after`) is at least its value
  before the first injection (the first step's `before`). A row count
  from a command probe is the usual series.
* **custom**: condition expressions, each evaluated on the final sample.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from controlroom.errors import MetricsError
from controlroom.metrics.conditions import parse_condition
from controlroom.metrics.observed import Figures
from controlroom.scenario.model import SuccessCriteria

DATA_LOSS_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.-]*)\s+must\s+not\s+drop\s*")


@dataclass(frozen=True)
class CriterionResult:
    name: str  # "recovery_time", "data_loss" or the custom condition as written
    ok: bool
    detail: str

    def payload(self) -> dict[str, object]:
        return {"criterion": self.name, "ok": self.ok, "detail": self.detail}


def parse_data_loss(text: str) -> str:
    """'orders_rows must not drop' -> 'orders_rows'; MetricsError with what to write otherwise."""
    m = DATA_LOSS_RE.fullmatch(text)
    if not m:
        raise MetricsError(
            f"success_criteria.data_loss: expected '<series> must not drop' (e.g. 'orders_rows must not drop'), got {text!r}"
        )
    return m.group(1)


def evaluate_success(
    criteria: SuccessCriteria,
    observed: Mapping[str, Mapping[str, Figures]],
    recovery_times: Mapping[str, float | None],
    final: Mapping[str, float | None] | None = None,
) -> list[CriterionResult]:
    """Judge each declared criterion.

    `observed` is {step: {series: figures}} in step order (ObservedFold.all_figures()),
    `recovery_times` {step: seconds or None} for the steps that had faults,
    `final` the last metric sample's values.
    """
    results: list[CriterionResult] = []
    if criteria.recovery_time is not None:
        results.append(_recovery(criteria.recovery_time, recovery_times))
    if criteria.data_loss:
        results.append(_data_loss(parse_data_loss(criteria.data_loss), observed, final))
    for text in criteria.custom:
        try:
            cond = parse_condition(text)
        except ValueError as err:
            raise MetricsError(f"success_criteria.custom: {err}") from None
        verdict = cond.evaluate(final or {})
        value = (final or {}).get(cond.series)
        shown = "no data" if value is None else f"{cond.series} = {value:g}"
        results.append(CriterionResult(str(cond), verdict is True, f"{shown} at the end"))
    return results


def _recovery(limit: float, recovery_times: Mapping[str, float | None]) -> CriterionResult:
    if not recovery_times:
        return CriterionResult("recovery_time", True, "no step had a fault to recover from")
    parts: list[str] = []
    ok = True
    for step, seconds in recovery_times.items():
        if seconds is None:
            ok = False
            parts.append(f"{step} did not recover")
        else:
            within = seconds <= limit
            ok = ok and within
            parts.append(f"{step} {seconds:.1f}s {'≤' if within else '>'} {limit:g}s")
    return CriterionResult("recovery_time", ok, "; ".join(parts))


def _data_loss(
    series: str, observed: Mapping[str, Mapping[str, Figures]], final: Mapping[str, float | None] | None
) -> CriterionResult:
    before = next(
        (f[series]["before"] for f in observed.values() if series in f and f[series].get("before") is not None), None
    )
    after = (final or {}).get(series)
    if after is None:
        after = next(
            (f[series]["after"] for f in reversed(list(observed.values())) if series in f and f[series].get("after") is not None),
            None,
        )
    if before is None or after is None:
        missing = "before the first fault" if before is None else "at the end"
        return CriterionResult("data_loss", False, f"{series}: no value {missing}; cannot show that nothing was lost")
    ok = after >= before
    verb = "kept" if ok else "dropped"
    return CriterionResult("data_loss", ok, f"{series} {verb}: {before:g} before, {after:g} after")
