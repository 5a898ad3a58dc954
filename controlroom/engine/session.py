"""The game-day session: a state machine that briefs, gates, injects, observes, reverts and measures recovery.

Every change is an event, journaled (and fsync'd) before anything else hears of
it, and before the action it announces is sent. All ways of stopping — stop
conditions, lost telemetry, signals, `controlroom stop`, the e-stop key, a
journal that cannot be written — take the one rollback path (`emergency_stop`,
or `Rollback.start` from the synchronous journal-failure path).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlroom.clock import Clock, RealClock
from controlroom.engine.context import EngineContext
from controlroom.engine.gates import AutoFacilitator, Facilitator, Gate, facilitator_name
from controlroom.engine.heartbeat import Heartbeat
from controlroom.engine.hooks import DEFAULT_GRACE, HookRunner
from controlroom.engine.liveness import start_time
from controlroom.engine.monitor import SafetyMonitor
from controlroom.engine.planning import StepPlan, plan_scenario
from controlroom.engine.preflight import run_preflight
from controlroom.engine.rollback import Rollback
from controlroom.engine.states import ROOM_GOING, SessionState, Verdict
from controlroom.errors import PreflightError
from controlroom.faults.plan import FaultPlan
from controlroom.journal.events import Event, StepOutcome, StopKind
from controlroom.journal.writer import JournalWriter
from controlroom.metrics.source import BackfillSource, MetricSource
from controlroom.scenario.model import Hook, Phase, Scenario, Step
from controlroom.targets.base import Executor
from controlroom.targets.connect_limit import ConnectLimiter, default_size
from controlroom.targets.factory import ExecutorFactory, make_executor

STATES = tuple(SessionState)  # the state machine's states, in order (docs/architecture.md draws it)

Listener = Callable[[Event], None]
BACKFILL_SECONDS = 120.0  # history asked of sources that keep it, for the sparklines at the start
JOURNAL_FAILED_EXIT = 3  # the journal could not be written: the session stopped and rolled back
BACKFILL_SAMPLES = 240  # at most this many backfilled samples: what a sparkline shows


@dataclass(frozen=True)
class Outcome:
    outcome: Verdict
    # 0 held (or unobserved: declared, run, every fault verified clean, nothing judged), 1 failed or rolled back
    # or aborted, 2 pre-flight failed, 3 the journal broke
    exit_code: int
    unconfirmed: tuple[str, ...] = ()
    message: str = ""


@dataclass
class _StepResult:
    outcome: StepOutcome
    recovery_s: float | None = None


@dataclass
class Session:
    scenario: Scenario
    journal_path: Path
    facilitator: Facilitator = field(default_factory=AutoFacilitator)
    executor_factory: ExecutorFactory = make_executor
    sources: list[MetricSource] = field(default_factory=list)
    clock: Clock = field(default_factory=RealClock)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    control: bool = True  # open a control socket for `controlroom stop`
    recovery_timeout: float | None = None  # default: derived from criteria and window
    reconfirm_for: float | None = None  # how long unconfirmed reverts are retried; default leash window + 5s
    facilitator_name: str = field(default_factory=facilitator_name)  # who is journaled as pressing keys
    user_hooks: tuple[Hook, ...] = ()  # the user's hooks file (docs/hooks.md), besides the scenario's own
    hook_grace: float = DEFAULT_GRACE  # seconds pending hook deliveries get at the end

    def __post_init__(self) -> None:
        self.journal_path = Path(self.journal_path)
        self.state = SessionState.LOADED
        self._listeners: list[Listener] = []
        self._writer: JournalWriter | None = None
        self._start = 0.0
        self._executors: dict[str, Executor] = {}
        # One limiter for every SSH connection the session sets up: a fleet's handshakes never all start at once.
        self.connect_limiter = ConnectLimiter(self.scenario.blast_radius.max_connecting or default_size())
        self.step_plans: list[StepPlan] = plan_scenario(self.scenario, self.session_id)
        self._skip_faults: set[str] = set()  # optional faults whose capability pre-flight found missing
        # What the rollback may use of the session, and nothing more (`engine.context`).
        self.context = EngineContext(emit=self.emit, executor=self.executor, clock=self.clock, now=self.now,
                                     stopping=lambda: self.stopping, stop=self._stop_in_background,
                                     group_commit=self.group_commit)
        self.rollback = Rollback(self.context, leash_window=self.scenario.blast_radius.leash)
        # Renews every leash and host claim while the room lives.
        self.heartbeat = Heartbeat(self.context, self.rollback, session_id=self.session_id,
                                   window=self.scenario.blast_radius.leash)
        self.monitor = SafetyMonitor(self.context, self.rollback, self.scenario, sources=lambda: self.sources,
                                     recovery_wait=self.recovery_wait(),
                                     current_step=lambda: self.current_step.id if self.current_step else "")
        self._listeners.append(self.monitor.fold.feed)  # observed figures are a fold over our own events
        # Hooks hear events through a listener that only queues (never awaits): they cannot delay a rollback.
        hooks = self.user_hooks + self.scenario.hooks
        self.hook_runner = HookRunner(self.emit, hooks, session_id=self.session_id, scenario=self.scenario.name,
                                      environment=self.scenario.environment) if hooks else None
        if self.hook_runner is not None:
            self._listeners.append(self.hook_runner.listen)
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._stop_kind: StopKind | None = None  # what stopped the session: decisions read the kind, never the text
        self._end_recovery = asyncio.Event()  # the facilitator ended the recovery watch after a stop early
        self._ended = False
        self.current_step: Step | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._group_commit = 0
        self._recovery: dict[str, float | None] = {}  # step -> seconds, for the success criteria
        self._full_strength: dict[str, dict[str, float | None]] = {}  # step -> last values before its revert
        self._failed_phases: list[str] = []  # "phase: why", for the outcome's message
        self.journal_error: str | None = None  # set when a journal write failed: the session stops
        self.fallback_path: Path | None = None  # where the events the journal could not take went
        self._fallback_fd: int | None = None
        self._unrecorded: list[Event] = []

    # ---- events ---------------------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def now(self) -> float:
        """Seconds since session start, on the session's clock."""
        return self.clock.monotonic() - self._start

    def emit(self, type_: str, **data: Any) -> Event:
        event = Event(type=type_, t=self.clock.wall().isoformat(timespec="milliseconds"), mono=self.now(), data=data)
        broke = False
        if self._writer is not None and self.journal_error is None:
            # Journal first: listeners only hear of written events. Inside a group commit the fsync waits for
            # the group's end; injections are never inside one (they must be durable before they are sent).
            try:
                self._writer.append(event, sync=self._group_commit == 0)
            except OSError as err:
                self._journal_broken(err)
                broke = True
        if self.journal_error is not None:
            # Once the journal is broken, listeners still hear everything (the facilitator must see the
            # rollback); what could not be written is kept for the fallback file and the end of the session.
            self._unrecorded.append(event)
            self._write_fallback(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as err:  # a pane that throws must not stop a rollback
                if type_ != "warning":
                    self.emit("warning", message=f"listener failed on {type_}: {err!r}")
        if broke:
            self._stop_for_journal()  # after this event: it is the first one the fallback holds
        return event

    @contextlib.contextmanager
    def group_commit(self) -> Iterator[None]:
        """Events written inside reach the disk with one fsync at the end (a rollback's many reverts).

        A crash inside loses at most those records, and what they said is only that faults were reverted:
        `recover` reverts (idempotently) whatever the journal does not show as verified clean.
        """
        self._group_commit += 1
        try:
            yield
        finally:
            self._group_commit -= 1
            if self._group_commit == 0 and self._writer is not None and self.journal_error is None:
                try:
                    self._writer.sync()
                except OSError as err:
                    self._journal_broken(err)
                    self._stop_for_journal()

    def set_state(self, state: SessionState) -> None:
        if state != self.state:
            self.state = state
            self.emit("state-changed", state=state)

    def recovery_wait(self) -> float:
        """How long recovery is waited for after a revert before the step counts as not recovered."""
        criterion = self.scenario.success_criteria.recovery_time
        window = self.scenario.steady_state.window
        return self.recovery_timeout or max((criterion or 0) * 3, window * 3, 30.0)

    def add_note(self, text: str, author: str = "facilitator") -> None:
        self.emit("note", text=text, author=author)

    def tick_checklist(self, item: str, ticked: bool = True) -> None:
        self.emit("checklist-item", item=item, ticked=ticked)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background, keeping a reference so it is neither lost nor collected."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def stop_kind(self) -> StopKind | None:
        """What stopped the session (`emergency-stop`'s source, or an abort at a gate); None when nothing did."""
        return self._stop_kind

    @property
    def stop_source(self) -> str:
        """The stop kind as journaled, empty when nothing stopped the session."""
        return self._stop_kind.value if self._stop_kind is not None else ""

    @property
    def _stopped_by_hand(self) -> bool:
        """Stopped by a person or the terminal (key, signal, `controlroom stop`, an abort), not by the rules."""
        return self._stop_kind is not None and self._stop_kind.manual

    def end_recovery(self) -> bool:
        """The facilitator ends the recovery watch after a stop early (a key in the room). The step's recovery is
        then recorded as not seen; nothing else changes. False when no watch is running."""
        if self.state is not SessionState.RECOVERING or not self.stopping:
            return False
        self._end_recovery.set()
        return True

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- executors ------------------------------------------------------------------------------------------

    def executor(self, target: str) -> Executor:
        ex = self._executors.get(target)
        if ex is None:
            ex = self.executor_factory(self.scenario.targets[target])
            bind = getattr(ex, "bind_session", None)
            if bind is not None:  # Kubernetes: what it creates carries the session's label, for `recover`
                bind(self.session_id)
            share = getattr(ex, "share_connect_limiter", None)
            if share is not None:  # SSH: set up through the session's one connect limiter
                share(self.connect_limiter)
            self._executors[target] = ex
        return ex


    # ---- the journal cannot be written ---------------------------------------------------------------------

    def _journal_broken(self, err: OSError) -> None:
        """A write or fsync of the journal failed (disk full, I/O error): nothing more is written to it
        (a torn line stays its last one); what follows goes to a fallback file."""
        why = err.strerror or str(err)
        self.journal_error = f"{self.journal_path}: the journal cannot be written ({why})"
        self._open_fallback()

    def _stop_for_journal(self) -> None:
        """A broken journal is a stop condition. The rollback starts at once, from this synchronous call (its
        reverts do not need the journal), so whatever runs next already sees the session stopping: an inject
        whose `fault-injecting` could not be recorded is never sent (`Rollback.inject_all` checks)."""
        assert self.journal_error is not None
        if self._begin_stop(StopKind.JOURNAL, self.journal_error):
            self.rollback.start(self.journal_error)

    def _open_fallback(self) -> None:
        """A file elsewhere ($TMPDIR, usually another filesystem) for the events the journal could not take."""
        try:
            fd, name = tempfile.mkstemp(prefix=f"controlroom-{self.session_id}-unrecorded-", suffix=".jsonl")
        except OSError:
            return
        self._fallback_fd, self.fallback_path = fd, Path(name)
        header = {"format": "controlroom-unrecorded", "session": self.session_id,
                  "journal": str(self.journal_path), "error": self.journal_error}
        self._write_fallback_line(json.dumps(header, separators=(",", ":"), ensure_ascii=False))

    def _write_fallback(self, event: Event) -> None:
        if self._fallback_fd is not None:
            self._write_fallback_line(event.to_json())

    def _write_fallback_line(self, line: str) -> None:
        assert self._fallback_fd is not None
        try:
            os.write(self._fallback_fd, (line + "\n").encode())
        except OSError:
            with contextlib.suppress(OSError):
                os.close(self._fallback_fd)
            self._fallback_fd = None
            self.fallback_path = None

    def journal_failure_report(self) -> list[str]:
        """After a run whose journal broke: the one-line error, preceded by the unrecorded events (as JSON lines)
        only when no fallback file could hold them. Empty when the journal was fine."""
        if self.journal_error is None:
            return []
        lines = [] if self.fallback_path is not None else [e.to_json() for e in self._unrecorded]
        unconfirmed = self.rollback.unconfirmed
        state = (f"NOT confirmed clean on {', '.join(unconfirmed)}; run `controlroom recover {self.journal_path}`"
                 if unconfirmed else "every fault was reverted and verified clean")
        kept = (f"the {len(self._unrecorded)} event(s) it could not record are in {self.fallback_path}"
                if self.fallback_path is not None else "the events it could not record are printed above")
        lines.append(f"controlroom: {self.journal_error}; the session stopped and rolled back: {state}; {kept}")
        return lines

    # ---- the one stop -------------------------------------------------------------------------------------

    def _begin_stop(self, source: StopKind | str, reason: str, by: str | None = None) -> bool:
        """Mark the session stopping and journal why (and who); True for the first stop (later ones only wait)."""
        kind = StopKind(source)
        if kind is StopKind.KEY and by is None:
            by = self.facilitator_name  # the key is pressed in the room, by whoever runs it
        first = not self._stop.is_set()
        self._stop.set()
        if first:
            self._stop_reason = reason or kind.value
            self._stop_kind = kind
            self.emit("emergency-stop", source=kind.value, reason=reason or kind.value, **({"by": by} if by else {}))
        return first

    async def emergency_stop(self, source: StopKind | str, reason: str = "", by: str | None = None) -> None:
        """Stop everything: revert all active faults in parallel, verify, record what stays unconfirmed.

        `source` is a StopKind (or its value); `by` says who, when a person did it (the facilitator's name,
        or the user and terminal of `controlroom stop`). Idempotent: a second call waits for the first
        rollback to finish.
        """
        kind = StopKind(source)
        self._begin_stop(kind, reason, by)
        await self.rollback.rollback_all(reason or kind.value)

    def stop_now(self, source: StopKind | str, reason: str = "", by: str | None = None) -> asyncio.Task[Any]:
        """`emergency_stop`, marked stopping before this returns (so a step about to inject sees the stop and
        injects nothing), its rollback in a task: for a caller inside an event listener (the schedule's kill
        switch at `step-briefed`). The same one rollback path."""
        self._begin_stop(StopKind(source), reason, by)
        return self.spawn(self.emergency_stop(source, reason, by))

    def _stop_in_background(self, kind: StopKind, reason: str) -> asyncio.Task[Any]:
        """`EngineContext.stop`: the one rollback path, started now from a part that must not wait for it (the
        heartbeat's round, the monitor's sample); awaiting the task waits for the rollback."""
        return self.spawn(self.emergency_stop(kind, reason))

    async def _stop_by_control(self, by: str) -> list[str]:
        """`controlroom stop` on the control socket: the one rollback path; the targets left unconfirmed."""
        await self.emergency_stop(StopKind.CONTROL, "controlroom stop", by=by)
        return list(self.rollback.unconfirmed)

    # ---- the run ------------------------------------------------------------------------------------------

    def _header(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "session": self.session_id,
            "scenario": s.name,
            "hypothesis": s.hypothesis,
            "environment": s.environment,
            "scenario_path": s.source_path,
            "scenario_text": s.source_text,
            "started": self.clock.wall().isoformat(timespec="milliseconds"),
            "pid": os.getpid(),
            # With the pid, the process start time: `stop` and `recover` never take a reused pid for this session.
            "pid_start": start_time(os.getpid()),
        }

    async def run(self) -> Outcome:
        self._start = self.clock.monotonic()
        from controlroom.engine.control import ControlServer

        control = ControlServer(self.session_id, self.scenario.name, self.journal_path, stop=self._stop_by_control,
                                state=lambda: self.state) if self.control else None
        if control:
            control.prepare()  # a runtime directory another user planted is refused before anything is written
        self._writer = JournalWriter(self.journal_path, self._header())
        if self.hook_runner is not None:
            self.hook_runner.start()
        s = self.scenario
        self.emit(
            "session-started", session=self.session_id, scenario=s.name, hypothesis=s.hypothesis,
            environment=s.environment, targets=[{"name": t.name, "kind": t.kind, "labels": t.labels}
                                                for t in s.targets.values()],
            steps=[{"id": st.id, "title": st.title, "phase": st.phase, "duration": st.duration}
                   for st in s.steps],
            series=[name for src in self.sources for name in src.series()],
            limits={"max_targets": s.blast_radius.max_targets, "max_duration": s.blast_radius.max_duration},
            stop_when=list(s.stop_when.conditions), steady=list(s.steady_state.require),
            checklist=list(s.checklist), statements=list(s.success_criteria.statements),
            unobserved=s.unobserved, facilitator=self.facilitator_name, pid=os.getpid(),
            control=str(control.path) if control else None,
        )
        outcome: Outcome
        try:
            if control:
                await control.start()
            self.heartbeat.start()
            outcome = await self._run_body()
        except asyncio.CancelledError:
            await self.emergency_stop(StopKind.CANCELLED)
            outcome = Outcome(Verdict.ABORTED, 1, self.rollback.unconfirmed, "session cancelled")
            raise
        except BaseException as err:
            # Whatever broke, nothing stays injected: the rollback path runs before the error travels on.
            await self.emergency_stop(StopKind.CRASH, f"internal error: {err!r}")
            raise
        finally:
            await self.monitor.stop()
            if self.rollback.active:
                await self.rollback.revert_remaining()
            # Renewals stop only now that nothing is left to revert; claims of hosts verified clean are released.
            await self.heartbeat.close()
            if not self._ended:
                o = locals().get("outcome") or Outcome(Verdict.CRASHED, 1, self.rollback.unconfirmed)
                self._end(o)
            await self.rollback.wait_done()  # a stop the journal's last writes started, if they failed
            if self.hook_runner is not None:
                # After session-ended (a hook may be told of it): a short bounded grace, the rest abandoned.
                await self.hook_runner.close(self.hook_grace)
            if control:
                await control.close()
            await self._close_executors()
            if self._writer:
                self._writer.close()
            if self._fallback_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fallback_fd)
                self._fallback_fd = None
        if self.journal_error is not None and outcome.exit_code != JOURNAL_FAILED_EXIT:
            # The journal broke at the very end (its last lines): the record is incomplete all the same.
            outcome = Outcome(Verdict.ABORTED, JOURNAL_FAILED_EXIT, self.rollback.unconfirmed,
                              f"{self.journal_error}; stopped")
        return outcome

    def _end(self, outcome: Outcome) -> Outcome:
        if self.journal_error is not None:
            # Whatever else happened, the record is incomplete: that is what the exit code must say.
            outcome = Outcome(Verdict.ABORTED, JOURNAL_FAILED_EXIT, self.rollback.unconfirmed,
                              f"{self.journal_error}; stopped and rolled back")
        self._ended = True
        self.set_state(outcome.outcome.final_state)
        self.emit("session-ended", outcome=outcome.outcome, exit_code=outcome.exit_code,
                  unconfirmed=list(outcome.unconfirmed), message=outcome.message)
        return outcome

    async def _close_executors(self) -> None:
        for ex in self._executors.values():
            with contextlib.suppress(Exception):
                await ex.close()

    async def _run_body(self) -> Outcome:
        self.set_state(SessionState.PREFLIGHT)
        try:
            self._skip_faults = await run_preflight(self.context, self.scenario,
                                                   [p for sp in self.step_plans for p in sp.faults], self.sources,
                                                   self.heartbeat)
        except PreflightError as err:
            return Outcome(Verdict.PREFLIGHT_FAILED, 2, (), str(err))
        await self._backfill()
        if self.scenario.checklist:
            # The humans' checklist ("on-call knows") is a gate too: nothing is injected until it is confirmed.
            self.set_state(SessionState.AWAITING_CONFIRMATION)
            decision = await self._gate(Gate(kind="checklist", title="checklist", items=self.scenario.checklist))
            self.emit("step-confirmed", step=None, decision=decision, by="facilitator", gate="checklist")
            if decision == "abort":
                return Outcome(Verdict.ABORTED, 1, (), "aborted at the checklist")
        self.monitor.start()
        self.set_state(SessionState.STEADY_STATE)
        verdict = await self.monitor.wait_steady("before", self.scenario.steady_state.window)
        if not verdict.ok:
            msg = f"steady state does not hold before the first injection: {', '.join(verdict.failed)}"
            return Outcome(Verdict.PREFLIGHT_FAILED, 2, (), msg)
        results: list[_StepResult] = []
        phase_of = {sid: ph for ph in self.scenario.phases for sid in ph.steps}
        for index, sp in enumerate(self.step_plans):
            if self.stopping:
                break
            result = await self._run_step(index, sp)
            results.append(result)
            if result.outcome == "aborted" or self.stopping:
                break
            phase = phase_of.get(sp.step.id)
            if result.outcome == "failed" and (sp.step.abort_on_failure or (phase and phase.abort_on_failure)):
                if phase is not None and phase.abort_on_failure and not sp.step.abort_on_failure:
                    self.emit("warning", message=f"phase {phase.name}: step {sp.step.id} failed; the phase says "
                                                 "abort_on_failure, so no further step runs")
                break
            if phase is not None and sp.step.id == phase.steps[-1] and not self._validate_phase(phase):
                if phase.abort_on_failure:
                    self.emit("warning", message=f"phase {phase.name}: its validation failed; the phase says "
                                                 "abort_on_failure, so no further step runs")
                    break
        if self.rollback.unconfirmed:
            # A target cut off mid-revert may come back: keep trying for as long as its leash could hold a fault.
            self.set_state(SessionState.REVERTING)
            await self.rollback.reconfirm(self.reconfirm_for if self.reconfirm_for is not None
                                          else self.heartbeat.window + 5.0)
        judged = await self._judge_statements()
        return self._conclude(results, judged)

    def _validate_phase(self, phase: Phase) -> bool:
        """A phase's `validation`, judged on the last sample before its last fault step was reverted (the phase
        at full strength; the latest sample for a phase without faults). Journaled as `phase-validated`."""
        if not phase.validation:
            return True
        from controlroom.metrics.conditions import parse_condition

        values = next((self._full_strength[s] for s in reversed(phase.steps) if s in self._full_strength),
                      self.monitor.last_values())
        results = []
        for text in phase.validation:
            cond = parse_condition(text)
            verdict = cond.evaluate(values)
            value = values.get(cond.series)
            shown = "no data" if value is None else f"{cond.series} = {value:g}"
            results.append({"criterion": text, "ok": verdict is True, "detail": shown, "kind": "check"})
        ok = all(r["ok"] for r in results)
        self.emit("phase-validated", phase=phase.name, ok=ok, results=results)
        if not ok:
            bad = ", ".join(f"{r['criterion']} ({r['detail']})" for r in results if not r["ok"])
            self._failed_phases.append(f"phase {phase.name}: {bad}")
        return ok

    async def _judge_statements(self) -> dict[str, bool | None]:
        """The scenario's human statements, judged by the facilitator at the end and journaled one by one as
        `criterion-judged` (met true / false, or null: not judged) with who judged. `--yes` judges nothing; a
        session a signal or an error ended asks nobody."""
        from controlroom.engine.gates import judge_statements

        statements = self.scenario.success_criteria.statements
        if not statements:
            return {}
        gone = self.journal_error is not None or self._stop_kind in ROOM_GOING
        if gone:
            verdicts: dict[str, bool | None] = {}
            by = "nobody (the session was stopped before the end)"
        else:
            self.set_state(SessionState.JUDGING)
            verdicts, by = await judge_statements(self.facilitator, statements)
        out: dict[str, bool | None] = {}
        for text in statements:
            met = verdicts.get(text)
            out[text] = met if isinstance(met, bool) else None
            self.emit("criterion-judged", criterion=text, met=out[text],
                      by=by if out[text] is not None or by.startswith("nobody") else f"nobody ({by} skipped it)")
        return out

    async def _backfill(self) -> None:
        """Sources with history (Prometheus) fill the sparklines with what came before the session."""
        from controlroom.metrics.steady import samples_from_backfill

        sc = self.scenario
        seconds = max(2 * sc.steady_state.window, BACKFILL_SECONDS)
        for src in self.sources:
            if not isinstance(src, BackfillSource):  # an optional capability: no history, empty sparklines
                continue
            try:
                points = await asyncio.wait_for(src.backfill(seconds, sc.observe.every), timeout=10.0)
            except Exception as err:  # history is a nicety: a source that cannot give it is only noted
                self.emit("warning", message=f"metrics source {src.name}: no history for the sparklines ({err})")
                continue
            unix_at_start = self.clock.wall().timestamp() - self.now()
            # Only what came before the session: the client rounds the range's end to a whole second, so
            # the last points can lie a little after the start, where live samples already speak.
            history = [smp for smp in samples_from_backfill(points, unix_at_start) if smp[0] < 0]
            samples = history[-BACKFILL_SAMPLES:]
            if samples:
                self.emit("metric-backfill", source=src.name,
                          samples=[[round(t, 3), values] for t, values in samples])

    def _judge_criteria(self, judged: dict[str, bool | None]) -> tuple[bool | None, list[str]]:
        """Evaluate and journal the success criteria: (met, what failed). Checks are evaluated here; statements
        carry the facilitator's judgement. `met` is True only when every criterion is met, None when none
        failed but a statement was not judged (never "met" on nobody's word), False when any failed."""
        from controlroom.metrics.criteria import evaluate_success

        crit = self.scenario.success_criteria
        if not crit.declared:
            return True, []
        # Validation made every check parseable (scenario/validate.py): evaluating cannot fail on the text.
        checks = evaluate_success(crit, self.monitor.fold.all_figures(), self._recovery, self.monitor.last_values())
        results: list[dict[str, Any]] = [{**r.payload(), "kind": "check"} for r in checks]
        for text, verdict in judged.items():
            detail = "judged met" if verdict else ("judged NOT met" if verdict is False else "not judged")
            results.append({"criterion": text, "ok": verdict, "detail": detail, "kind": "statement"})
        failed = [str(r["criterion"]) for r in results if r["ok"] is False]
        met: bool | None = False if failed else (None if any(r["ok"] is None for r in results) else True)
        self.emit("success-criteria", met=met, results=results)
        return met, failed

    def _conclude(self, results: list[_StepResult], judged: dict[str, bool | None]) -> Outcome:
        criteria_met, failed = self._judge_criteria(judged)
        unconfirmed = self.rollback.unconfirmed
        outcomes = [r.outcome for r in results]
        if "aborted" in outcomes or self._stopped_by_hand:
            outcome = Outcome(Verdict.ABORTED, 1, unconfirmed, f"stopped: {self._stop_reason or 'aborted'}")
        elif self.rollback.triggered or "rolled-back" in outcomes:
            outcome = Outcome(Verdict.ROLLED_BACK, 1, unconfirmed, f"rolled back: {self._stop_reason}")
        elif "failed" in outcomes or unconfirmed:
            outcome = Outcome(Verdict.FAILED, 1, unconfirmed, "hypothesis did not hold")
        elif self._failed_phases:
            outcome = Outcome(Verdict.FAILED, 1, (), "phase validation failed: " + "; ".join(self._failed_phases))
        elif criteria_met is False:
            outcome = Outcome(Verdict.FAILED, 1, (), "success criteria not met: " + "; ".join(failed))
        elif self.scenario.unobserved:
            # Declared unobserved: the faults went in and were verified gone, but nothing judged the system.
            outcome = Outcome(Verdict.UNOBSERVED, 0, (), "ran unobserved: every fault verified clean; nothing judged "
                                                   "the hypothesis")
        else:
            outcome = Outcome(Verdict.HELD, 0, (), "hypothesis held")
        return outcome  # `run` ends the session once the claims are released: session-ended is the last event

    # ---- one step -----------------------------------------------------------------------------------------

    async def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep on the session clock; True when a stop interrupted the wait."""
        if self.stopping:
            return True
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, stopper):
                t.cancel()
        return self.stopping

    async def _gate(self, gate: Gate) -> str:
        decider = asyncio.ensure_future(self.facilitator.decide(gate))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({decider, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not decider.done():
            gate.resolve("abort")
            decider.cancel()
            return "abort"
        return decider.result()

    async def _run_step(self, index: int, sp: StepPlan) -> _StepResult:
        step = sp.step
        self.current_step = step
        plans = [p for p in sp.faults if p.fault_id not in self._skip_faults]
        self.set_state(SessionState.BRIEFED)
        self.emit("step-briefed", step=step.id, index=index, title=step.title, brief=step.brief, expect=step.expect,
                  duration=step.duration, phase=step.phase,
                  faults=[{"fault": p.fault_id, "type": p.spec.type, "target": p.target, "summary": p.summary}
                          for p in plans],
                  skipped_faults=sorted(p.fault_id for p in sp.faults if p.fault_id in self._skip_faults))
        if self.monitor.paused.is_set():
            self.emit("warning", message="waiting: a metrics source is lost (policy pause); the step starts when it is back")
            while self.monitor.paused.is_set() and not self.stopping:
                await self._wait_or_stop(self.scenario.observe.every)
        decision = "confirm"
        if step.confirm:
            self.set_state(SessionState.AWAITING_CONFIRMATION)
            self.emit("step-armed", step=step.id)
            decision = await self._gate(Gate(kind="step", step=step.id, title=step.title))
            self.emit("step-confirmed", step=step.id, decision=decision, by="facilitator")
        if decision == "skip":
            self.emit("step-completed", step=step.id, outcome="skipped")
            return _StepResult("skipped")
        if decision == "abort":
            self.emit("step-completed", step=step.id, outcome="aborted")
            if not self.stopping:
                # Nothing is active at a gate: no emergency-stop to journal, but the kind decides the outcome.
                self._stop_reason = "aborted by facilitator"
                self._stop_kind = StopKind.FACILITATOR_ABORT
                self._stop.set()
            return _StepResult("aborted")
        if not plans:
            if step.duration:
                self.set_state(SessionState.OBSERVING)
                await self._wait_or_stop(step.duration)
            outcome: StepOutcome = "rolled-back" if self.rollback.triggered else "passed"
            self.emit("step-completed", step=step.id, outcome=outcome)
            return _StepResult(outcome)
        return await self._run_fault_step(step, plans)

    def _check_runtime_blast_radius(self, plans: list[FaultPlan]) -> str | None:
        br = self.scenario.blast_radius
        targets = {p.target for p in plans} | {a.plan.target for a in self.rollback.active.values()}
        if len(targets) > br.max_targets:
            return (f"blast radius: {len(targets)} targets would be faulted at once ({', '.join(sorted(targets))}), "
                    f"over max_targets {br.max_targets}")
        if ((self.current_step and self.current_step.duration) or 0) > br.max_duration:
            return "blast radius: step duration is over max_duration"
        return None

    async def _run_fault_step(self, step: Step, plans: list[FaultPlan]) -> _StepResult:
        refused = self._check_runtime_blast_radius(plans)
        if refused:
            self.emit("warning", message=refused)
            self.emit("step-completed", step=step.id, outcome="failed")
            return _StepResult("failed")
        if not await self.monitor.clear_to_inject():  # never inject blind (lost telemetry, policy pause/rollback)
            await self.rollback.wait_done()
            self.emit("step-completed", step=step.id, outcome="rolled-back")
            return _StepResult("rolled-back")
        duration = min(step.duration or 0.0, self.scenario.blast_radius.max_duration)
        self.set_state(SessionState.INJECTING)
        ok = await self.rollback.inject_all(step, plans, duration)
        if not ok and not self.stopping:
            await self.rollback.revert_step(step.id)
            self.emit("step-completed", step=step.id, outcome="failed")
            return _StepResult("failed")
        if not self.stopping:
            # The heartbeat, not this loop, keeps the leashes from running out while the step lasts.
            self.set_state(SessionState.OBSERVING)
            await self._wait_or_stop(duration)
        rolled_back = self.rollback.triggered
        self._full_strength[step.id] = self.monitor.last_values()  # the step at its end, its faults still in
        lost: list[FaultPlan] = []
        if not rolled_back:
            lost = await self.rollback.lost_faults(step.id)
            for plan in lost:
                self.emit("fault-lost", step=step.id, fault=plan.fault_id, target=plan.target,
                          detail="its verify passed before the revert: something else (another room, a restart, "
                                 "a leash that fired) removed it during the step")
        rolled_back = self.rollback.triggered  # a stop may have come while the verifies were out
        if not rolled_back:
            self.set_state(SessionState.REVERTING)
            await self.rollback.revert_step(step.id)
        else:
            await self.rollback.wait_done()
        recovery = await self._measure_recovery(step)
        self._recovery[step.id] = recovery
        outcome: StepOutcome
        if rolled_back:
            outcome = "rolled-back"
        elif recovery is None or self.rollback.unconfirmed or lost:
            outcome = "failed"  # a lost fault: the step did not test what it planned, so it cannot pass
        else:
            criterion = self.scenario.success_criteria.recovery_time
            outcome = "failed" if (criterion is not None and recovery > criterion) else "passed"
        self.emit("observed", step=step.id, series=self.monitor.observed(step.id))
        self.emit("step-completed", step=step.id, outcome=outcome)
        return _StepResult(outcome, recovery)

    async def _measure_recovery(self, step: Step) -> float | None:
        """Seconds from the end of the revert until the steady state holds again (None: it did not).

        Every stop that leaves the room running is followed by the same watch as a step's normal end — the
        key, `controlroom stop`, stop conditions, lost telemetry, a leash — so the report shows recovery after
        an e-stop too (`after_stop`; the outcome stays aborted or rolled-back). The facilitator may end the
        watch early (`end_recovery`). Not watched: a signal (the process was told to end), a cancelled or
        crashed session, a journal that cannot be written.
        """
        kind = self._stop_kind
        if self.journal_error is not None or kind in ROOM_GOING:
            why = "a signal asked the program to end" if kind is StopKind.SIGNAL else "the session was stopped"
            self.emit("recovery-measured", step=step.id, seconds=None, held=False, criterion_s=None,
                      detail=f"not measured: {why}")
            return None
        if self.rollback.unconfirmed:
            # A fault that may still be in place cannot have been recovered from: do not wait the recovery out.
            self.emit("recovery-measured", step=step.id, seconds=None, held=False, criterion_s=None,
                      detail=f"not measured: not confirmed reverted on {', '.join(self.rollback.unconfirmed)}")
            return None
        after_stop = {"after_stop": True} if kind is not None else {}
        self.set_state(SessionState.RECOVERING)
        criterion = self.scenario.success_criteria.recovery_time
        reverted_at = self.now()
        recovered_at, ended_early = await self._wait_recovered(self.recovery_wait())
        seconds = None if recovered_at is None else max(0.0, recovered_at - reverted_at)
        detail = {"detail": "the facilitator ended the watch before the steady state was back"} if ended_early else {}
        self.emit("recovery-measured", step=step.id, seconds=None if seconds is None else round(seconds, 3),
                  held=seconds is not None, criterion_s=criterion, **after_stop, **detail)
        if seconds is not None:
            self.set_state(SessionState.RECOVERED)
        return seconds

    async def _wait_recovered(self, timeout: float) -> tuple[float | None, bool]:
        """The monitor's recovery wait, unless the facilitator ends it first: (recovered at, ended early)."""
        self._end_recovery.clear()
        watch = asyncio.ensure_future(self.monitor.wait_recovered(timeout))
        ender = asyncio.ensure_future(self._end_recovery.wait())
        try:
            await asyncio.wait({watch, ender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ender.cancel()
        if watch.done():
            return watch.result(), False
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        return None, True
