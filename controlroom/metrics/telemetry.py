"""Lost telemetry: a metrics source, or a series the room judges by, that stops answering is itself a
condition, with a policy.

What counts as *no answer* (each interval):

* the source raised `SourceUnavailable` (refused, timeout, HTTP 5xx, a command that could not run), did
  not answer within the per-interval deadline, or failed in any other way — every series of it;
* a source answered, but a *watched* series (one a stop condition or the steady state names) has no
  value: an empty result, NaN or ±Inf, a stale answer (the source said why in `last_errors`), or a
  series the source left out — a stop condition on a series with no value is blind, whatever the rest of
  the source says.

A source (or watched series) that has had no answer for `lost_after` seconds (counted from its last
answer, or from its first failure when it never answered) becomes *lost*; the tracker then returns one
`TelemetryDecision` carrying the scenario's policy:

* `rollback` — the engine rolls everything back (`emergency-stop` source "telemetry"): flying blind is a
  reason to stop;
* `pause` — the engine holds the session (no new step is armed, no new fault injected) until the source
  is restored, and reverts a fault that is already active through the same emergency stop: a blind fault
  must not run to the end of its step;
* `warn` — the engine journals a warning and goes on.

When a lost feed answers again the tracker returns a `restored` decision once. `poll_sources` samples
every source concurrently with a deadline (so a hung source counts as not answering) and applies the
rule above; the engine's monitor does the same through `sample_all` + `TelemetryTracker.account`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from controlroom.metrics.source import MetricSource, SourceUnavailable
from controlroom.scenario.model import LostTelemetryPolicy


@dataclass(frozen=True)
class TelemetryDecision:
    """What the engine must do about one feed (a source, or one series of it): journal it, and apply `action`."""

    kind: Literal["lost", "restored"]
    source: str
    policy: LostTelemetryPolicy
    detail: str = ""
    silent_for: float = 0.0
    series: str | None = None  # set when one series is lost while its source still answers

    @property
    def feed(self) -> str:
        """What is lost, as journaled in `source`: `prometheus`, or `prometheus:success_rate` for one series."""
        return self.source if self.series is None else f"{self.source}:{self.series}"

    @property
    def event_type(self) -> str:
        return "telemetry-lost" if self.kind == "lost" else "telemetry-restored"

    @property
    def payload(self) -> dict[str, object]:
        """The event payload (journal/events.py)."""
        extra: dict[str, object] = {} if self.series is None else {"series": self.series}
        if self.kind == "lost":
            return {"source": self.feed, "policy": self.policy, "detail": self.detail, **extra}
        return {"source": self.feed, **extra}

    @property
    def action(self) -> Literal["rollback", "pause", "warn", "resume"]:
        """rollback | pause | warn when lost; resume when a paused session may go on."""
        return self.policy if self.kind == "lost" else "resume"


@dataclass
class SourceStatus:
    """What the metrics pane shows for a feed: ok, failing (not lost yet) or lost."""

    state: Literal["ok", "failing", "lost"] = "ok"
    last_ok: float | None = None
    failing_since: float | None = None
    detail: str = ""


@dataclass
class PollResult:
    """One interval's merged answer: the metric-sample payload plus any telemetry decisions."""

    values: dict[str, float | None]
    errors: dict[str, str]
    decisions: list[TelemetryDecision]


# What a source gave for one interval: its values, or why it gave none.
Answer = Mapping[str, float | None] | str


