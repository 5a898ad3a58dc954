"""The room's view state: a pure fold of journal events into everything the panes show.

Live sessions, `controlroom watch` and replay all feed events through the same
`apply(state, event)`; the panes only ever read a `RoomState`. No UI imports
here (a test enforces it), so replay and report can reuse the fold.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from controlroom.formats import FleetTally, format_clock
from controlroom.journal.events import (
    ChecklistItem,
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
    HookDelivered,
    HookDropped,
    HookFailed,
    LeashExpired,
    MetricBackfill,
    MetricSample,
    Note,
    PhaseValidated,
    PreflightCheck,
    RecoveryMeasured,
    RollbackFinished,
    RollbackStarted,
    SessionEnded,
    SessionStarted,
    StateChanged,
    SteadyState,
    StepArmed,
    StepBriefed,
    StepCompleted,
    StepConfirmed,
    StopKind,
    TelemetryLost,
    TelemetryRestored,
    Warning_,
)
from controlroom.journal.handler import EventHandler
from controlroom.metrics.conditions import Condition, parse_condition
from controlroom.preflight_progress import ConnectCounts, ConnectTally

SPARK_POINTS = 240  # samples kept per series: bounded, so an hour-long session costs the same as a minute
LOG_LINES = 500
MARKERS = 2000
# A step that needs no confirmation is replaced on the step card at once: its brief stays on the card,
# under the next step, for this long (session seconds), so the room can read it.
BRIEF_HOLD = 8.0

# How a log line matters, decided from its event's type and payload (never by searching the line's words):
# the event log colours by it, so a note that says "nothing FAILED" stays a note.
LogLevel = Literal["info", "note", "rollback", "warning", "error"]
TargetState = Literal["clean", "armed", "faulted", "reverting", "unconfirmed", "unreachable"]
SeriesStatus = Literal["ok", "near", "warn", "breach", "unknown"]
# States in which something may be injected on a target: quitting must ask first.
ACTIVE_TARGET_STATES: frozenset[str] = frozenset({"faulted", "reverting"})
# "Near" a threshold: within this share of the threshold (a latency 5 % under its limit) ...
NEAR_FRACTION = 0.05
# ... or, for a ratio threshold between 0 and 1, within this share of the room left to the good end
# (success_rate >= 0.99 is near below 0.9925): 5 % of 0.99 would call every healthy sample near.
NEAR_RATIO_ROOM = 0.25
# Parts of a series name that say its unit, not what it measures: `p99_ms` is about "p99".
_UNIT_PARTS = frozenset({"ms", "s", "rate", "total", "bytes", "seconds", "count"})


def near_threshold(cond: Condition, value: float, kind: Literal["stop", "steady"]) -> bool:
    """True when `value` is on the good side of `cond` but close to crossing it.

    A stop condition is bad when it holds; a steady-state requirement is bad when it does not.
    Equality conditions have no "near".
    """
    if cond.op not in ("<", "<=", ">", ">="):
        return False
    t = cond.threshold
    bad_below = (kind == "stop") == (cond.op in ("<", "<="))
    room = value - t if bad_below else t - value  # how far on the good side; negative: already crossed
    if room < 0 or (room == 0 and kind == "steady" and cond.holds(value) is False):
        return False
    if 0 < t < 1:
        margin = NEAR_RATIO_ROOM * ((1 - t) if bad_below else t)
    else:
        margin = NEAR_FRACTION * abs(t)
    return room <= margin


def name_tokens(series: str) -> frozenset[str]:
    """What a series name is about, without its unit: `download.p99_ms` -> {download, p99}."""
    return frozenset(p for p in re.split(r"[._\-]+", series.lower()) if p and p not in _UNIT_PARTS)


def named_in(text: str, series: str) -> bool:
    """Whether a sentence (a step's expect line) is about this series: its full name, or every part of it."""
    low = text.lower()
    if not low:
        return False
    if re.search(rf"(?<![\w.]){re.escape(series.lower())}(?![\w])", low):
        return True
    tokens = name_tokens(series)
    # Every part in one clause: "download p99 rises; the front page stays fast" is about download.p99_ms,
    # not about front.p99_ms.
    return bool(tokens) and any(tokens <= set(re.findall(r"[a-z0-9]+", clause))
                                for clause in re.split(r"[;,]|\.(?:\s|$)", low))


@dataclass
class SeriesView:
    name: str
    values: deque[float | None] = field(default_factory=lambda: deque(maxlen=SPARK_POINTS))
    current: float | None = None
    error: str | None = None
    stop: list[Condition] = field(default_factory=list)  # stop_when conditions on this series
    steady: list[Condition] = field(default_factory=list)  # steady-state requirements on this series
    breached: bool = False  # a stop condition was reported breached and has not cleared since
    # The status of the current value, worked out once per value: a pane with 500 series asks several times a paint.
    _memo: tuple[object, SeriesStatus] | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> SeriesStatus:
        """breach: a stop condition is true now; warn: a steady-state requirement fails;
        near: close to one of its thresholds; ok otherwise."""
        key = (self.current, len(self.stop), len(self.steady))
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        status = self._status()
        self._memo = (key, status)
        return status

    def _status(self) -> SeriesStatus:
        if self.current is None:
            return "unknown"
        if any(c.holds(self.current) for c in self.stop):
            return "breach"
        if any(c.holds(self.current) is False for c in self.steady):
            return "warn"
        if any(near_threshold(c, self.current, "stop") for c in self.stop) or \
                any(near_threshold(c, self.current, "steady") for c in self.steady):
            return "near"
        return "ok"

    @property
    def alerting(self) -> bool:
        """Breaching, failing its steady state, or close to a threshold: never the series a pane hides."""
        return self.breached or self.status in ("breach", "warn", "near")


@dataclass
class TargetView:
    name: str
    kind: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # from `session-started`: the room groups and filters by them
    state: TargetState = "clean"
    active: dict[str, float] = field(default_factory=dict)  # fault id -> mono when injection began
    detail: str = ""  # why it is unreachable / unconfirmed
    unconfirmed: set[str] = field(default_factory=set)  # fault ids whose revert could not be confirmed (yet)
    faulted_ever: bool = False  # a fault was sent here during the session
    # Kubernetes: "namespace/name" -> selected | injected | recovered | unconfirmed, from `fault-selected` on
    pods: dict[str, str] = field(default_factory=dict)
    pod_faults: dict[str, set[str]] = field(default_factory=dict)  # fault id -> its pods ("namespace/name")
    verified: bool = False  # every fault sent here was reverted and the revert verified by the engine

    @property
    def since(self) -> float | None:
        return min(self.active.values()) if self.active else None


@dataclass
class FaultWindow:
    target: str
    fault: str
    type: str
    start: float
    end: float | None = None
    failed: bool = False
    summary: str = ""
    group: str = ""  # `step/index`: the one fault of a step sent to many targets (the timeline draws one row)


@dataclass(frozen=True)
class Marker:
    mono: float
    kind: Literal["breach", "rollback", "note"]
    label: str
    target: str | None = None

    @property
    def glyph(self) -> str:
        return {"breach": "⚠", "rollback": "⟲", "note": "✎"}[self.kind]


@dataclass
class StepView:
    id: str
    index: int
    title: str
    brief: str = ""
    expect: str = ""
    duration: float | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    gate_pending: bool = False
    decision: str | None = None
    injected_at: float | None = None  # mono of the first fault-injected: the countdown starts here
    outcome: str | None = None
    briefed_at: float = 0.0
    armed: bool = False  # a gate was opened for it (the facilitator had the brief in front of them)


@dataclass
class PreflightItem:
    check: str
    target: str | None
    ok: bool | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the event log: when (session seconds), what, and how much it matters."""

    at: float
    text: str
    level: LogLevel = "info"

    @property
    def line(self) -> str:
        return f"{format_clock(self.at)}  {self.text}"


@dataclass
class RollbackView:
    reason: str
    started: float
    targets: dict[str, str] = field(default_factory=dict)  # target -> pending | clean | unconfirmed
    finished: bool = False
    unconfirmed: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.finished:
            done = sum(1 for s in self.targets.values() if s != "pending")
            return f"reverting… {done}/{len(self.targets)} targets confirmed"
        if not self.unconfirmed:
            return "all clean"
        return f"{len(self.unconfirmed)} unconfirmed: {', '.join(self.unconfirmed)}"


@dataclass
class RoomState(EventHandler[None]):
    scenario: str = ""
    hypothesis: str = ""
    environment: str = ""
    session: str = ""
    state: str = "waiting"
    now: float = 0.0  # session clock, seconds: from event `mono`, or a live clock when one is given
    steps_total: int = 0
    steps_done: int = 0
    step: StepView | None = None
    passed: StepView | None = None  # the step before, when it went by without a gate: its brief is held a while
    series: dict[str, SeriesView] = field(default_factory=dict)
    targets: dict[str, TargetView] = field(default_factory=dict)
    max_targets: int | None = None
    max_duration: float | None = None
    stop_conditions: list[Condition] = field(default_factory=list)
    steady_conditions: list[Condition] = field(default_factory=list)
    windows: list[FaultWindow] = field(default_factory=list)
    markers: deque[Marker] = field(default_factory=lambda: deque(maxlen=MARKERS))
    log: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    # A fleet step's injection and revert: one running log line each instead of a line per host.
    inject_tally: FleetTally = field(default_factory=FleetTally.injection)
    revert_tally: FleetTally = field(default_factory=FleetTally.rollback)
    tally_entry: LogEntry | None = None  # the running line a tally last wrote
    preflight: dict[tuple[str, str | None], PreflightItem] = field(default_factory=dict)
    connect: ConnectTally = field(default_factory=ConnectTally)  # targets connected / pending / failed in pre-flight
    checklist: dict[str, bool] = field(default_factory=dict)
    checklist_gate: bool = False  # the engine waits for the facilitator to confirm the human checklist
    checklist_decision: str | None = None
    steady: dict[str, Any] | None = None  # the last steady-state verdict: when, ok, failed
    telemetry_lost: set[str] = field(default_factory=set)
    telemetry_detail: dict[str, str] = field(default_factory=dict)  # lost source -> why, as the engine said
    source_errors: dict[str, str] = field(default_factory=dict)  # a metrics source's error on the last sample
    last_sample: float | None = None  # mono of the last metric-sample: when the current values were taken
    notes: int = 0
    recoveries: list[dict[str, Any]] = field(default_factory=list)  # step, seconds (None: not recovered), criterion
    rollback: RollbackView | None = None
    estop_source: str | None = None
    stop_reason: str = ""
    stop_by: str = ""  # who pressed the e-stop, when a person did
    statements: list[str] = field(default_factory=list)  # success criteria a person judges at the end
    judged: dict[str, tuple[bool | None, str]] = field(default_factory=dict)  # statement -> (met, by)
    paged: list[str] = field(default_factory=list)  # hooks that paged on an unconfirmed rollback (docs/hooks.md)
    page_failed: list[str] = field(default_factory=list)  # paging hooks whose last try failed or was dropped
    ended: bool = False
    outcome: str | None = None
    exit_code: int | None = None
    message: str = ""
    events_seen: int = 0

    # ---- derived figures the panes show -----------------------------------------------------------------

    @property
    def clock(self) -> str:
        return format_clock(self.now)

    @property
    def faulted_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.active or t.state in ACTIVE_TARGET_STATES]

    @property
    def countdown(self) -> float | None:
        """Seconds left in the current step's fault window, once injected."""
        st = self.step
        if st is None or st.duration is None or st.injected_at is None or st.outcome is not None:
            return None
        return max(0.0, st.duration - (self.now - st.injected_at))

    @property
    def time_left(self) -> float | None:
        """Seconds before the oldest active fault reaches max_duration."""
        starts = [t.since for t in self.targets.values() if t.since is not None]
        if not starts or self.max_duration is None:
            return None
        return max(0.0, self.max_duration - (self.now - min(starts)))

    @property
    def stop_banner(self) -> str:
        """What the room calls the stop: EMERGENCY STOP only for the key, `controlroom stop` and signals; a stop
        by the scenario's rules is an AUTOMATIC ROLLBACK, with its cause. Empty when nothing stopped."""
        if self.estop_source is None:
            return ""
        try:
            kind: StopKind | None = StopKind(self.estop_source)
        except ValueError:
            kind = None
        if kind is not None and kind.emergency:
            return "EMERGENCY STOP"
        if kind is StopKind.STOP_CONDITION:
            cause = self.stop_reason.removeprefix("stop condition ").strip()
            return f"AUTOMATIC ROLLBACK (stop condition {cause})" if cause else "AUTOMATIC ROLLBACK (stop condition)"
        if kind is not None and kind.manual:
            return "ABORTED"
        label = {StopKind.TELEMETRY: "lost telemetry", StopKind.LEASH: "a leash fired",
                 StopKind.TARGET_LOST: "a target was lost", StopKind.JOURNAL: "the journal cannot be written",
                 StopKind.CRASH: "internal error"}.get(kind, self.estop_source) if kind is not None else self.estop_source
        return f"AUTOMATIC ROLLBACK ({label})"

    @property
    def steady_verdict(self) -> str:
        """The last steady-state check the engine journaled, with when it was made (never shown as 'now')."""
        if self.steady is None:
            return "steady state: not measured yet"
        when = self.steady.get("when", "")
        at = self.steady.get("at")
        stamp = f" at {format_clock(at)}" if isinstance(at, (int, float)) else ""
        if self.steady.get("ok"):
            return f"steady state held ({when}{stamp})"
        failed = ", ".join(str(f) for f in self.steady.get("failed") or []) or "?"
        return f"steady state FAILED ({when}{stamp}): {failed}"

    def judge_now(self, conditions: list[Condition], bad_when: bool) -> tuple[list[tuple[Condition, float]], list[str]]:
        """Conditions judged on the current values: (those in the bad state with their value, series with no value).

        `bad_when` is what `holds` returns in the bad state: True for stop conditions, False for steady state.
        """
        bad: list[tuple[Condition, float]] = []
        unknown: list[str] = []
        for c in conditions:
            sv = self.series.get(c.series)
            value = sv.current if sv is not None else None
            if value is None:
                unknown.append(c.series)
            elif c.holds(value) is bad_when:
                bad.append((c, value))
        return bad, unknown

    def expected_series(self) -> list[str]:
        """The series the current step's expect line is about, in declared order."""
        expect = self.step.expect if self.step is not None else ""
        return [name for name in self.series if named_in(expect, name)] if expect else []

    def series_order(self) -> tuple[list[SeriesView], list[SeriesView]]:
        """(pinned, rest): the series a pane must show, then the others in declared order.

        Pinned, in this order: what the current step expects, what a stop condition watches, what the steady
        state requires, then any other series that breaches or is near a threshold.
        """
        pinned: dict[str, SeriesView] = {}
        for name in self.expected_series():
            pinned[name] = self.series[name]
        for group in (self.stop_conditions, self.steady_conditions):
            for c in group:
                if c.series in self.series:
                    pinned.setdefault(c.series, self.series[c.series])
        for name, sv in self.series.items():
            if sv.alerting:
                pinned.setdefault(name, sv)
        rest = [sv for name, sv in self.series.items() if name not in pinned]
        return list(pinned.values()), rest

    @property
    def verified_clean(self) -> list[str]:
        """Targets that had faults, all reverted and verified by the engine."""
        return [t.name for t in self.targets.values() if t.faulted_ever and t.verified and t.state == "clean"]

    @property
    def not_confirmed(self) -> list[str]:
        """Targets a fault may still be on: unconfirmed reverts, or faults never reverted."""
        return [t.name for t in self.targets.values() if t.state == "unconfirmed" or t.active]

    @property
    def held_brief(self) -> StepView | None:
        """The step that went by without a gate moments ago, while its brief is still held on the card."""
        p = self.passed
        if p is None or not p.brief or self.now - p.briefed_at > BRIEF_HOLD:
            return None
        return p

    def active_gate(self) -> bool:
        return bool(self.step and self.step.gate_pending and not self.ended)

    def judging(self) -> bool:
        """The engine waits for the facilitator to judge the scenario's statements."""
        return self.state == "judging" and not self.ended and bool(self.statements)

    def recovering_after_stop(self) -> bool:
        """After a stop the room watches recovery; the facilitator may end that watch early."""
        return self.state == "recovering" and self.estop_source is not None and not self.ended

    def connections(self) -> ConnectCounts:
        """Pre-flight: targets connected, still connecting, failed (`preflight_progress`)."""
        return self.connect.counts()

    def checklist_pending(self) -> bool:
        """The checklist gate is open: nothing is injected until the facilitator confirms it."""
        return self.checklist_gate and not self.ended

    @property
    def checklist_done(self) -> bool:
        return all(self.checklist.values())

    # ---- the fold: one method per event type (`apply` calls them through `dispatch`) ---------------------

    def on_session_started(self, ev: Event, d: SessionStarted) -> None:
        self.scenario = str(d.get("scenario", self.scenario))
        self.hypothesis = str(d.get("hypothesis", self.hypothesis))
        self.environment = str(d.get("environment", self.environment))
        self.session = str(d.get("session", self.session))
        limits = d.get("limits") or {}
        self.max_targets = limits.get("max_targets", self.max_targets)
        self.max_duration = limits.get("max_duration", self.max_duration)
        self.stop_conditions = _parse_all(d.get("stop_when") or [])
        self.steady_conditions = _parse_all(d.get("steady") or [])
        steps = d.get("steps") or []
        self.steps_total = len(steps)
        for item in d.get("checklist") or []:
            self.checklist.setdefault(str(item), False)
        self.statements = [str(x) for x in d.get("statements") or []]
        for tgt in d.get("targets") or []:
            name = tgt.get("name") if isinstance(tgt, dict) else str(tgt)
            if name:
                tv = _target(self, str(name))
                tv.kind = str(tgt.get("kind", "")) if isinstance(tgt, dict) else ""
                labels = tgt.get("labels") if isinstance(tgt, dict) else None
                tv.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        for name in d.get("series") or []:
            _series(self, str(name))
        _log(self, ev, f"session {self.session} started: {self.scenario} in {self.environment}")

    def on_state_changed(self, ev: Event, d: StateChanged) -> None:
        self.state = str(d.get("state", self.state))
        # Awaiting confirmation before any step is briefed can only be the checklist gate.
        if self.state == "awaiting-confirmation" and self.step is None and self.checklist_decision is None:
            self.checklist_gate = True

    def on_preflight_check(self, ev: Event, d: PreflightCheck) -> None:
        target = d.get("target")
        key = (str(d.get("check", "?")), None if target is None else str(target))
        ok = d.get("ok")
        self.preflight[key] = PreflightItem(key[0], key[1], None if ok is None else bool(ok), str(d.get("detail") or ""))
        self.connect.feed(key[0], key[1], None if ok is None else bool(ok))
        if target is not None and ok is False and ("reach" in key[0] or "connect" in key[0]):
            tv = _target(self, key[1] or "")
            tv.state = "unreachable"
            tv.detail = str(d.get("detail") or "")
        if ok is not None:
            where = f" on {target}" if target else ""
            _log(self, ev, f"pre-flight {key[0]}{where}: {'ok' if ok else 'FAILED'} {d.get('detail') or ''}".rstrip())

    def on_checklist_item(self, ev: Event, d: ChecklistItem) -> None:
        self.checklist[str(d.get("item"))] = bool(d.get("ticked", True))
        _log(self, ev, f"checklist {'✓' if d.get('ticked', True) else '✗'} {d.get('item')}")

    def on_steady_state(self, ev: Event, d: SteadyState) -> None:
        self.steady = {"when": d.get("when", ""), "ok": bool(d.get("ok")), "failed": list(d.get("failed") or []),
                       "at": ev.mono}
        _log(self, ev, self.steady_verdict)

    def on_step_briefed(self, ev: Event, d: StepBriefed) -> None:
        self.checklist_gate = False
        prev = self.step
        self.passed = prev if prev is not None and not prev.armed else None
        self.step = step = StepView(
            id=str(d.get("step")), index=int(d.get("index", 0)), title=str(d.get("title", "")),
            brief=str(d.get("brief") or ""), expect=str(d.get("expect") or ""), duration=d.get("duration"),
            faults=[dict(f) for f in d.get("faults") or []], briefed_at=ev.mono,
        )
        # The brief and expectation go to the log in full: a step that needs no confirmation is replaced on the
        # step card within a moment, and a short terminal cuts a long brief; the log keeps both readable.
        self.inject_tally = FleetTally.injection(len(step.faults))
        _log(self, ev, f"step {step.index + 1} briefed: {step.title}" + (f" — {step.brief}" if step.brief else ""))
        if step.expect:
            _log(self, ev, f"  expect: {step.expect}")

    def on_step_armed(self, ev: Event, d: StepArmed) -> None:
        if self.step is not None:
            self.step.gate_pending = True
            self.step.armed = True
            for f in self.step.faults:
                tv = _target(self, str(f.get("target")))
                if tv.state == "clean":
                    tv.state = "armed"
        _log(self, ev, f"step {d.get('step')} armed: waiting for the facilitator")

    def on_step_confirmed(self, ev: Event, d: StepConfirmed) -> None:
        if d.get("gate") == "checklist":
            self.checklist_gate = False
            self.checklist_decision = str(d.get("decision", "confirm"))
            _log(self, ev, f"checklist: {self.checklist_decision} by {d.get('by', 'facilitator')}")
            return
        decision = str(d.get("decision", "confirm"))
        if self.step is not None:
            self.step.gate_pending = False
            self.step.decision = decision
            if decision != "confirm":
                for f in self.step.faults:
                    _settle(_target(self, str(f.get("target"))))
        _log(self, ev, f"step {d.get('step')}: {decision} by {d.get('by', 'facilitator')}")

    def on_fault_injecting(self, ev: Event, d: FaultInjecting) -> None:
        target = str(d.get("target"))
        tv = _target(self, target)
        tv.active[str(d.get("fault"))] = ev.mono
        tv.state = "faulted"
        tv.faulted_ever = True
        tv.verified = False
        # The payload says `fault_type`: a `type` key would collide with the event's own type in the journal line.
        kind = str(d.get("fault_type") or "")
        self.windows.append(FaultWindow(target, str(d.get("fault")), kind, ev.mono, summary=str(d.get("summary") or ""),
                                        group=fault_group(d)))
        if not self.inject_tally.fleet:  # a fleet step's brief said what goes in where: no line per host
            _log(self, ev, f"injecting {kind} on {target}: {d.get('summary') or ''}".rstrip())

    def on_fault_selected(self, ev: Event, d: FaultSelected) -> None:
        tv = _target(self, str(d.get("target")))
        names = {f"{p.get('namespace')}/{p.get('name')}" for p in d.get("pods") or [] if isinstance(p, dict)}
        tv.pod_faults[str(d.get("fault"))] = names
        for name in names:
            tv.pods[name] = "selected"
        _log(self, ev, f"selected {len(names)} pod(s) for {d.get('fault')} on {d.get('target')}")

    def on_fault_injected(self, ev: Event, d: FaultInjected) -> None:
        tv = _target(self, str(d.get("target")))
        for name in tv.pod_faults.get(str(d.get("fault")), ()):
            tv.pods[name] = "injected"
        if self.step is not None and self.step.injected_at is None:
            self.step.injected_at = ev.mono
        if self.inject_tally.fleet:
            _tally_log(self, ev, self.inject_tally, str(d.get("target")))
        else:
            _log(self, ev, f"injected {d.get('fault')} on {d.get('target')}")

    def on_fault_failed(self, ev: Event, d: FaultFailed) -> None:
        for w in reversed(self.windows):
            if w.fault == d.get("fault") and w.target == d.get("target"):
                w.failed = True
                break
        _log(self, ev, f"injection FAILED {d.get('fault')} on {d.get('target')}: {d.get('error')}")
        if self.inject_tally.fleet:
            _tally_log(self, ev, self.inject_tally, None)

    def on_fault_inject_stopped(self, ev: Event, d: FaultInjectStopped) -> None:
        how = str(d.get("how", ""))
        _log(self, ev, f"injection of {d.get('fault')} on {d.get('target')} stopped: {how}"
             + (f" ({d.get('detail')})" if d.get("detail") else ""))

    def on_leash_expired(self, ev: Event, d: LeashExpired) -> None:
        _log(self, ev, f"LEASH EXPIRED {d.get('fault')} on {d.get('target')}: its guard fired while the room ran")

    def on_metric_sample(self, ev: Event, d: MetricSample) -> None:
        values = d.get("values") or {}
        errors = d.get("errors") or {}
        self.last_sample = ev.mono
        # The engine keys a whole source's failure by the source's name ("prometheus"), not by a series:
        # that is no row of its own, and it is gone as soon as a sample comes without it.
        self.source_errors = {str(k): str(v) for k, v in errors.items() if k not in values and k not in self.series}
        for name in set(values) | (set(errors) - set(self.source_errors)):
            sv = _series(self, str(name))
            v = values.get(name)
            num = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
            sv.values.append(num)
            sv.current = num
            sv.error = errors.get(name)
            if sv.breached and sv.status != "breach":
                sv.breached = False

    def on_metric_backfill(self, ev: Event, d: MetricBackfill) -> None:
        # History from before the session (Prometheus range query): the sparklines start full.
        for sample in d.get("samples") or []:
            if not isinstance(sample, (list, tuple)) or len(sample) != 2 or not isinstance(sample[1], dict):
                continue
            for name, v in sample[1].items():
                sv = _series(self, str(name))
                num = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
                sv.values.append(num)
                sv.current = num

    def on_telemetry_lost(self, ev: Event, d: TelemetryLost) -> None:
        self.telemetry_lost.add(str(d.get("source")))
        self.telemetry_detail[str(d.get("source"))] = str(d.get("detail") or "")
        _log(self, ev, f"telemetry LOST from {d.get('source')} ({d.get('policy')}): {d.get('detail') or ''}".rstrip())

    def on_telemetry_restored(self, ev: Event, d: TelemetryRestored) -> None:
        self.telemetry_lost.discard(str(d.get("source")))
        self.telemetry_detail.pop(str(d.get("source")), None)
        self.source_errors.pop(str(d.get("source")), None)
        _log(self, ev, f"telemetry restored from {d.get('source')}")

    def on_condition_breached(self, ev: Event, d: ConditionBreached) -> None:
        cond = str(d.get("condition", "?"))
        self.markers.append(Marker(ev.mono, "breach", cond))
        try:
            _series(self, parse_condition(cond).series).breached = True
        except ValueError:
            pass
        _log(self, ev, f"⚠ BREACH {cond} (value {d.get('value')}, held {d.get('held_s')} s)")

    def on_emergency_stop(self, ev: Event, d: EmergencyStop) -> None:
        self.estop_source = str(d.get("source", "key"))
        self.stop_reason = str(d.get("reason") or "")
        self.stop_by = str(d.get("by") or "")
        by = f" by {self.stop_by}" if self.stop_by else ""
        banner = self.stop_banner
        why = self.stop_reason.removeprefix("stop condition ")
        _log(self, ev, f"{banner}{by}" + ("" if why and why in banner else f": {self.stop_reason or self.estop_source}"))

    def on_rollback_started(self, ev: Event, d: RollbackStarted) -> None:
        faults = [str(f) for f in d.get("faults") or []]
        rb = RollbackView(reason=str(d.get("reason", "")), started=ev.mono)
        for tv in self.targets.values():
            if tv.active and (not faults or set(tv.active) & set(faults)):
                tv.state = "reverting"
                rb.targets[tv.name] = "pending"
        self.rollback = rb
        self.markers.append(Marker(ev.mono, "rollback", rb.reason))
        self.revert_tally = FleetTally.rollback(len(d.get("faults") or []))
        _log(self, ev, f"⟲ rollback started ({rb.reason}): {len(rb.targets)} target(s)")

    def on_fault_reverted(self, ev: Event, d: FaultReverted) -> None:
        target = str(d.get("target"))
        tv = _target(self, target)
        for name in tv.pod_faults.get(str(d.get("fault")), ()):
            tv.pods[name] = "recovered" if d.get("verified", True) is not False else "unconfirmed"
        tv.active.pop(str(d.get("fault")), None)
        _close_window(self, target, str(d.get("fault")), ev.mono)
        verified = d.get("verified", True)
        if verified is False:
            tv.unconfirmed.add(str(d.get("fault")))
            tv.state = "unconfirmed"
            tv.detail = "revert not verified"
        else:
            # A verified revert (also one re-confirmed after an earlier failure) leaves nothing of this fault.
            tv.unconfirmed.discard(str(d.get("fault")))
            if d.get("verified") is True and not tv.active and not tv.unconfirmed:
                tv.verified = True
            _settle(tv)
        if self.rollback is not None and target in self.rollback.targets and not tv.active:
            self.rollback.targets[target] = "clean" if tv.state == "clean" else "unconfirmed"
            if tv.state == "clean" and target in self.rollback.unconfirmed:
                self.rollback.unconfirmed.remove(target)  # re-confirmed after the rollback: a host came back
        counted = self.revert_tally.counts(d)
        if counted:
            _tally_log(self, ev, self.revert_tally, target if verified is not False else None)
        if not counted or verified is False:
            _log(self, ev, f"reverted {d.get('fault')} on {target}{'' if verified is not False else ' (NOT verified)'}")

    def on_fault_revert_failed(self, ev: Event, d: FaultRevertFailed) -> None:
        target = str(d.get("target"))
        tv = _target(self, target)
        for name in tv.pod_faults.get(str(d.get("fault")), ()):
            tv.pods[name] = "unconfirmed"
        tv.unconfirmed.add(str(d.get("fault")))
        tv.verified = False
        tv.state = "unconfirmed"
        tv.detail = str(d.get("error") or "")
        _close_window(self, target, str(d.get("fault")), ev.mono)
        if self.rollback is not None:
            self.rollback.targets[target] = "unconfirmed"
        _log(self, ev, f"revert FAILED {d.get('fault')} on {target}: {d.get('error')}")
        if self.revert_tally.fleet and not self.revert_tally.complete:
            _tally_log(self, ev, self.revert_tally, None)

    def on_rollback_finished(self, ev: Event, d: RollbackFinished) -> None:
        unconfirmed = [str(x) for x in d.get("unconfirmed") or []]
        for name in unconfirmed:
            _mark_unconfirmed(_target(self, name))
        for tv in self.targets.values():
            if tv.name not in unconfirmed and tv.state == "reverting":
                tv.active.clear()
                if d.get("clean") is True:
                    tv.verified = True  # the rollback confirmed every target it does not list
                _settle(tv)
        for w in self.windows:
            if w.end is None and w.target not in unconfirmed:
                w.end = ev.mono
        rb = self.rollback or RollbackView(reason="", started=ev.mono)
        for name in rb.targets:
            rb.targets[name] = "unconfirmed" if name in unconfirmed else "clean"
        rb.finished = True
        rb.unconfirmed = unconfirmed
        self.rollback = rb
        _log(self, ev, f"⟲ rollback finished: {rb.verdict}")

    def on_recovery_measured(self, ev: Event, d: RecoveryMeasured) -> None:
        secs = d.get("seconds")
        self.recoveries.append({"step": str(d.get("step")), "seconds": secs, "criterion": d.get("criterion_s"),
                                "detail": str(d.get("detail") or ""), "after_stop": bool(d.get("after_stop"))})
        after = " (after the stop)" if d.get("after_stop") else ""
        _log(self, ev, f"recovery after {d.get('step')}{after}: "
             + (f"{secs} s" if secs is not None else f"not recovered {d.get('detail') or ''}".rstrip()))

    def on_criterion_judged(self, ev: Event, d: CriterionJudged) -> None:
        met = d.get("met")
        self.judged[str(d.get("criterion"))] = (met, str(d.get("by") or ""))
        verdict = "met" if met else ("NOT met" if met is False else "not judged")
        _log(self, ev, f"criterion {verdict}: {d.get('criterion')} ({d.get('by')})")

    def on_phase_validated(self, ev: Event, d: PhaseValidated) -> None:
        _log(self, ev, f"phase {d.get('phase')}: validation " + ("held" if d.get("ok") else "FAILED: " + "; ".join(
            f"{r.get('criterion')} ({r.get('detail')})" for r in d.get("results") or [] if not r.get("ok"))))

    def on_fault_lost(self, ev: Event, d: FaultLost) -> None:
        _log(self, ev, f"fault {d.get('fault')} on {d.get('target')} was GONE before its revert: {d.get('detail') or ''}")

    def on_note(self, ev: Event, d: Note) -> None:
        text = str(d.get("text", ""))
        self.notes += 1
        self.markers.append(Marker(ev.mono, "note", text))
        _log(self, ev, f"✎ {d.get('author', 'facilitator')}: {text}")

    def on_warning(self, ev: Event, d: Warning_) -> None:
        _log(self, ev, f"warning: {d.get('message')}")

    def on_hook_delivered(self, ev: Event, d: HookDelivered) -> None:
        if d.get("page"):
            self.paged.append(d["hook"])
            _log(self, ev, f"PAGED on-call through hook {d['hook']} (rollback unconfirmed)")

    def on_hook_failed(self, ev: Event, d: HookFailed) -> None:
        if d.get("page") and d.get("final"):
            self.page_failed.append(d["hook"])
        what = "paging" if d.get("page") else "hook"
        last = "gave up" if d.get("final") else f"try {d['attempt']}"
        _log(self, ev, f"{what} {d['hook']} ({d['event']}) failed, {last}: {d['error']}")

    def on_hook_dropped(self, ev: Event, d: HookDropped) -> None:
        if d.get("page"):
            self.page_failed.append(d["hook"])
        _log(self, ev, f"hook {d['hook']} ({d['event']}) dropped: {d['reason']}")

    def on_step_completed(self, ev: Event, d: StepCompleted) -> None:
        if self.step is not None and self.step.id == d.get("step"):
            self.step.outcome = str(d.get("outcome"))
            self.step.gate_pending = False
        self.steps_done += 1
        _log(self, ev, f"step {d.get('step')} completed: {d.get('outcome')}")

    def on_session_ended(self, ev: Event, d: SessionEnded) -> None:
        self.ended = True
        self.outcome = str(d.get("outcome"))
        self.exit_code = d.get("exit_code")
        self.message = str(d.get("message") or "")
        for name in d.get("unconfirmed") or []:
            _mark_unconfirmed(_target(self, str(name)))
        for w in self.windows:
            if w.end is None and self.targets.get(w.target, TargetView("")).state != "unconfirmed":
                w.end = ev.mono
        _log(self, ev, f"session ended: {self.outcome} {self.message}".rstrip())


def fault_group(d: FaultInjecting) -> str:
    """What one fault of a step sent to many targets has in common: `step/index` (the engine's fault id is
    `step/index@target`). An older journal without the index: the fault id less its `@target` suffix."""
    step, index, fault = d.get("step"), d.get("index"), str(d.get("fault"))
    if step is not None and index is not None:
        return f"{step}/{index}"
    return fault.removesuffix(f"@{d.get('target')}")


def format_seconds(seconds: float) -> str:
    s = max(0, math.ceil(seconds))
    return f"{s // 60}:{s % 60:02d}"


def _parse_all(texts: Iterable[Any]) -> list[Condition]:
    out: list[Condition] = []
    for text in texts or ():
        try:
            out.append(parse_condition(text))
        except ValueError:
            continue  # the loader validated them; an odd one in an old journal only loses its colouring
    return out


def _series(state: RoomState, name: str) -> SeriesView:
    sv = state.series.get(name)
    if sv is None:
        sv = SeriesView(
            name,
            stop=[c for c in state.stop_conditions if c.series == name],
            steady=[c for c in state.steady_conditions if c.series == name],
        )
        state.series[name] = sv
    return sv


def _target(state: RoomState, name: str) -> TargetView:
    tv = state.targets.get(name)
    if tv is None:
        tv = state.targets[name] = TargetView(name)
    return tv


def _settle(tv: TargetView) -> None:
    """After a fault leaves a target: clean when nothing is left, unless a revert there is still unconfirmed."""
    if not tv.active and not tv.unconfirmed and tv.state in ("faulted", "reverting", "armed", "unconfirmed"):
        tv.state = "clean"


def _mark_unconfirmed(tv: TargetView) -> None:
    """The engine names this target unconfirmed: it stays so until a verified revert of each of its faults."""
    tv.state = "unconfirmed"
    tv.verified = False
    if not tv.unconfirmed:
        tv.unconfirmed.update(tv.active or {"?"})  # "?": the journal did not say which fault


def _close_window(state: RoomState, target: str, fault: str | None, end: float) -> None:
    for w in reversed(state.windows):
        if w.target == target and w.end is None and (fault is None or w.fault == fault):
            w.end = end
            if fault is not None:
                return


# Events whose every log line has this level; the others are info, or decided by their payload in `log_level`.
_LEVELS: dict[str, LogLevel] = {
    "fault-failed": "error", "fault-revert-failed": "error", "leash-expired": "error", "telemetry-lost": "error",
    "condition-breached": "error", "fault-lost": "warning", "warning": "warning", "note": "note",
    "rollback-started": "rollback",
}


def log_level(ev: Event) -> LogLevel:
    """How much the log line of `ev` matters, from its type and payload."""
    d = ev.data
    t = ev.type
    if t == "preflight-check":
        return "error" if d.get("ok") is False else "info"
    if t == "fault-reverted":
        return "error" if d.get("verified") is False else "info"
    if t == "rollback-finished":
        return "error" if d.get("unconfirmed") else "rollback"
    if t == "recovery-measured":
        return "warning" if d.get("seconds") is None else "info"
    if t == "criterion-judged":
        return "error" if d.get("met") is False else "info"
    if t == "phase-validated":
        return "info" if d.get("ok") else "error"
    if t in ("hook-failed", "hook-dropped"):
        return "error" if d.get("page") else "warning"
    if t == "hook-delivered":
        return "error" if d.get("page") else "info"  # a page is news: something may still be broken
    if t == "emergency-stop":
        try:
            return "error" if StopKind(str(d.get("source", "key"))).emergency else "rollback"
        except ValueError:
            return "rollback"
    return _LEVELS.get(t, "info")


def _log(state: RoomState, ev: Event, text: str) -> None:
    state.log.append(LogEntry(ev.mono, text, log_level(ev)))


def _tally_log(state: RoomState, ev: Event, tally: FleetTally, target: str | None) -> None:
    """Count one settled fault of a fleet; its running line is rewritten while it is the newest in the log,
    and a new one starts below anything logged in between (a failure's own line, a note)."""
    text = tally.settle(target)
    if target is None and not tally.complete:
        return  # the failure's own line says it; the count shows on the next line
    entry = LogEntry(ev.mono, text, "info")
    if state.log and state.tally_entry is not None and state.log[-1] is state.tally_entry:
        state.log[-1] = entry
    else:
        state.log.append(entry)
    state.tally_entry = entry


def apply(state: RoomState, ev: Event) -> None:
    """Fold one journal event into the view state (the `on_<type>` method of RoomState for its type; a type
    without one changes only the clock). Unknown payload keys are ignored; missing ones defaulted."""
    state.events_seen += 1
    state.now = max(state.now, ev.mono)
    # `state.dispatch(ev)`, written out: this is the replay's hot loop (a million events indexed at open).
    method = _FOLD.get(ev.type)
    if method is not None:
        method(state, ev, ev.data)


_FOLD = RoomState.handlers


def tick(state: RoomState, now: float) -> bool:
    """The session clock moved with no event (a live or watched room between events): the fold's one input
    besides events. The clock never runs back, and stops at the end. True when the state changed."""
    if state.ended or now <= state.now:
        return False
    state.now = now
    return True


def fold(events: Iterable[Event], state: RoomState | None = None) -> RoomState:
    """Apply every event in order; the state a replay shows after these events."""
    st = state if state is not None else RoomState()
    for ev in events:
        apply(st, ev)
    return st
