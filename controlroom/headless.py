"""Line-mode runs (`run --headless`, `demo --headless`, CI): the engine with progress lines on stdout.

Without `--yes` each gate is asked on the terminal; with it every step is
confirmed at once. SIGINT, SIGTERM and SIGHUP (the terminal is gone: a closed
tmux window, a dropped SSH session) go through the one rollback path, here and
in the TUI, which runs its session through `run_session` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controlroom.engine.gates import AutoFacilitator, Decision, Facilitator, Gate, Judgements
from controlroom.engine.session import Outcome, Session
from controlroom.formats import FLEET_LINES, FleetTally, format_clock, group_by_target, name_ranges, natural_key
from controlroom.journal.events import (
    ConditionBreached,
    CriterionJudged,
    EmergencyStop,
    Event,
    FaultFailed,
    FaultInjected,
    FaultInjecting,
    FaultInjectStopped,
    FaultLost,
    FaultReverted,
    FaultRevertFailed,
    HookDelivered,
    HookDropped,
    HookFailed,
    LeashExpired,
    MetricSample,
    Note,
    PhaseValidated,
    PreflightCheck,
    RecoveryMeasured,
    RollbackFinished,
    RollbackStarted,
    SessionEnded,
    SessionStarted,
    SteadyState,
    StepBriefed,
    StepCompleted,
    StepConfirmed,
    StopKind,
    TelemetryLost,
    Warning_,
)
from controlroom.journal.handler import EventHandler
from controlroom.metrics.source import MetricSource
from controlroom.preflight_progress import ConnectTally
from controlroom.scenario.model import Scenario
from controlroom.wiring import build_sources as build_sources  # its old home: callers may still import it here
from controlroom.wiring import new_session

Printer = Callable[[str], None]


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _lines(*parts: str | None) -> str | None:
    return "\n".join(p for p in parts if p) or None


class ProgressPrinter(EventHandler[str]):
    """Turns events into the progress lines a CI log or a facilitator without a TUI reads: one method per event
    type that has a line (`journal/handler.py`); the others print nothing."""

    def __init__(self, out: Printer, sample_every: float = 2.0, progress_every: float = 1.0) -> None:
        self.out = out
        self.sample_every = sample_every
        self.progress_every = progress_every  # seconds between pre-flight connection progress lines
        self._last_sample = -1e9
        self._last_progress = -1e9
        self._last_tally = -1e9
        self._steps = 0
        self._connect = ConnectTally()
        self._inject = FleetTally.injection()  # the current step's faults
        self._revert = FleetTally.rollback()  # the current rollback's faults

    def __call__(self, e: Event) -> None:
        line = self.format(e)
        if line:
            for part in line.split("\n"):
                self.out(f"{format_clock(e.mono)}  {part}")

    def format(self, e: Event) -> str | None:
        return self.dispatch(e)

    def _paced(self, tally: FleetTally, mono: float, target: str | None) -> str | None:
        """A fleet's count about once a second (and at the last one in): a CI log is read after the fact."""
        text = tally.settle(target)
        if tally.complete:
            return f"  {text}"
        if target is not None and mono - self._last_tally >= self.progress_every:
            self._last_tally = mono
            return f"  {text}"
        return None

    def on_session_started(self, e: Event, d: SessionStarted) -> str:
        self._steps = len(d.get("steps", []))
        return f"session {d['session']}: {d['scenario']} in {d['environment']} — {d['hypothesis']}"

    def on_preflight_check(self, e: Event, d: PreflightCheck) -> str | None:
        ok = d["ok"]
        changed = self._connect.feed(d["check"], d.get("target"), None if ok is None else bool(ok))
        lines = []
        # A fleet's every passing check would bury what matters: beyond FLEET_LINES targets only failures get a
        # line of their own, and the connection progress says how far the rest got.
        counts = self._connect.counts()
        fleet = counts.total > FLEET_LINES
        if ok is False or (ok and not fleet):
            mark = "ok  " if ok else "FAIL"
            where = f" {d['target']}" if d.get("target") else ""
            lines.append(f"pre-flight {mark} {d['check']}{where}" + ("" if ok else f": {d['detail']}"))
        if changed and ok is not None and (counts.pending == 0 or e.mono - self._last_progress >= self.progress_every):
            self._last_progress = e.mono
            lines.append(f"pre-flight connections: {counts.line()}")
        return "\n".join(lines) or None

    def on_steady_state(self, e: Event, d: SteadyState) -> str:
        figs = ", ".join(f"{k}={_fmt(v)}" for k, v in d.get("figures", {}).items())
        verdict = "holds" if d["ok"] else f"does NOT hold ({', '.join(d.get('failed', []))})"
        return f"steady state ({d['when']}) {verdict}" + (f" [{figs}]" if figs else "")

    def on_step_briefed(self, e: Event, d: StepBriefed) -> str:
        # A fleet step is one line ("blackhole on h[101:200] (100 targets)"), not a hundred summaries.
        groups = group_by_target((f["target"], (f.get("summary") or f["fault"],)) for f in d.get("faults", []))
        faults = "; ".join(text + (f" ({count} targets)" if count > 1 else "")
                           for _many, count, (text,) in groups) or "observe only"
        self._inject = FleetTally.injection(len(d.get("faults", [])))
        return f"step {d['index'] + 1}/{self._steps} {d['step']}: {d['title']} — {faults}"

    def on_step_confirmed(self, e: Event, d: StepConfirmed) -> str:
        if d.get("gate") == "checklist":
            return f"checklist {d['decision']}ed by {d.get('by', 'facilitator')}"
        return f"  {d['decision']}ed by {d.get('by', 'facilitator')}" if d["decision"] != "confirm" else "  confirmed"

    def on_fault_injecting(self, e: Event, d: FaultInjecting) -> str | None:
        # A fleet step's line already said what goes in where; a line per host would bury the failures.
        return None if self._inject.fleet else f"  injecting {d['summary']}"

    def on_fault_injected(self, e: Event, d: FaultInjected) -> str | None:
        if self._inject.fleet:
            return self._paced(self._inject, e.mono, d["target"])
        return f"  injected on {d['target']}"

    def on_fault_failed(self, e: Event, d: FaultFailed) -> str | None:
        line = f"  FAILED to inject on {d['target']}: {d['error']}"
        return _lines(line, self._paced(self._inject, e.mono, None)) if self._inject.fleet else line

    def on_fault_inject_stopped(self, e: Event, d: FaultInjectStopped) -> str:
        how = {"killed": "killed the injection still running", "never-started": "the injection never started",
               "finished": "the injection had ended", "unknown": "could NOT confirm the injection ended"}
        detail = f" ({d['detail']})" if d.get("detail") else ""
        return f"  {d['target']}: {how.get(d.get('how', ''), d.get('how'))}{detail}"

    def on_metric_sample(self, e: Event, d: MetricSample) -> str | None:
        if e.mono - self._last_sample < self.sample_every:
            return None
        self._last_sample = e.mono
        vals = "  ".join(f"{k}={_fmt(v)}" for k, v in sorted(d.get("values", {}).items()))
        errs = "  ".join(f"{k}: {v}" for k, v in d.get("errors", {}).items())
        return f"  metrics {vals}" + (f"  [{errs}]" if errs else "")

    def on_leash_expired(self, e: Event, d: LeashExpired) -> str:
        return f"  LEASH EXPIRED on {d['target']}: {d['fault']} ({d.get('detail', '')})"

    def on_condition_breached(self, e: Event, d: ConditionBreached) -> str:
        return f"  BREACH {d['condition']} (value {_fmt(d.get('value'))}) — rolling back"

    def on_telemetry_lost(self, e: Event, d: TelemetryLost) -> str:
        return f"  telemetry lost from {d['source']} ({d['detail']}); policy {d['policy']}"

    def on_emergency_stop(self, e: Event, d: EmergencyStop) -> str:
        kind = StopKind(d["source"])
        by = f" by {d['by']}" if d.get("by") else ""
        if kind.emergency:
            return f"EMERGENCY STOP ({kind.value}{by}): {d.get('reason', '')}"
        if kind.automatic or kind in (StopKind.JOURNAL, StopKind.CRASH):
            return f"AUTOMATIC ROLLBACK ({d.get('reason') or kind.value})"
        return f"ABORTED ({kind.value}{by}): {d.get('reason', '')}"

    def on_rollback_started(self, e: Event, d: RollbackStarted) -> str:
        self._revert = FleetTally.rollback(len(d["faults"]))
        targets = d.get("targets", [])
        where = name_ranges(sorted(targets, key=natural_key)) if len(targets) > FLEET_LINES else ", ".join(targets)
        return f"  rollback: reverting {len(d['faults'])} fault(s) on {where or 'nothing'}"

    def on_fault_reverted(self, e: Event, d: FaultReverted) -> str | None:
        if self._revert.counts(d):
            return self._paced(self._revert, e.mono, d["target"])
        return f"  reverted on {d['target']}, verified clean"

    def on_fault_revert_failed(self, e: Event, d: FaultRevertFailed) -> str | None:
        line = f"  NOT CONFIRMED on {d['target']}: {d['error']}"
        counted = self._revert.fleet and not self._revert.complete  # a re-confirmation that failed again: its line
        return _lines(line, self._paced(self._revert, e.mono, None)) if counted else line

    def on_rollback_finished(self, e: Event, d: RollbackFinished) -> str:
        return "  rollback finished: all clean" if d["clean"] else \
            f"  rollback finished: {len(d['unconfirmed'])} unconfirmed: {', '.join(d['unconfirmed'])}"

    def on_recovery_measured(self, e: Event, d: RecoveryMeasured) -> str:
        seconds, criterion = d["seconds"], d.get("criterion_s")
        if seconds is None:
            return f"  recovery: steady state not regained{' (' + d['detail'] + ')' if d.get('detail') else ''}"
        crit = f" (criterion {criterion:g}s)" if criterion is not None else ""
        after = " after the stop" if d.get("after_stop") else ""
        return f"  recovered in {seconds:.1f}s{after}{crit}"

    def on_fault_lost(self, e: Event, d: FaultLost) -> str:
        return f"  FAULT LOST on {d['target']}: {d['fault']} was gone before its revert; the step fails"

    def on_phase_validated(self, e: Event, d: PhaseValidated) -> str:
        bad = "; ".join(f"{r['criterion']} ({r.get('detail', '')})" for r in d["results"] if not r["ok"])
        return f"phase {d['phase']}: validation " + ("held" if d["ok"] else f"FAILED: {bad}")

    def on_criterion_judged(self, e: Event, d: CriterionJudged) -> str:
        verdict = "met" if d["met"] else ("NOT met" if d["met"] is False else "not judged")
        return f"  statement {d['criterion']!r}: {verdict} ({d['by']})"

    def on_step_completed(self, e: Event, d: StepCompleted) -> str:
        return f"  step {d['step']}: {d['outcome']}"

    def on_warning(self, e: Event, d: Warning_) -> str:
        return f"  warning: {d['message']}"

    def on_hook_delivered(self, e: Event, d: HookDelivered) -> str | None:
        return f"  PAGED on-call through hook {d['hook']} (rollback unconfirmed)" if d.get("page") else None

    def on_hook_failed(self, e: Event, d: HookFailed) -> str:
        last = "gave up" if d["final"] else f"try {d['attempt']}, will retry"
        return f"  {'paging' if d.get('page') else 'hook'} {d['hook']} ({d['event']}) failed ({last}): {d['error']}"

    def on_hook_dropped(self, e: Event, d: HookDropped) -> str:
        return f"  hook {d['hook']} ({d['event']}) dropped: {d['reason']}"

    def on_note(self, e: Event, d: Note) -> str:
        return f"  note: {d['text']}"

    def on_session_ended(self, e: Event, d: SessionEnded) -> str:
        extra = f"; unconfirmed: {', '.join(d['unconfirmed'])}" if d.get("unconfirmed") else ""
        return f"session ended: {d['outcome']} (exit {d['exit_code']}){extra} — {d.get('message', '')}"
        return None


