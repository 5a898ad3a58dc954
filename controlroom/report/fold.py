"""The report's one pass over a journal: each event kept as the plain facts the report derives from.

A reader of the journal like every other (`journal/handler.py`): one `on_<type>` method per event type it
uses, with that type's payload. Metric samples, the bulk of a journal, come in runs (`journal.reader.Samples`)
and are handled inline in `run`, a run at a time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

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
    FaultSelected,
    Note,
    Observed,
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
    SuccessCriteria,
    TelemetryLost,
    TelemetryRestored,
    Warning_,
)
from controlroom.journal.handler import EventHandler
from controlroom.journal.reader import Batch, Samples
from controlroom.metrics.observed import ObservedFold
from controlroom.report.model import Condition, parse_condition
from controlroom.report.series import SeriesFold
from controlroom.units import UnitError, parse_duration


def automatic(kind: str) -> bool:
    """A rollback the scenario's rules started (or the room failing), not a person's stop: by kind, not text."""
    try:
        return not StopKind(kind).manual
    except ValueError:  # a fault that failed, or a trigger this version does not know: not a person's stop
        return True


@dataclass
class Fault:
    fault: str
    target: str
    step: str | None
    type: str | None = None
    summary: str = ""
    injecting_at: float | None = None
    injected_at: float | None = None
    failed_at: float | None = None
    error: str | None = None
    reverted_at: float | None = None
    verified: bool | None = None
    revert_error: str | None = None
    lost: str | None = None  # gone before its revert (fault-lost): the step did not observe what it planned
    # Kubernetes: the pods the selection chose at injection ("namespace/name", from `fault-selected`), and the
    # seconds from the kill until the workload was ready again (pod-kill's verify, `fault-reverted.recovered_s`).
    pods: list[str] = field(default_factory=list)
    recovered_s: float | None = None

    @property
    def start(self) -> float | None:
        # A fault counts from the moment it was sent: the journal records injecting before the command goes out.
        return self.injected_at if self.injected_at is not None else self.injecting_at


class JournalLike(Protocol):
    """What the report reads: `journal.reader.Journal` (in memory) or `JournalStream` (a block at a time)."""

    path: Path
    header: dict[str, Any]
    warnings: list[str]

    @property
    def damaged(self) -> bool: ...

    def iter_events(self) -> Iterator[Event]: ...

    def iter_batches(self) -> Iterator[Batch]: ...


# Events at whose time a fault window may open or close: the series fold cuts its chunks there, so that every
# window is a run of whole chunks (report/series.py).
WINDOW_EDGES = frozenset({"fault-injecting", "fault-injected", "fault-reverted", "fault-revert-failed",
                          "step-completed"})


def _as_sets(conds: tuple[list[Condition], list[Condition]]) -> tuple[frozenset[Condition], frozenset[Condition]]:
    return frozenset(conds[0]), frozenset(conds[1])


def parse_source(text: Any) -> dict[str, Any]:
    """The scenario YAML recorded in the header; {} when absent or unreadable (the report then relies on events).

    Read with the scenario loader's limits (size, aliases, nesting): a journal's header is not trusted to be
    the scenario a session wrote, and a hostile one must not make `report` or `history` hang or raise.
    """
    from controlroom.errors import ScenarioError
    from controlroom.scenario.fields import plain
    from controlroom.scenario.loader import parse_document

    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        tree, _ = parse_document(text, "<journal header>")
        doc = plain(tree)
    except (ScenarioError, yaml.YAMLError, RecursionError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def observed_window(source: dict[str, Any]) -> float:
    """The steady-state window the engine judged `observed` figures with (10 s unless the scenario said)."""
    try:
        return parse_duration(section(source, "steady_state").get("window", "10s"))
    except UnitError:
        return 10.0


def section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """doc[key] when it is a mapping, else {}: the header's scenario text is read, not trusted to be valid."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


