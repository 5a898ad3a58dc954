"""The event vocabulary — every event type, and the payload each one carries — and the Event record a line holds.

A journal line is JSON: {"t": ISO-8601 UTC, "mono": seconds since session start,
"type": one of EVENT_TYPES, ...payload}. This module is the ONE place that says
which payload fields each type has, their JSON types, and which are required:
one TypedDict per event type, joined to its type name in `PAYLOADS`. Every reader
(`read_journal`, `follow`, the replay's lazy parse) checks each line against it
(`controlroom.journal.schema`), so the panes, the report, `recover` and `history`
only ever see events of this shape; docs/journal.md is checked against it by a test.

Field types, as JSON: `str`, `int` (an integer, never a boolean), `float` (a
finite number), `bool`, `None` (null), lists, `dict[str, X]` objects, nested
TypedDicts, Literals, and `Reading`: a metric value, a number or null, where a
non-finite number (NaN, inf) is read as null — "no data". Payload keys not listed
here are kept and ignored by every reader (a newer writer may add some).

No `from __future__ import annotations` here: the validator reads these
annotations at run time, and `NotRequired` must stay visible to TypedDict.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired, TypedDict, get_args

FORMAT = "controlroom-journal"
FORMAT_VERSION = 1

READING = "reading"  # the marker the validator reads: a number or null; NaN and inf become null
Reading = Annotated[float | None, READING]

EventType = Literal[
    "session-started", "state-changed", "preflight-check", "checklist-item", "steady-state", "step-briefed",
    "step-armed", "step-confirmed", "fault-injecting", "fault-injected", "fault-failed", "fault-inject-stopped",
    "fault-selected", "fault-lost", "leash-renewed", "leash-expired", "metric-sample", "metric-backfill", "telemetry-lost",
    "telemetry-restored", "condition-breached", "rollback-started", "fault-reverted", "fault-revert-failed",
    "rollback-finished", "recovery-measured", "observed", "phase-validated", "success-criteria", "criterion-judged",
    "note", "emergency-stop", "warning", "step-completed", "session-ended",
    "hook-delivered", "hook-failed", "hook-dropped",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
_KNOWN = frozenset(EVENT_TYPES)



class StopKind(StrEnum):
    """What stopped a session: `emergency-stop`'s `source`. The engine decides by kind, never by reason text.

    Manual stops (a person, or the terminal going away) end the session as *aborted*; stops by the
    scenario's own rules are an *automatic rollback*; the rest are the room failing (journal, crash).
    """

    KEY = "key"  # the e-stop key (F12 or !), or quitting the room with faults active
    CONTROL = "control"  # `controlroom stop` from another terminal
    SIGNAL = "signal"  # SIGINT, SIGTERM, SIGHUP
    FACILITATOR_ABORT = "facilitator-abort"  # `abort` answered at a gate
    CANCELLED = "cancelled"  # the session's task was cancelled (the program is going away)
    STOP_CONDITION = "stop-condition"  # a stop_when condition held for its `for:`
    TELEMETRY = "telemetry"  # a metrics source was lost (policy rollback)
    LEASH = "leash"  # a leash guard fired while the room lived
    TARGET_LOST = "target-lost"  # a faulted target the room can no longer reach
    JOURNAL = "journal"  # the journal cannot be written
    CRASH = "crash"  # an internal error

    @property
    def manual(self) -> bool:
        """A person (or their terminal) stopped it: the outcome is `aborted`, never a verdict on the system."""
        return self in _MANUAL

    @property
    def automatic(self) -> bool:
        """The scenario's own rules stopped it: an automatic rollback (outcome `rolled-back`)."""
        return self in _AUTOMATIC

    @property
    def emergency(self) -> bool:
        """The e-stop proper: the key, `controlroom stop`, a signal. The room's banner says EMERGENCY STOP."""
        return self in _EMERGENCY


_EMERGENCY = frozenset({StopKind.KEY, StopKind.CONTROL, StopKind.SIGNAL})
_MANUAL = _EMERGENCY | {StopKind.FACILITATOR_ABORT, StopKind.CANCELLED}
_AUTOMATIC = frozenset({StopKind.STOP_CONDITION, StopKind.TELEMETRY, StopKind.LEASH, StopKind.TARGET_LOST})
Decision = Literal["confirm", "skip", "abort"]
StepOutcome = Literal["passed", "failed", "skipped", "rolled-back", "aborted"]