class TerminalFacilitator:
    """Asks each gate on the terminal: [c]onfirm, [s]kip or [a]bort."""

    async def decide(self, gate: Gate) -> Decision:
        if gate.kind == "checklist":
            for item in gate.items:
                print(f"  [ ] {item}", flush=True)
            question = "  is everything on the checklist done? [c]onfirm / [a]bort: "
        else:
            question = f"  inject step {gate.step}? [c]onfirm / [s]kip / [a]bort: "
        try:
            answer = await asyncio.to_thread(input, question)
        except EOFError:  # the terminal is gone (or stdin ended): nobody can confirm, so nothing is injected
            return "abort"
        return {"c": "confirm", "s": "skip", "a": "abort"}.get(answer.strip().lower()[:1], "abort")  # type: ignore[return-value]

    async def judge(self, statements: tuple[str, ...]) -> Judgements:
        """Each statement on the terminal: [y]es it was met, [n]o, or [s]kip (left not judged)."""
        verdicts: Judgements = {}
        print("  success criteria for you to judge:", flush=True)
        for text in statements:
            try:
                answer = await asyncio.to_thread(input, f"  {text!r}: met? [y]es / [n]o / [s]kip (not judged): ")
            except EOFError:  # the terminal is gone: what is left stays not judged
                break
            verdicts[text] = {"y": True, "n": False}.get(answer.strip().lower()[:1])
        return verdicts


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _LostTerminal:
    """Points fds 0, 1 and 2 away from a terminal that is gone, so the room outlives it.

    After a hangup, writes to the terminal fail (EIO) and reads see end of file: a progress line, the
    TUI's next frame or a traceback would then break the rollback before it is journaled. stdout and
    stderr go to /dev/null; stdin becomes a pipe nobody writes to (the TUI's input thread waits on it
    instead of spinning on EOF), closed at the end so a thread blocked reading it finishes.
    """

    def __init__(self) -> None:
        self._write_end: int | None = None

    def detach(self) -> None:
        if self._write_end is not None:
            return
        null = os.open(os.devnull, os.O_RDWR)
        read_end, self._write_end = os.pipe()
        for fd, to in ((0, read_end), (1, null), (2, null)):
            with contextlib.suppress(OSError):
                os.dup2(to, fd)
        os.close(read_end)
        os.close(null)

    def close(self) -> None:
        if self._write_end is not None:
            with contextlib.suppress(OSError):
                os.close(self._write_end)


