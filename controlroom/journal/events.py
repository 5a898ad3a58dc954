"""The one list of event types, and the Event record every journal line holds.

A journal line is JSON: {"t": ISO-8601 UTC, "mono": seconds since session start,
"type": one of EVENT_TYPES, ...payload}. Payload keys per type are documented in
docs/journal.md; panes, replay and report read only these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = "controlroom-journal"
FORMAT_VERSION = 1

EVENT_TYPES: tuple[str, ...] = (
    "session-started",      # session, scenario, environment, targets[], steps[{id,title}], series[], pid, control
    "state-changed",        # state
    "preflight-check",      # check, target|null, ok (null: running), detail
    "checklist-item",       # item, ticked
    "steady-state",         # when ("before" | "after:<step>"), ok, figures{series: value}, failed[]
    "step-briefed",         # step, index, title, brief, expect, duration, faults[{fault,type,target,summary}]
    "step-armed",           # step
    "step-confirmed",       # step (null for the checklist gate), decision (confirm | skip | abort), by, gate?
    "fault-injecting",      # step, fault, fault_type, target, summary, spec{type,target,params}, leash_s, duration
    "fault-injected",       # step, fault, target
    "fault-failed",         # step, fault, target, error
    "fault-inject-stopped", # fault, target, how (killed | never-started | finished | unknown), detail?
    "leash-renewed",        # faults[], targets[], leash_s — one per heartbeat round that renewed fault leashes
    "leash-expired",        # fault, target, detail — a renewal found the guard gone: it fired while the room lived
    "metric-sample",        # values{series: float|null}, errors{series: message}
    "metric-backfill",      # source, samples[[mono (negative: before the start), {series: float|null}]]
    "telemetry-lost",       # source, policy, detail
    "telemetry-restored",   # source
    "condition-breached",   # condition, value, held_s
    "rollback-started",     # reason, faults[]
    "fault-reverted",       # fault, target, verified
    "fault-revert-failed",  # fault, target, error
    "rollback-finished",    # clean, unconfirmed[targets]
    "recovery-measured",    # step, seconds|null, held, criterion_s|null
    "observed",             # step, series{name: {before, during, after, peak}}
    "success-criteria",     # met, results[{criterion, ok, detail}]
    "note",                 # text, author
    "emergency-stop",       # source (key | signal | control | stop-condition | telemetry | journal | crash | cancelled)
    "warning",              # message
    "step-completed",       # step, outcome (passed | failed | skipped | rolled-back | aborted)
    "session-ended",        # outcome (held | failed | rolled-back | aborted | crashed), exit_code, unconfirmed[]
)
_KNOWN = frozenset(EVENT_TYPES)


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

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Event:
        data = {k: v for k, v in doc.items() if k not in ("t", "mono", "type")}
        return cls(type=str(doc["type"]), t=str(doc["t"]), mono=float(doc["mono"]), data=data)