# ---- payload parts ---------------------------------------------------------------------------------------------

class TargetInfo(TypedDict):
    name: str
    kind: NotRequired[str]
    labels: NotRequired[dict[str, str]]


class StepInfo(TypedDict):
    id: str
    title: NotRequired[str]
    phase: NotRequired[str | None]
    duration: NotRequired[float | None]


class Limits(TypedDict):
    max_targets: NotRequired[int | None]
    max_duration: NotRequired[float | None]


class BriefedFault(TypedDict):
    fault: str
    type: NotRequired[str]
    target: str
    summary: NotRequired[str]


class FaultSpecDoc(TypedDict):
    type: str
    target: str
    params: NotRequired[dict[str, Any]]


class CriterionResult(TypedDict):
    criterion: str
    ok: bool | None  # null: a statement nobody judged
    detail: NotRequired[str]
    kind: NotRequired[Literal["check", "statement"]]


# ---- one payload per event type --------------------------------------------------------------------------------

class SessionStarted(TypedDict):
    """The first event: the scenario as the room runs it (its series, limits, conditions, statements)."""

    session: str
    scenario: NotRequired[str]  # the header has it too
    hypothesis: NotRequired[str]
    environment: NotRequired[str]
    targets: NotRequired[list[TargetInfo]]
    steps: NotRequired[list[StepInfo]]
    series: NotRequired[list[str]]
    limits: NotRequired[Limits]
    stop_when: NotRequired[list[str]]
    steady: NotRequired[list[str]]
    checklist: NotRequired[list[str]]
    statements: NotRequired[list[str]]  # success criteria the facilitator judges at the end
    unobserved: NotRequired[bool]  # the scenario says nothing observes its faults: no verdict, no score
    facilitator: NotRequired[str]  # who runs the room (user name, or CONTROLROOM_FACILITATOR)
    pid: NotRequired[int]
    control: NotRequired[str | None]


class StateChanged(TypedDict):
    """The session's state machine moved (docs/architecture.md lists the states)."""

    state: str


class PreflightCheck(TypedDict):
    """One pre-flight check: `ok` null while it runs (its answer follows in its own event)."""

    check: str
    target: str | None
    ok: bool | None  # null: the check is running; its answer follows in its own event
    detail: NotRequired[str]


class ChecklistItem(TypedDict):
    """The facilitator ticked (or unticked) an item of the human checklist."""

    item: str
    ticked: NotRequired[bool]


class SteadyState(TypedDict):
    """A steady-state verdict: `when` is `before` or `after:<step>`; `figures` the worst value of each series in the window."""

    when: str  # "before" | "after:<step>"
    ok: bool
    figures: NotRequired[dict[str, Reading]]
    failed: NotRequired[list[str]]
    detail: NotRequired[str]
    window: NotRequired[float]


class StepBriefed(TypedDict):
    """A step is shown to the room, with the faults it will inject."""

    step: str
    index: int
    title: NotRequired[str]
    brief: NotRequired[str]
    expect: NotRequired[str]
    duration: NotRequired[float | None]
    phase: NotRequired[str | None]
    faults: NotRequired[list[BriefedFault]]
    skipped_faults: NotRequired[list[str]]


class StepArmed(TypedDict):
    """The step waits for the facilitator's confirmation."""

    step: str


class StepConfirmed(TypedDict):
    """The facilitator's answer at a gate (`step` null and `gate: checklist` for the checklist gate)."""

    step: str | None  # null for the checklist gate
    decision: Decision
    by: NotRequired[str]
    gate: NotRequired[str]


class FaultInjecting(TypedDict):
    """**Written before anything is sent**: `recover` reverts every fault announced here and not verified gone."""

    step: str
    fault: str
    target: str
    index: NotRequired[int]  # the fault's place in its step's `faults:` (older journals: parsed from `fault`)
    fault_type: NotRequired[str]
    summary: NotRequired[str]
    spec: NotRequired[FaultSpecDoc]
    leash_s: NotRequired[float | None]
    duration: NotRequired[float | None]


class SelectedPod(TypedDict):
    namespace: str
    name: str
    uid: str


class FaultSelected(TypedDict):
    """**Written before the selection is acted on**: what a Kubernetes fault resolved at injection — the pods
    (by name and uid) its target's selector and mode chose, and the exact manifest about to be applied."""

    fault: str
    target: str
    pods: list[SelectedPod]
    matched: NotRequired[int]  # pods the selector matched, before the mode chose among them
    mode: NotRequired[str]
    manifest: NotRequired[dict[str, Any]]