async def run_session(session: Session) -> Outcome:
    """Run a session with SIGINT, SIGTERM and SIGHUP wired to the one rollback path."""
    loop = asyncio.get_running_loop()
    terminal = _LostTerminal()

    def on_signal(sig: signal.Signals) -> None:
        if sig == signal.SIGHUP:
            terminal.detach()  # before anything else writes: the terminal is gone
        session.spawn(session.emergency_stop("signal", f"{sig.name} received"
                                             + (" (the terminal is gone)" if sig == signal.SIGHUP else "")))

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await session.run()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        terminal.close()
        for src in session.sources:
            try:
                await src.close()
            except Exception:  # closing a dead source is not worth a traceback
                pass


def run_headless(scenario: Scenario, journal: str | Path, *, yes: bool, out: Printer | None = None,
                 sources: list[MetricSource] | None = None) -> int:
    printer = out or (lambda line: print(line, flush=True))
    facilitator: Facilitator = AutoFacilitator() if yes else TerminalFacilitator()
    if not yes and not sys.stdin.isatty():
        printer("controlroom: no terminal to confirm steps on; pass --yes to confirm every step (CI)")
        return 2
    session = new_session(scenario, journal, facilitator, sources=sources)
    session.subscribe(ProgressPrinter(printer))
    ended = follow_end(session)
    printer(f"journal: {journal}")
    outcome = asyncio.run(run_session(session))
    print_end_summary(ended, str(journal), printer)
    report_journal_failure(session)
    return outcome.exit_code


def report_journal_failure(session: Session) -> None:
    """After a run whose journal broke: one line on stderr (and the unrecorded events, if no file took them)."""
    for line in session.journal_failure_report():
        print(line, file=sys.stderr, flush=True)


def follow_end(session: Session) -> Any:
    """A fold of the session's events (the room's view state), for the summary printed at the end."""
    from controlroom.viewstate import RoomState, apply

    state = RoomState()
    session.subscribe(lambda event: apply(state, event))
    return state


def print_end_summary(state: Any, journal: str, printer: Printer) -> None:
    """The room's end screen as lines: verdict, what was faulted and whether it is verified clean, recovery,
    notes, then `journal: PATH` and the commands that replay and report it."""
    from controlroom.summary import summary_lines

    for line in summary_lines(state, journal):
        printer(line)
