"""The safety monitor: samples every metric source each interval, journals the sample, and on every sample
evaluates the stop conditions (with their `for:` hold) and the health of each source (lost telemetry).

It also answers the engine's questions about the recorded samples: does the
steady state hold over its window, when did it hold again after a revert, and
what did each series do before, during and after a step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from controlroom.engine.context import EngineContext
from controlroom.engine.rollback import Rollback
from controlroom.journal.events import StopKind
from controlroom.metrics.conditions import parse_condition
from controlroom.metrics.observed import Figures, ObservedFold
from controlroom.metrics.source import MetricSource
from controlroom.metrics.steady import SampleHistory, SteadyVerdict, evaluate_steady
from controlroom.metrics.telemetry import TelemetryDecision, TelemetryTracker, sample_all
from controlroom.scenario.model import Scenario


class SafetyMonitor:
    """Takes the context, the rollback (a stop condition only counts while a fault is active), the scenario's
    observe / steady-state / stop rules, and callables for the session's sources and current step — not the
    session. A stop goes through `ctx.stop`, the one rollback path."""

    def __init__(self, ctx: EngineContext, rollback: Rollback, scenario: Scenario, *,
                 sources: Callable[[], Sequence[MetricSource]], recovery_wait: float,
                 current_step: Callable[[], str] = lambda: "") -> None:
        self.ctx = ctx
        self.rollback = rollback
        self.scenario = scenario
        self.sources = sources
        self.current_step = current_step
        sc = scenario
        self.every = sc.observe.every
        self.require = [parse_condition(c) for c in sc.steady_state.require]
        self.stop_conditions = [parse_condition(c) for c in sc.stop_when.conditions]
        self.hold = sc.stop_when.hold
        # Kept only as long as a question needs: three steady windows, or the longest recovery wait.
        window = sc.steady_state.window
        self.history = SampleHistory(keep=max(3 * window, recovery_wait) + window)
        self._true_since: dict[str, float] = {}
        # The series the room judges by: one of them without a value makes a stop condition (or the
        # steady-state check) blind, so its gaps count as lost telemetry even while its source answers.
        watched = {c.series for c in (*self.require, *self.stop_conditions)}
        self.telemetry = TelemetryTracker(sc.observe.lost_telemetry, sc.observe.lost_after, watched=watched)
        self.fold = ObservedFold(window=sc.steady_state.window)  # fed every event by the session
        self._task: asyncio.Task[None] | None = None
        self._new_sample = asyncio.Event()
        self._marks: dict[tuple[str, str], float] = {}
        self.paused = asyncio.Event()  # set while lost telemetry with policy "pause" holds the session

    # ---- the sampling loop --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.sources():
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        next_at = self.ctx.clock.monotonic()
        while True:
            next_at += self.every
            await self.tick()
            await self.ctx.clock.sleep(max(0.0, next_at - self.ctx.clock.monotonic()))

    async def tick(self) -> None:
        """Take one sample from every source, journal it, evaluate stop conditions and telemetry health."""
        sources = list(self.sources())
        answers = await sample_all(sources, deadline=max(self.every, 0.5))
        now = self.ctx.now()
        result = self.telemetry.account(sources, answers, now)
        values = {k: (None if v is None else round(float(v), 6)) for k, v in result.values.items()}
        self.history.add(now, values)
        self.ctx.emit("metric-sample", values=values, errors=result.errors)
        for decision in result.decisions:
            self._apply(decision)
        self._stop_if_blind()
        self._evaluate_stop(values, now)
        self._new_sample.set()
        self._new_sample = asyncio.Event()

    def _apply(self, decision: TelemetryDecision) -> None:
        self.ctx.emit(decision.event_type, **decision.payload)
        action = decision.action
        if action == "pause":
            self.paused.set()
        elif action == "warn":
            self.ctx.emit("warning", message=f"metrics {decision.feed} lost ({decision.detail}); "
                                             f"the session goes on (policy warn)")
        elif action == "resume" and not self.telemetry.lost():
            self.paused.clear()

    def blind(self) -> str | None:
        """Why the room cannot see (a lost source or watched series) under a policy that forbids flying blind."""
        lost = self.telemetry.lost()
        if not lost or self.telemetry.policy == "warn":
            return None
        return f"lost telemetry from {', '.join(lost)}: {self.telemetry.statuses()[lost[0]].detail}"

    def _stop_if_blind(self) -> None:
        """Under `rollback` and `pause` no fault stays active while telemetry is lost: both revert it through
        the one rollback path. Checked on every sample, so a fault injected while blind is caught too."""
        reason = self.blind()
        if reason is not None and self.rollback.active and not self.ctx.stopping():
            self.ctx.stop(StopKind.TELEMETRY, reason)

    async def clear_to_inject(self) -> bool:
        """Asked before a step injects; False when it must not (the session is stopping).

        Under `pause` the step waits until the telemetry is restored; under `rollback` lost telemetry stops
        the session here, so nothing is injected blind; under `warn` it goes on.
        """
        if self.paused.is_set() and not self.ctx.stopping():
            self.ctx.emit("warning", message="waiting: telemetry is lost (policy pause); "
                                             "the fault is injected when it is back")
            while self.paused.is_set() and not self.ctx.stopping():
                await self.ctx.clock.sleep(self.every)
        reason = self.blind()
        if reason is not None and not self.ctx.stopping():
            await self.ctx.stop(StopKind.TELEMETRY, reason)
        return not self.ctx.stopping()

    def _evaluate_stop(self, values: dict[str, float | None], now: float) -> None:
        if not self.rollback.active or self.ctx.stopping():
            self._true_since.clear()
            return
        for cond in self.stop_conditions:
            key = str(cond)
            if cond.evaluate(values) is True:
                since = self._true_since.setdefault(key, now)
                if now - since >= self.hold:
                    self.ctx.emit("condition-breached", condition=key, value=values.get(cond.series),
                                  held_s=round(now - since, 3))
                    self.ctx.stop(StopKind.STOP_CONDITION, f"stop condition {key}")
                    return
            elif cond.evaluate(values) is False:
                # A sample with no value neither starts nor ends a hold: a gap in the data is not evidence
                # that the condition stopped holding (and a series with no value for long is lost telemetry).
                self._true_since.pop(key, None)

    # ---- questions about the samples ------------------------------------------------------------------------

    async def _next_sample(self) -> None:
        await self._new_sample.wait()

    async def wait_steady(self, when: str, window: float) -> SteadyVerdict:
        """Wait until the steady state holds over a full window (at most three windows); journal the verdict."""
        if not self.require:
            verdict = SteadyVerdict(ok=True, figures={}, detail="no steady-state conditions declared")
            self.ctx.emit("steady-state", **verdict.payload(when), window=window)
            return verdict
        start = self.ctx.now()
        deadline = start + 3 * window
        verdict = SteadyVerdict(ok=False, figures={}, failed=[str(c) for c in self.require], detail="stopped")
        while not self.ctx.stopping():
            await self._next_sample()
            now = self.ctx.now()
            if now - start < window:
                continue
            verdict = evaluate_steady(self.history.samples(), self.require, window, now, every=self.every)
            if verdict.ok or now >= deadline:
                break
        self.ctx.emit("steady-state", **verdict.payload(when), window=window)
        return verdict

    async def wait_recovered(self, timeout: float) -> float | None:
        """Session time at which the steady conditions began to hold for good (a full window), or None."""
        if not self.require:
            return self.ctx.now()
        window = self.scenario.steady_state.window
        start = self.ctx.now()
        while self.ctx.now() - start < timeout:
            await self._next_sample()
            after = [smp for smp in self.history.samples() if smp[0] >= start]
            # The recovery point is the first sample of the current unbroken run of healthy samples.
            run_start: float | None = None
            for t, vals in after:
                if all(c.evaluate(vals) is True for c in self.require):
                    run_start = t if run_start is None else run_start
                else:
                    run_start = None
            now = self.ctx.now()
            if run_start is not None and now - run_start >= window:
                verdict = evaluate_steady(after, self.require, now - run_start, now, every=self.every)
                step = self.current_step()
                self.ctx.emit("steady-state", **verdict.payload(f"after:{step}"), window=window)
                return run_start
        return None

    def observed(self, step: str) -> dict[str, Figures]:
        """Before / during / after / peak per series for one step, from the events folded so far."""
        return self.fold.figures(step, self.ctx.now())

    def last_values(self) -> dict[str, float | None]:
        return self.history.latest()
