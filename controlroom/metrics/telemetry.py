"""Lost telemetry: a metrics source that stops answering is itself a condition, with a policy.

A source that has not answered for `lost_after` seconds (counted from its last
answer, or from its first failure when it never answered) becomes *lost*; the
tracker then returns one `TelemetryDecision` carrying the scenario's policy:

* `rollback` — the engine rolls everything back (`emergency-stop` source
  "telemetry"): flying blind is a reason to stop;
* `pause` — the engine holds the session (no new step is armed, no new fault
  injected) until the source is restored;
* `warn` — the engine journals a warning and goes on.

When a lost source answers again the tracker returns a `restored` decision
once. `poll_sources` samples every source concurrently with a deadline, so a
hung source counts as not answering, and merges their values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from controlroom.metrics.source import MetricSource, SourceUnavailable
from controlroom.scenario.model import LostTelemetryPolicy


@dataclass(frozen=True)
class TelemetryDecision:
    """What the engine must do about one source: journal it, and apply `action` when not None."""

    kind: Literal["lost", "restored"]
    source: str
    policy: LostTelemetryPolicy
    detail: str = ""
    silent_for: float = 0.0

    @property
    def event_type(self) -> str:
        return "telemetry-lost" if self.kind == "lost" else "telemetry-restored"

    @property
    def payload(self) -> dict[str, object]:
        """The event payload (journal/events.py)."""
        if self.kind == "lost":
            return {"source": self.source, "policy": self.policy, "detail": self.detail}
        return {"source": self.source}

    @property
    def action(self) -> Literal["rollback", "pause", "warn", "resume"]:
        """rollback | pause | warn when lost; resume when a paused session may go on."""
        return self.policy if self.kind == "lost" else "resume"


@dataclass
class SourceStatus:
    """What the metrics pane shows for a source: ok, failing (not lost yet) or lost."""

    state: Literal["ok", "failing", "lost"] = "ok"
    last_ok: float | None = None
    failing_since: float | None = None
    detail: str = ""


@dataclass
class TelemetryTracker:
    policy: LostTelemetryPolicy = "rollback"
    lost_after: float = 5.0
    _status: dict[str, SourceStatus] = field(default_factory=dict)

    def answered(self, source: str, now: float) -> TelemetryDecision | None:
        """The source answered at `now`; a `restored` decision if it had been lost."""
        status = self._status.setdefault(source, SourceStatus())
        was_lost = status.state == "lost"
        status.state, status.last_ok, status.failing_since, status.detail = "ok", now, None, ""
        if was_lost:
            return TelemetryDecision("restored", source, self.policy)
        return None

    def failed(self, source: str, now: float, detail: str) -> TelemetryDecision | None:
        """The source did not answer at `now`; a `lost` decision the first time it has been silent long enough."""
        status = self._status.setdefault(source, SourceStatus())
        status.detail = detail
        if status.failing_since is None:
            status.failing_since = now
        if status.state == "lost":
            return None
        silent_since = status.last_ok if status.last_ok is not None else status.failing_since
        silent = now - silent_since
        if silent >= self.lost_after:
            status.state = "lost"
            return TelemetryDecision(
                "lost", source, self.policy, f"no answer for {silent:.1f}s: {detail}", silent_for=silent
            )
        status.state = "failing"
        return None

    def status(self, source: str) -> SourceStatus:
        return self._status.setdefault(source, SourceStatus())

    def statuses(self) -> dict[str, SourceStatus]:
        return dict(self._status)

    def lost(self) -> list[str]:
        return sorted(s for s, st in self._status.items() if st.state == "lost")


@dataclass
class PollResult:
    """One interval's merged answer: the metric-sample payload plus any telemetry decisions."""

    values: dict[str, float | None]
    errors: dict[str, str]
    decisions: list[TelemetryDecision]


async def poll_sources(
    sources: Sequence[MetricSource], tracker: TelemetryTracker, now: float, deadline: float
) -> PollResult:
    """Sample every source concurrently; a source that raises or misses `deadline` seconds did not answer.

    Its series are None with the reason in `errors`, as the `metric-sample` event records them.
    """

    async def one(src: MetricSource) -> dict[str, float | None] | str:
        try:
            return await asyncio.wait_for(src.sample(), timeout=deadline)
        except SourceUnavailable as err:
            return str(err) or "source unavailable"
        except TimeoutError:
            return f"no answer within {deadline:g}s"

    answers = await asyncio.gather(*(one(s) for s in sources))
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    decisions: list[TelemetryDecision] = []
    for src, answer in zip(sources, answers, strict=True):
        if isinstance(answer, str):
            for name in src.series():
                values[name], errors[name] = None, f"{src.name}: {answer}"
            decision = tracker.failed(src.name, now, answer)
        else:
            values.update(answer)
            for name, message in (getattr(src, "last_errors", None) or {}).items():
                errors[name] = message
            decision = tracker.answered(src.name, now)
        if decision is not None:
            decisions.append(decision)
    return PollResult(values, errors, decisions)