class FaultInjected(TypedDict):
    """The fault's inject finished on its target."""

    fault: str
    target: str
    step: NotRequired[str]
    # What the backend calls the fault it created (a Gremlin attack guid): `recover` halts it by this name.
    handle: NotRequired[str]


class FaultFailed(TypedDict):
    """The target refused or failed the inject."""

    fault: str
    target: str
    step: NotRequired[str]
    error: NotRequired[str]


class FaultInjectStopped(TypedDict):
    """A stop caught this fault's inject in flight: `how` is killed, never-started, finished, or unknown (not confirmed: the fault stays unconfirmed and its leash armed)."""

    fault: str
    target: str
    how: str  # killed | never-started | finished | unknown
    detail: NotRequired[str]


class FaultLost(TypedDict):
    """At its step's end, before the revert, the fault was already gone (another room, a restart, a leash): the step fails."""

    step: str
    fault: str
    target: str
    detail: NotRequired[str]


class LeashRenewed(TypedDict):
    """One heartbeat round renewed these faults' leashes (journals before the heartbeat: one event per fault, `fault`/`target`)."""

    faults: NotRequired[list[str]]  # one event per heartbeat round that renewed fault leashes
    targets: NotRequired[list[str]]
    leash_s: NotRequired[float]
    fault: NotRequired[str]  # journals written before the heartbeat: one event per fault renewed
    target: NotRequired[str]


class LeashExpired(TypedDict):
    """A renewal found the fault's guard gone while the room lived; an `emergency-stop` with source `leash` follows."""

    fault: str
    target: str
    detail: NotRequired[str]


class MetricSample(TypedDict):
    """One sample of every series; `errors` per source that did not answer."""

    values: dict[str, Reading]
    errors: NotRequired[dict[str, str]]


class MetricBackfill(TypedDict):
    """History from a source that keeps it (Prometheus), before the start (negative mono), for the sparklines."""

    source: str
    samples: list[tuple[float, dict[str, Reading]]]


class TelemetryLost(TypedDict):
    """A metrics source stopped answering for longer than `observe.lost_after`; `policy` applies."""

    source: str
    policy: NotRequired[str]
    detail: NotRequired[str]
    series: NotRequired[str]


class TelemetryRestored(TypedDict):
    """The source answers again."""

    source: str
    series: NotRequired[str]


class ConditionBreached(TypedDict):
    """A stop condition held for its `for:`; an `emergency-stop` with source `stop-condition` follows."""

    condition: str
    value: NotRequired[Reading]
    held_s: NotRequired[float]


class RollbackStarted(TypedDict):
    """THE rollback path began: every active fault is reverted in parallel."""

    reason: str
    faults: list[str]
    targets: NotRequired[list[str]]


class FaultReverted(TypedDict):
    """A fault was reverted; `verified` says whether its verify confirmed it gone."""

    fault: str
    target: str
    verified: bool
    warnings: NotRequired[list[str]]
    reconfirmed: NotRequired[bool]
    recovered_s: NotRequired[float]  # a kill (no revert): seconds from the kill until its workload was back


class FaultRevertFailed(TypedDict):
    """A fault could not be confirmed gone: its target is reported unconfirmed."""

    fault: str
    target: str
    error: NotRequired[str]


class RollbackFinished(TypedDict):
    """The rollback's verdict: clean, or the targets left unconfirmed."""

    clean: bool
    unconfirmed: list[str]


class RecoveryMeasured(TypedDict):
    """Seconds from the revert until the steady state held for a full window again (null: not seen); `after_stop` when watched after a stop."""

    step: str
    seconds: float | None
    held: bool
    criterion_s: NotRequired[float | None]
    detail: NotRequired[str]
    after_stop: NotRequired[bool]  # observed after an emergency stop: reported, never a pass


class Observed(TypedDict):
    """Before / during / after / peak of every series for one step."""

    step: str
    series: dict[str, dict[str, Reading]]  # {series: {before, during, after, peak}}


class PhaseValidated(TypedDict):
    """A phase's `validation`, judged at the end of the phase (its last fault still in)."""

    phase: str
    ok: bool  # every condition held (a series with no value does not)
    results: list[CriterionResult]