@dataclass
class TelemetryTracker:
    policy: LostTelemetryPolicy = "rollback"
    lost_after: float = 5.0
    # Series whose gaps count as lost telemetry while their source answers; None: every series.
    watched: Collection[str] | None = None
    _status: dict[str, SourceStatus] = field(default_factory=dict)

    @staticmethod
    def _key(source: str, series: str | None) -> str:
        return source if series is None else f"{source}:{series}"

    def answered(self, source: str, now: float, series: str | None = None) -> TelemetryDecision | None:
        """The source (or one series of it) answered at `now`; a `restored` decision if it had been lost."""
        status = self._status.setdefault(self._key(source, series), SourceStatus())
        was_lost = status.state == "lost"
        status.state, status.last_ok, status.failing_since, status.detail = "ok", now, None, ""
        if was_lost:
            return TelemetryDecision("restored", source, self.policy, series=series)
        return None

    def failed(self, source: str, now: float, detail: str, series: str | None = None) -> TelemetryDecision | None:
        """No answer at `now`; a `lost` decision the first time it has been silent for `lost_after`."""
        status = self._status.setdefault(self._key(source, series), SourceStatus())
        status.detail = detail
        if status.failing_since is None:
            status.failing_since = now
        if status.state == "lost":
            return None
        silent_since = status.last_ok if status.last_ok is not None else status.failing_since
        silent = now - silent_since
        if silent >= self.lost_after:
            status.state = "lost"
            what = "no answer" if series is None else f"no value for {series}"
            return TelemetryDecision(
                "lost", source, self.policy, f"{what} for {silent:.1f}s: {detail}", silent_for=silent, series=series
            )
        status.state = "failing"
        return None

    def status(self, source: str, series: str | None = None) -> SourceStatus:
        return self._status.setdefault(self._key(source, series), SourceStatus())

    def statuses(self) -> dict[str, SourceStatus]:
        return dict(self._status)

    def lost(self) -> list[str]:
        """Every feed lost now: `source` or `source:series`."""
        return sorted(s for s, st in self._status.items() if st.state == "lost")

    def account(self, sources: Sequence[MetricSource], answers: Sequence[Answer], now: float) -> PollResult:
        """Merge one interval's answers into a metric sample, and judge the health of every source and series.

        Non-finite numbers become None here whatever the source, so no NaN reaches a condition or the journal.
        A watched series is judged only while its source answers: during a source outage the one source-level
        decision speaks for it, and its own silence is still counted from its last value.
        """
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        decisions: list[TelemetryDecision] = []

        def note(decision: TelemetryDecision | None) -> None:
            if decision is not None:
                decisions.append(decision)

        for src, answer in zip(sources, answers, strict=True):
            if isinstance(answer, str):
                for name in src.series():
                    values[name], errors[name] = None, f"{src.name}: {answer}"
                note(self.failed(src.name, now, answer))
                continue
            note(self.answered(src.name, now))
            said = getattr(src, "last_errors", None) or {}
            for name in src.series():
                value = answer.get(name)
                if value is not None and not _finite(value):
                    errors[name] = f"not a number ({value!r})"
                    value = None
                elif name in said:
                    errors[name] = said[name]
                values[name] = value
                if self.watched is not None and name not in self.watched:
                    continue
                if value is None:
                    note(self.failed(src.name, now, errors.get(name) or "no value", series=name))
                else:
                    note(self.answered(src.name, now, series=name))
            for name, value in answer.items():  # series the source did not declare: shown, never judged
                if name not in values:
                    values[name] = value if value is not None and _finite(value) else None
        return PollResult(values, errors, decisions)


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


async def sample_all(sources: Sequence[MetricSource], deadline: float) -> list[Answer]:
    """Ask every source once, concurrently; a source that raises or misses `deadline` seconds gives its reason."""

    async def one(src: MetricSource) -> Answer:
        try:
            return await asyncio.wait_for(src.sample(), timeout=deadline)
        except SourceUnavailable as err:
            return str(err) or "source unavailable"
        except TimeoutError:
            return f"no answer within {deadline:g}s"
        except Exception as err:  # a broken source counts as lost telemetry, it never kills the sampling
            return f"{type(err).__name__}: {err}"

    return list(await asyncio.gather(*(one(s) for s in sources)))


async def poll_sources(
    sources: Sequence[MetricSource], tracker: TelemetryTracker, now: float, deadline: float
) -> PollResult:
    """Sample every source concurrently and judge the answers (`TelemetryTracker.account`).

    A source that did not answer has all its series None with the reason in `errors`, as the
    `metric-sample` event records them.
    """
    return tracker.account(sources, await sample_all(sources, deadline), now)