@contextmanager
def collections_rarely(young: int = 100_000) -> Iterator[None]:
    """The cyclic garbage collector run every `young` new objects instead of every 700, for the pass.

    A pass makes a few dicts per journal line that live for a block of lines and die by reference count; with
    the default threshold the collector walks every one of them, and the samples the folds hold, again and
    again — a third of the report's time on a million events, to find no cycle. Raised, not disabled: a
    hostile journal whose every line is refused does make cycles (an exception and its frame), and they are
    still collected, so memory stays bounded. The threshold is restored after the pass.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(young, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def rnd(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


class Fold(EventHandler[None]):
    """The one pass over a journal's events: what the report needs of each, kept as plain data for derive."""

    def __init__(self, journal: JournalLike) -> None:
        self.j = journal
        self.header = journal.header
        self.source = parse_source(journal.header.get("scenario_text") or journal.header.get("source_text"))
        # Each step's before/during/after/peak by the engine's own rules, for steps the journal has no `observed`
        # event of (an older or crashed session); bounded memory (it keeps samples of open steps only).
        self.observed_fold = ObservedFold(observed_window(self.source))
        self.started: Mapping[str, Any] = {}
        self.ended: Mapping[str, Any] | None = None
        self.ended_t: str | None = None
        self.first_t: str | None = None
        self.last_t: str | None = None
        self.last_mono = 0.0
        self.steps: dict[str, dict[str, Any]] = {}
        self.step_order: list[str] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self.series = SeriesFold()  # replaced in `run`, once the conditions are known
        self.preflight: list[dict[str, Any]] = []
        self.preflight_count = 0
        self.steady: list[dict[str, Any]] = []
        self.breaches: list[dict[str, Any]] = []
        self.rollbacks: list[dict[str, Any]] = []
        self.stops: list[dict[str, Any]] = []
        self.telemetry: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.recoveries: list[dict[str, Any]] = []
        self.observed: dict[str, dict[str, Any]] = {}
        self.unconfirmed: set[str] = set()
        self.timeline: list[dict[str, Any]] = []
        self.last_trigger: dict[str, Any] | None = None
        self.engine_criteria: list[Mapping[str, Any]] | None = None
        self.judged: dict[str, Mapping[str, Any]] = {}  # statement -> criterion-judged payload (met, by)
        self.phases: list[dict[str, Any]] = []  # phase-validated payloads

    # ---- the one pass -------------------------------------------------------------------------------------

    def run(self) -> None:
        with collections_rarely():
            self._run()

    def _run(self) -> None:
        """The pass: every event once, in journal order. Samples come in runs (`journal.reader.Samples`) and go
        to `series` (aggregates per chunk, cut at every event that can be a fault window's edge) and to the
        observed fold, a run per call; everything else to its `on_<type>` method."""
        handlers = self.handlers
        sf: SeriesFold | None = None
        last: Batch | None = None
        observed = self.observed_fold
        observed_types = observed.handlers
        for last in self.j.iter_batches():
            if isinstance(last, Samples):
                if sf is None:
                    sf = self.series = SeriesFold(*self.conditions())
                cols = last.columns
                if cols is not None:  # from the parallel reader: every sample has these series
                    sf.add_many(last.monos, (), last.errors, columns=cols)
                    observed.sample_many(last.monos, (), columns=cols)
                    continue
                names = set().union(*last.values)  # the run's series: one pass for both folds
                sf.add_many(last.monos, last.values, last.errors, names)
                observed.sample_many(last.monos, last.values, names)
                continue
            ev = last
            typ = ev.type
            if typ in observed_types:
                observed.feed(ev)
            if self.first_t is None:
                self.first_t = ev.t
            if typ in WINDOW_EDGES and sf is not None:
                sf.cut(ev.mono)
                sf.cut(rnd(ev.mono) or 0.0)  # step ends are kept rounded: the window ends there
            handler = handlers.get(typ)
            if handler is not None:
                handler(self, ev, ev.data)
        if last is not None:
            t, mono = (last.last_t, last.monos[-1]) if isinstance(last, Samples) else (last.t, last.mono)
            if self.first_t is None:
                self.first_t = t
            self.last_t = t
            self.last_mono = max(0.0, mono)
        if sf is None:
            self.series = SeriesFold(*self.conditions())
        self.series.finish(self.last_mono)
        if self.series.conditions != _as_sets(self.conditions()):
            self.refold()

    def refold(self) -> None:
        """Samples again, with the conditions as the whole journal gave them (a breach of a condition the
        scenario did not list, or a session-started after the first sample): a second pass, rare."""
        sf = SeriesFold(*self.conditions())
        for item in self.j.iter_batches():
            if isinstance(item, Samples):
                sf.add_many(item.monos, item.values, item.errors, columns=item.columns)
            elif item.type in WINDOW_EDGES:
                sf.cut(item.mono)
                sf.cut(rnd(item.mono) or 0.0)
        sf.finish(self.last_mono)
        self.series = sf

    def conditions(self) -> tuple[list[Condition], list[Condition]]:
        """(stop conditions, steady-state requirements) as known so far: session-started's, else the header
        scenario's; stop conditions also those a breach named."""
        stop = self._conditions("stop_when", lambda doc: section(doc, "stop_when").get("conditions"))
        stop += [c for c in (parse_condition(b["condition"]) for b in self.breaches) if c and c not in stop]
        steady = self._conditions("steady", lambda doc: section(doc, "steady_state").get("require"))
        return stop, steady

    def _conditions(self, key: str, from_source: Any) -> list[Condition]:
        raw = self.started.get(key)
        if raw is None:
            raw = from_source(self.source)
        out: list[Condition] = []
        for text in raw if isinstance(raw, list) else []:
            c = parse_condition(str(text))
            if c is not None and c not in out:
                out.append(c)
        return out

    def _mark(self, mono: float, kind: str, label: str) -> None:
        self.timeline.append({"mono": rnd(mono), "kind": kind, "label": label})

    def on_session_started(self, ev: Event, d: SessionStarted) -> None:
        self.started = d

    def on_preflight_check(self, ev: Event, d: PreflightCheck) -> None:
        if d.get("ok") is None:  # "running": the check's answer follows in its own event
            return
        self.preflight_count += 1
        if not d.get("ok", True):
            self.preflight.append({"check": str(d.get("check", "")), "target": d.get("target"),
                                   "detail": str(d.get("detail", ""))})

    def on_steady_state(self, ev: Event, d: SteadyState) -> None:
        self.steady.append({"when": str(d.get("when", "")), "ok": bool(d.get("ok")), "mono": rnd(ev.mono),
                            "failed": [str(x) for x in d.get("failed") or []]})

    def _step(self, sid: Any) -> dict[str, Any]:
        sid = str(sid)
        st = self.steps.get(sid)
        if st is None:
            st = self.steps[sid] = {"id": sid, "title": "", "briefed_at": None, "decision": None,
                                    "completed_at": None, "outcome": None, "planned_targets": [],
                                    "skipped_faults": []}
            self.step_order.append(sid)
        return st

    def on_step_briefed(self, ev: Event, d: StepBriefed) -> None:
        st = self._step(d.get("step"))
        st["title"] = str(d.get("title") or "")
        st["expect"] = str(d.get("expect") or "")
        st["briefed_at"] = rnd(ev.mono)
        st["planned_targets"] = sorted({str(f.get("target")) for f in d.get("faults") or [] if isinstance(f, dict)})
        st["skipped_faults"] = [str(x) for x in d.get("skipped_faults") or []]

    def on_step_confirmed(self, ev: Event, d: StepConfirmed) -> None:
        self._step(d.get("step"))["decision"] = d.get("decision")

    def on_step_completed(self, ev: Event, d: StepCompleted) -> None:
        st = self._step(d.get("step"))
        st["completed_at"] = rnd(ev.mono)
        st["outcome"] = d.get("outcome")

    def _fault(self, d: Mapping[str, Any]) -> Fault:
        key = (str(d.get("fault")), str(d.get("target")))
        f = self.faults.get(key)
        if f is None:
            step = d.get("step")
            f = self.faults[key] = Fault(fault=key[0], target=key[1], step=None if step is None else str(step))
        return f

    def on_fault_injecting(self, ev: Event, d: FaultInjecting) -> None:
        f = self._fault(d)
        spec: Mapping[str, Any] = d["spec"] if isinstance(d.get("spec"), dict) else {}
        f.type = d.get("fault_type") or spec.get("type")
        f.summary = str(d.get("summary") or "")
        f.injecting_at = ev.mono
        if f.step is None and d.get("step") is not None:
            f.step = str(d.get("step"))

    def on_fault_selected(self, ev: Event, d: FaultSelected) -> None:
        self._fault(d).pods = [f"{p.get('namespace')}/{p.get('name')}" for p in d.get("pods") or []
                               if isinstance(p, dict)]

    def on_fault_injected(self, ev: Event, d: FaultInjected) -> None:
        self._fault(d).injected_at = ev.mono

    def on_fault_failed(self, ev: Event, d: FaultFailed) -> None:
        f = self._fault(d)
        f.failed_at = ev.mono
        f.error = str(d.get("error") or "")
        self._mark(ev.mono, "fault-failed", f"{f.fault} on {f.target} failed: {f.error}")
        self.last_trigger = {"kind": "fault-failed", "detail": f.error}

    def on_fault_inject_stopped(self, ev: Event, d: FaultInjectStopped) -> None:
        f = self._fault(d)
        self._mark(ev.mono, "inject-stopped", f"injection of {f.fault} on {f.target} stopped: {d.get('how')}")

    def on_fault_reverted(self, ev: Event, d: FaultReverted) -> None:
        f = self._fault(d)
        f.reverted_at = ev.mono
        f.verified = bool(d.get("verified", False))
        recovered = d.get("recovered_s")
        if isinstance(recovered, (int, float)) and not isinstance(recovered, bool):
            f.recovered_s = float(recovered)
        if not f.verified:
            self.unconfirmed.add(f.target)

    def on_fault_revert_failed(self, ev: Event, d: FaultRevertFailed) -> None:
        f = self._fault(d)
        f.reverted_at = ev.mono
        f.verified = False
        f.revert_error = str(d.get("error") or "")
        self.unconfirmed.add(f.target)
        self._mark(ev.mono, "revert-failed", f"revert of {f.fault} on {f.target} failed: {f.revert_error}")

    def on_telemetry_lost(self, ev: Event, d: TelemetryLost) -> None:
        self.telemetry.append({"source": str(d.get("source", "")), "policy": d.get("policy"),
                               "detail": str(d.get("detail", "")), "lost_at": rnd(ev.mono), "restored_at": None})
        self._mark(ev.mono, "telemetry-lost", f"telemetry lost: {d.get('source')}")
        self.last_trigger = {"kind": "telemetry", "detail": str(d.get("source", ""))}

    def on_telemetry_restored(self, ev: Event, d: TelemetryRestored) -> None:
        for item in reversed(self.telemetry):
            if item["source"] == str(d.get("source", "")) and item["restored_at"] is None:
                item["restored_at"] = rnd(ev.mono)
                break

    def on_condition_breached(self, ev: Event, d: ConditionBreached) -> None:
        value = d.get("value")
        self.breaches.append({"condition": str(d.get("condition", "")), "value": value, "mono": rnd(ev.mono),
                              "held_s": d.get("held_s")})
        self._mark(ev.mono, "breach", f"{d.get('condition')} (value {value})")
        self.last_trigger = {"kind": "stop-condition", "detail": str(d.get("condition", ""))}

    def on_emergency_stop(self, ev: Event, d: EmergencyStop) -> None:
        self.stops.append({"source": str(d.get("source", "")), "reason": str(d.get("reason", "")), "mono": rnd(ev.mono),
                           "by": d.get("by")})
        by = f" by {d['by']}" if d.get("by") else ""
        self._mark(ev.mono, "emergency-stop", f"emergency stop ({d.get('source')}{by})")
        self.last_trigger = {"kind": str(d.get("source", "")), "detail": str(d.get("reason", ""))}

    def on_rollback_started(self, ev: Event, d: RollbackStarted) -> None:
        trigger = self.last_trigger or {"kind": "unknown", "detail": ""}
        self.rollbacks.append({"reason": str(d.get("reason", "")), "started_at": rnd(ev.mono), "finished_at": None,
                               "clean": None, "unconfirmed": [], "trigger": trigger["kind"],
                               "faults": [str(x) for x in d.get("faults") or []],
                               "automatic": automatic(trigger["kind"])})
        self._mark(ev.mono, "rollback", f"rollback: {d.get('reason')}")

    def on_rollback_finished(self, ev: Event, d: RollbackFinished) -> None:
        unconfirmed = [str(x) for x in d.get("unconfirmed") or []]
        self.unconfirmed.update(unconfirmed)
        if self.rollbacks and self.rollbacks[-1]["finished_at"] is None:
            self.rollbacks[-1].update(finished_at=rnd(ev.mono), clean=bool(d.get("clean")), unconfirmed=unconfirmed)
        self._mark(ev.mono, "rollback-finished", "rollback finished" + ("" if d.get("clean") else " (unconfirmed)"))

    def on_recovery_measured(self, ev: Event, d: RecoveryMeasured) -> None:
        self.recoveries.append({"step": str(d.get("step")), "seconds": d.get("seconds"), "held": bool(d.get("held")),
                                "criterion_s": d.get("criterion_s"), "source": "engine",
                                "detail": str(d.get("detail") or ""), "after_stop": bool(d.get("after_stop"))})

    def on_observed(self, ev: Event, d: Observed) -> None:
        self.observed[str(d.get("step"))] = d.get("series") or {}

    def on_success_criteria(self, ev: Event, d: SuccessCriteria) -> None:
        self.engine_criteria = [r for r in d.get("results") or [] if isinstance(r, dict)]

    def on_criterion_judged(self, ev: Event, d: CriterionJudged) -> None:
        self.judged[str(d.get("criterion"))] = d

    def on_phase_validated(self, ev: Event, d: PhaseValidated) -> None:
        self.phases.append({"phase": str(d.get("phase")), "ok": bool(d.get("ok")), "mono": rnd(ev.mono),
                            "results": [r for r in d.get("results") or [] if isinstance(r, dict)]})
        if not d.get("ok"):
            self._mark(ev.mono, "phase-failed", f"phase {d.get('phase')}: validation failed")

    def on_fault_lost(self, ev: Event, d: FaultLost) -> None:
        f = self._fault(d)
        f.lost = str(d.get("detail") or "gone before its revert")
        self._mark(ev.mono, "fault-lost", f"{f.fault} on {f.target} was gone before its revert")

    def on_note(self, ev: Event, d: Note) -> None:
        self.notes.append({"t": ev.t, "mono": rnd(ev.mono), "author": str(d.get("author") or ""), "text": str(d.get("text", ""))})
        self._mark(ev.mono, "note", str(d.get("text", ""))[:80])

    def on_warning(self, ev: Event, d: Warning_) -> None:
        self.warnings.append({"mono": rnd(ev.mono), "message": str(d.get("message", ""))})

    def on_session_ended(self, ev: Event, d: SessionEnded) -> None:
        self.ended = d
        self.ended_t = ev.t
        self.unconfirmed.update(str(x) for x in d.get("unconfirmed") or [])
