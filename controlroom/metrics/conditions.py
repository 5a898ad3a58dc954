"""Condition expressions over named series: `p99_ms > 5000`, `checkout.success_rate >= 95%`.

Steady-state requirements and stop conditions are both written this way. A
condition compares one series with one number; there is deliberately no
arithmetic, no boolean logic and no eval(): a condition a facilitator cannot
read at a glance in a pane is a condition nobody will trust on the day.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}

SERIES_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII digits only
# Operators longest first, so "<=" is never read as "<" followed by "=".
_OP_RE = re.compile(r"<=|>=|==|!=|<|>|=>|=<|=")


@dataclass(frozen=True)
class Condition:
    """`series OP threshold`, e.g. Condition("p99_ms", ">", 5000.0)."""

    series: str
    op: str
    threshold: float
    text: str = field(default="", compare=False)  # the right-hand side as written, e.g. "95%"

    def evaluate(self, values: Mapping[str, float | None]) -> bool | None:
        """True/False for the series' current value; None when the series has no value (or NaN)."""
        value = values.get(self.series)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if math.isnan(number):
            return None
        return OPERATORS[self.op](number, self.threshold)

    def holds(self, value: float | None) -> bool | None:
        """Same as `evaluate` for a single value of this condition's series."""
        return self.evaluate({self.series: value})

    def __str__(self) -> str:
        return f"{self.series} {self.op} {self.text or _format_number(self.threshold)}"


def _format_number(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


def parse_condition(text: object) -> Condition:
    """'success_rate < 0.95' -> Condition. Raises ValueError with a one-line message saying what to write."""
    if not isinstance(text, str):
        raise ValueError(f"a condition is a string such as 'success_rate >= 0.99', got {text!r}")
    source = text.strip()
    example = "write it as SERIES OP NUMBER, e.g. 'p99_ms < 800' or 'success_rate >= 99%'"
    if not source:
        raise ValueError(f"empty condition: {example}")
    m = SERIES_RE.match(source)
    if not m:
        raise ValueError(f"condition {text!r} must start with a series name: {example}")
    series = m.group(0)
    rest = source[m.end():].lstrip()
    op_match = _OP_RE.match(rest)
    if not op_match:
        raise ValueError(f"condition {text!r} needs an operator (< <= > >= == !=) after {series!r}: {example}")
    op = op_match.group(0)
    if op not in OPERATORS:
        fixed = {"=": "==", "=>": ">=", "=<": "<="}[op]
        raise ValueError(f"condition {text!r} uses {op!r}; write {fixed!r} instead")
    right = rest[op_match.end():].strip()
    if not right:
        raise ValueError(f"condition {text!r} needs a number after {op!r}: {example}")
    percent = right.endswith("%")
    number_text = right[:-1].rstrip() if percent else right
    if not _NUMBER_RE.fullmatch(number_text):
        unit = re.fullmatch(r"([+-]?[\d.]+)\s*([A-Za-z]+)", right)
        if unit:
            raise ValueError(
                f"condition {text!r}: the right side is a plain number in the series' own unit "
                f"(write {unit.group(1)} for a *_ms series), not {right!r}"
            )
        raise ValueError(f"condition {text!r}: expected a number after {op!r}, got {right!r}: {example}")
    threshold = float(number_text)
    if not math.isfinite(threshold):
        raise ValueError(f"condition {text!r}: the number must be finite")
    if percent:
        threshold /= 100.0
    return Condition(series=series, op=op, threshold=threshold, text=right)


def probe_series(metric: str) -> list[str]:
    """The series the built-in HTTP prober produces for a metric named `metric`."""
    return [f"{metric}.{suffix}" for suffix in PROBE_SUFFIXES]


PROBE_SUFFIXES: tuple[str, ...] = ("success_rate", "p50_ms", "p95_ms", "p99_ms", "rps")
