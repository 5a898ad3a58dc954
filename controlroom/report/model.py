"""The vocabulary of the post-mortem: statuses, score weights, and stop/steady conditions read back from a journal.

A report is plain JSON-able data (dicts, lists, numbers, strings) whose shape is
`docs/report-schema.json`; this module holds what the builder, the score and the
renderers must agree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controlroom.errors import ControlroomError
from controlroom.metrics.conditions import OPERATORS
from controlroom.metrics.conditions import parse_condition as _parse

REPORT_FORMAT = "controlroom-report"
REPORT_VERSION = 1

# The status of an experiment. "incomplete": the journal has no session-ended (a crash) or says "crashed".
STATUSES: tuple[str, ...] = ("held", "failed", "rolled-back", "aborted", "incomplete")

# The resilience score: four components, each 0..100, weighted. Documented in docs/report.md.
WEIGHTS: dict[str, float] = {
    "availability": 0.35,
    "recovery": 0.25,
    "blast_radius": 0.20,
    "degradation": 0.20,
}
COMPONENT_TITLES: dict[str, str] = {
    "availability": "Availability",
    "recovery": "Recovery time",
    "blast_radius": "Blast radius control",
    "degradation": "Graceful degradation",
}
# When a scenario sets no success_criteria.recovery_time, recovery is scored against this.
DEFAULT_RECOVERY_CRITERION_S = 30.0
# A series with no condition on it counts as degraded when it moves this far (relative) the bad way.
DEGRADED_RELATIVE_CHANGE = 0.25
# Chart and JSON point budgets: enough for a readable line, bounded for a million-sample session.
CHART_POINTS = 600


class ReportError(ControlroomError):
    """A report that cannot be written (bad output path, unknown format)."""


Direction = Literal["up", "down"]  # "up": higher is better (success rate), "down": lower is better (latency)


@dataclass(frozen=True)
class Condition:
    """`series OP value`, e.g. `success_rate < 0.95`, as parsed by controlroom.metrics.conditions."""

    text: str
    series: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return bool(OPERATORS[self.op](x, self.value))


def parse_condition(text: str) -> Condition | None:
    """A condition, or None for text the scenario grammar rejects (it is then only quoted, not judged)."""
    try:
        c = _parse(text)
    except ValueError:
        return None
    return Condition(text=str(text).strip(), series=c.series, op=c.op, value=c.threshold)


_UP_WORDS = ("success", "availability", "uptime", "ok_ratio", "healthy", "throughput", "rps")
_DOWN_WORDS = ("latency", "error", "fail", "timeout", "_ms", "p50", "p90", "p95", "p99", "duration", "lag")


def series_direction(name: str, stop: list[Condition], steady: list[Condition]) -> Direction | None:
    """Which way is good for a series: from its conditions first, else from its name; None when unknown.

    A stop condition `x < T` says low is bad (so up is good); a steady-state requirement `x >= T` says the same.
    """
    for c in stop:
        if c.series == name and c.op in ("<", "<="):
            return "up"
        if c.series == name and c.op in (">", ">="):
            return "down"
    for c in steady:
        if c.series == name and c.op in (">", ">="):
            return "up"
        if c.series == name and c.op in ("<", "<="):
            return "down"
    low = name.lower()
    if any(w in low for w in _UP_WORDS):
        return "up"
    if any(w in low for w in _DOWN_WORDS):
        return "down"
    return None


def is_success_series(name: str) -> bool:
    """Series that measure a success ratio, the input of the availability component."""
    low = name.lower()
    return "success" in low or "availability" in low