class SuccessCriteria(TypedDict):
    """At the end: every success criterion (`kind` check or statement); `met` null when one was not judged."""

    met: bool | None
    results: list[CriterionResult]


class CriterionJudged(TypedDict):
    """A statement judged by a person at the end (`met` null: not judged), and by whom."""

    criterion: str
    met: bool | None  # null: left "not judged"
    by: str


class Note(TypedDict):
    """A timestamped note."""

    text: str
    author: NotRequired[str]


class EmergencyStop(TypedDict):
    """The session is stopping: `source` is the stop kind (manual kinds abort, the rules' kinds roll back); `by` who did it."""

    source: StopKind
    reason: NotRequired[str]
    by: NotRequired[str]  # who pressed it: "alice", "alice on /dev/pts/3 (controlroom stop, pid 4242)"


class Warning_(TypedDict):
    """Something the facilitator should know."""

    message: str


class StepCompleted(TypedDict):
    """A step's outcome."""

    step: str
    outcome: StepOutcome


class SessionEnded(TypedDict):
    """The last event: the outcome, its exit code, targets not confirmed clean."""

    outcome: str  # held | failed | rolled-back | aborted | unobserved | preflight-failed | crashed
    exit_code: NotRequired[int]
    unconfirmed: NotRequired[list[str]]
    message: NotRequired[str]


class HookDelivered(TypedDict):
    """A hook (docs/hooks.md) was delivered: its name, the hook event, which try; `page` for a paging hook."""

    hook: str
    event: str  # the hook event: session-started, fault-injected, ..., rollback-unconfirmed, session-ended
    attempt: int
    page: NotRequired[bool]
    seconds: NotRequired[float]


class HookFailed(TypedDict):
    """A hook's delivery failed (`final`: no try is left); never fatal. Never carries a URL or a header value."""

    hook: str
    event: str
    attempt: int
    error: str
    final: bool
    page: NotRequired[bool]


class HookDropped(TypedDict):
    """A delivery never made: its hook's queue was full, or the session ended before its grace ran out."""

    hook: str
    event: str
    reason: str
    page: NotRequired[bool]


PAYLOADS: dict[EventType, type] = {
    "session-started": SessionStarted, "state-changed": StateChanged, "preflight-check": PreflightCheck,
    "checklist-item": ChecklistItem, "steady-state": SteadyState, "step-briefed": StepBriefed,
    "step-armed": StepArmed, "step-confirmed": StepConfirmed, "fault-injecting": FaultInjecting,
    "fault-injected": FaultInjected, "fault-failed": FaultFailed, "fault-inject-stopped": FaultInjectStopped,
    "fault-selected": FaultSelected,
    "fault-lost": FaultLost, "leash-renewed": LeashRenewed, "leash-expired": LeashExpired,
    "metric-sample": MetricSample, "metric-backfill": MetricBackfill, "telemetry-lost": TelemetryLost,
    "telemetry-restored": TelemetryRestored, "condition-breached": ConditionBreached,
    "rollback-started": RollbackStarted, "fault-reverted": FaultReverted, "fault-revert-failed": FaultRevertFailed,
    "rollback-finished": RollbackFinished, "recovery-measured": RecoveryMeasured, "observed": Observed,
    "phase-validated": PhaseValidated, "success-criteria": SuccessCriteria, "criterion-judged": CriterionJudged,
    "note": Note, "emergency-stop": EmergencyStop, "warning": Warning_, "step-completed": StepCompleted,
    "session-ended": SessionEnded,
    "hook-delivered": HookDelivered, "hook-failed": HookFailed, "hook-dropped": HookDropped,
}


class Header(TypedDict):
    """The journal's first line. A field of the wrong type is dropped with a warning (the reader says which)."""

    format: str
    version: NotRequired[int]
    session: NotRequired[str]
    scenario: NotRequired[str]
    hypothesis: NotRequired[str]
    environment: NotRequired[str]
    scenario_path: NotRequired[str | None]
    scenario_text: NotRequired[str]
    started: NotRequired[str]
    pid: NotRequired[int]
    pid_start: NotRequired[int | None]


@dataclass(frozen=True)
class Event:
    type: str
    t: str
    mono: float
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in _KNOWN:
            raise ValueError(f"unknown event type {self.type!r}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_json(self) -> str:
        doc: dict[str, Any] = {"t": self.t, "mono": round(self.mono, 6), "type": self.type}
        doc.update(self.data)
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str)
