"""Fold a journal into the post-mortem: one pass over the events, then derived facts, scores and insights.

`build_report(journal)` returns plain JSON-able data shaped by docs/report-schema.json.
Everything is derived from the journal alone, so a report can be rebuilt at any time,
also from the journal of a session that crashed (it is then marked incomplete).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlroom.journal.events import StopKind
from controlroom.journal.reader import Journal
from controlroom.report import score as sc
from controlroom.report.model import (
    CHART_POINTS,
    DEGRADED_RELATIVE_CHANGE,
    REPORT_FORMAT,
    REPORT_VERSION,
    WEIGHTS,
    Condition,
    is_success_series,
    parse_condition,
    series_direction,
)
from controlroom.units import UnitError, format_duration, parse_duration


def _automatic(kind: str) -> bool:
    """A rollback the scenario's rules started (or the room failing), not a person's stop: by kind, not text."""
    try:
        return not StopKind(kind).manual
    except ValueError:  # a fault that failed, or a trigger this version does not know: not a person's stop
        return True


@dataclass
class _Fault:
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

    @property
    def start(self) -> float | None:
        # A fault counts from the moment it was sent: the journal records injecting before the command goes out.
        return self.injected_at if self.injected_at is not None else self.injecting_at


@dataclass
class _Series:
    monos: list[float] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    errors: int = 0


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _parse_source(text: Any) -> dict[str, Any]:
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


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """doc[key] when it is a mapping, else {}: the header's scenario text is read, not trusted to be valid."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _indices_within(monos: list[float], windows: list[tuple[float, float]]) -> list[range]:
    """Index ranges of samples inside each window [start, end); monos are sorted, so bisect keeps this O(log n)."""
    return [range(bisect.bisect_left(monos, a), bisect.bisect_left(monos, b)) for a, b in windows]


def downsample(monos: list[float], values: list[float | None], budget: int = CHART_POINTS) -> list[list[float | None]]:
    """At most ~budget [mono, value] points keeping each bucket's min and max, so peaks survive; gaps stay None."""
    n = len(monos)
    if n <= budget:
        return [[round(m, 3), v] for m, v in zip(monos, values, strict=True)]
    buckets = max(1, budget // 2)
    size = n / buckets
    out: list[list[float | None]] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        chunk = [(monos[i], values[i]) for i in range(lo, hi)]
        present = [(m, v) for m, v in chunk if v is not None]
        if not present:
            out.append([round(chunk[0][0], 3), None])  # a whole bucket without data stays a visible gap
            continue
        mn = min(present, key=lambda p: p[1])
        mx = max(present, key=lambda p: p[1])
        for m, v in sorted({mn, mx}):
            out.append([round(m, 3), v])
    return out


class _Fold:
    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.header = journal.header
        self.started: dict[str, Any] = {}
        self.ended: dict[str, Any] | None = None
        self.ended_t: str | None = None
        self.first_t: str | None = None
        self.last_t: str | None = None
        self.last_mono = 0.0
        self.steps: dict[str, dict[str, Any]] = {}
        self.step_order: list[str] = []
        self.faults: dict[tuple[str, str], _Fault] = {}
        self.series: dict[str, _Series] = {}
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
        self.engine_criteria: list[dict[str, Any]] | None = None
        self.judged: dict[str, dict[str, Any]] = {}  # statement -> criterion-judged payload (met, by)
        self.phases: list[dict[str, Any]] = []  # phase-validated payloads

    # ---- the one pass -------------------------------------------------------------------------------------

    def run(self) -> None:
        events = self.j.events
        if events:
            self.first_t = events[0].t
            self.last_t = events[-1].t
            self.last_mono = max(0.0, events[-1].mono)
        series = self.series
        for ev in events:
            typ = ev.type
            d = ev.data
            if typ == "metric-sample":
                mono = ev.mono
                for name, value in (d.get("values") or {}).items():
                    s = series.get(name)
                    if s is None:
                        s = series[name] = _Series()
                    s.monos.append(mono)
                    s.values.append(None if value is None else float(value))
                for name in d.get("errors") or {}:
                    s = series.get(name)
                    if s is None:
                        s = series[name] = _Series()
                    s.errors += 1
                continue
            handler = getattr(self, "_on_" + typ.replace("-", "_"), None)
            if handler is not None:
                handler(ev.mono, ev.t, d)

    def _mark(self, mono: float, kind: str, label: str) -> None:
        self.timeline.append({"mono": _r(mono), "kind": kind, "label": label})

    def _on_session_started(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.started = d

    def _on_preflight_check(self, mono: float, t: str, d: dict[str, Any]) -> None:
        if d.get("ok") is None:  # "running": the check's answer follows in its own event
            return
        self.preflight_count += 1
        if not d.get("ok", True):
            self.preflight.append({"check": str(d.get("check", "")), "target": d.get("target"),
                                   "detail": str(d.get("detail", ""))})

    def _on_steady_state(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.steady.append({"when": str(d.get("when", "")), "ok": bool(d.get("ok")), "mono": _r(mono),
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

    def _on_step_briefed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        st = self._step(d.get("step"))
        st["title"] = str(d.get("title") or "")
        st["expect"] = str(d.get("expect") or "")
        st["briefed_at"] = _r(mono)
        st["planned_targets"] = sorted({str(f.get("target")) for f in d.get("faults") or [] if isinstance(f, dict)})
        st["skipped_faults"] = [str(x) for x in d.get("skipped_faults") or []]

    def _on_step_confirmed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self._step(d.get("step"))["decision"] = d.get("decision")

    def _on_step_completed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        st = self._step(d.get("step"))
        st["completed_at"] = _r(mono)
        st["outcome"] = d.get("outcome")

    def _fault(self, d: dict[str, Any]) -> _Fault:
        key = (str(d.get("fault")), str(d.get("target")))
        f = self.faults.get(key)
        if f is None:
            step = d.get("step")
            f = self.faults[key] = _Fault(fault=key[0], target=key[1], step=None if step is None else str(step))
        return f

    def _on_fault_injecting(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        spec: dict[str, Any] = d["spec"] if isinstance(d.get("spec"), dict) else {}
        f.type = d.get("fault_type") or spec.get("type")
        f.summary = str(d.get("summary") or "")
        f.injecting_at = mono
        if f.step is None and d.get("step") is not None:
            f.step = str(d.get("step"))

    def _on_fault_injected(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self._fault(d).injected_at = mono

    def _on_fault_failed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        f.failed_at = mono
        f.error = str(d.get("error") or "")
        self._mark(mono, "fault-failed", f"{f.fault} on {f.target} failed: {f.error}")
        self.last_trigger = {"kind": "fault-failed", "detail": f.error}

    def _on_fault_inject_stopped(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        self._mark(mono, "inject-stopped", f"injection of {f.fault} on {f.target} stopped: {d.get('how')}")

    def _on_fault_reverted(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        f.reverted_at = mono
        f.verified = bool(d.get("verified", False))
        if not f.verified:
            self.unconfirmed.add(f.target)

    def _on_fault_revert_failed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        f.reverted_at = mono
        f.verified = False
        f.revert_error = str(d.get("error") or "")
        self.unconfirmed.add(f.target)
        self._mark(mono, "revert-failed", f"revert of {f.fault} on {f.target} failed: {f.revert_error}")

    def _on_telemetry_lost(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.telemetry.append({"source": str(d.get("source", "")), "policy": d.get("policy"),
                               "detail": str(d.get("detail", "")), "lost_at": _r(mono), "restored_at": None})
        self._mark(mono, "telemetry-lost", f"telemetry lost: {d.get('source')}")
        self.last_trigger = {"kind": "telemetry", "detail": str(d.get("source", ""))}

    def _on_telemetry_restored(self, mono: float, t: str, d: dict[str, Any]) -> None:
        for item in reversed(self.telemetry):
            if item["source"] == str(d.get("source", "")) and item["restored_at"] is None:
                item["restored_at"] = _r(mono)
                break

    def _on_condition_breached(self, mono: float, t: str, d: dict[str, Any]) -> None:
        value = d.get("value")
        self.breaches.append({"condition": str(d.get("condition", "")), "value": value, "mono": _r(mono),
                              "held_s": d.get("held_s")})
        self._mark(mono, "breach", f"{d.get('condition')} (value {value})")
        self.last_trigger = {"kind": "stop-condition", "detail": str(d.get("condition", ""))}

    def _on_emergency_stop(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.stops.append({"source": str(d.get("source", "")), "reason": str(d.get("reason", "")), "mono": _r(mono),
                           "by": d.get("by")})
        by = f" by {d['by']}" if d.get("by") else ""
        self._mark(mono, "emergency-stop", f"emergency stop ({d.get('source')}{by})")
        self.last_trigger = {"kind": str(d.get("source", "")), "detail": str(d.get("reason", ""))}

    def _on_rollback_started(self, mono: float, t: str, d: dict[str, Any]) -> None:
        trigger = self.last_trigger or {"kind": "unknown", "detail": ""}
        self.rollbacks.append({"reason": str(d.get("reason", "")), "started_at": _r(mono), "finished_at": None,
                               "clean": None, "unconfirmed": [], "trigger": trigger["kind"],
                               "faults": [str(x) for x in d.get("faults") or []],
                               "automatic": _automatic(trigger["kind"])})
        self._mark(mono, "rollback", f"rollback: {d.get('reason')}")

    def _on_rollback_finished(self, mono: float, t: str, d: dict[str, Any]) -> None:
        unconfirmed = [str(x) for x in d.get("unconfirmed") or []]
        self.unconfirmed.update(unconfirmed)
        if self.rollbacks and self.rollbacks[-1]["finished_at"] is None:
            self.rollbacks[-1].update(finished_at=_r(mono), clean=bool(d.get("clean")), unconfirmed=unconfirmed)
        self._mark(mono, "rollback-finished", "rollback finished" + ("" if d.get("clean") else " (unconfirmed)"))

    def _on_recovery_measured(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.recoveries.append({"step": str(d.get("step")), "seconds": d.get("seconds"), "held": bool(d.get("held")),
                                "criterion_s": d.get("criterion_s"), "source": "engine",
                                "detail": str(d.get("detail") or ""), "after_stop": bool(d.get("after_stop"))})

    def _on_observed(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.observed[str(d.get("step"))] = d.get("series") or {}

    def _on_success_criteria(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.engine_criteria = [r for r in d.get("results") or [] if isinstance(r, dict)]

    def _on_criterion_judged(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.judged[str(d.get("criterion"))] = d

    def _on_phase_validated(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.phases.append({"phase": str(d.get("phase")), "ok": bool(d.get("ok")), "mono": _r(mono),
                            "results": [r for r in d.get("results") or [] if isinstance(r, dict)]})
        if not d.get("ok"):
            self._mark(mono, "phase-failed", f"phase {d.get('phase')}: validation failed")

    def _on_fault_lost(self, mono: float, t: str, d: dict[str, Any]) -> None:
        f = self._fault(d)
        f.lost = str(d.get("detail") or "gone before its revert")
        self._mark(mono, "fault-lost", f"{f.fault} on {f.target} was gone before its revert")

    def _on_note(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.notes.append({"t": t, "mono": _r(mono), "author": str(d.get("author") or ""), "text": str(d.get("text", ""))})
        self._mark(mono, "note", str(d.get("text", ""))[:80])

    def _on_warning(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.warnings.append({"mono": _r(mono), "message": str(d.get("message", ""))})

    def _on_session_ended(self, mono: float, t: str, d: dict[str, Any]) -> None:
        self.ended = d
        self.ended_t = t
        self.unconfirmed.update(str(x) for x in d.get("unconfirmed") or [])


class _Derive:
    """Everything computed after the pass: windows, series summaries, recovery, blast radius, scores."""

    def __init__(self, f: _Fold) -> None:
        self.f = f
        self.source = _parse_source(f.header.get("scenario_text") or f.header.get("source_text"))
        self.stop = self._conditions("stop_when", lambda doc: _section(doc, "stop_when").get("conditions"))
        self.stop += [c for c in (parse_condition(b["condition"]) for b in f.breaches) if c and c not in self.stop]
        self.steady_conds = self._conditions("steady", lambda doc: _section(doc, "steady_state").get("require"))
        self.labels = self._labels()
        self.incomplete = f.ended is None or f.ended.get("outcome") == "crashed"
        self.damaged = f.j.damaged  # lines skipped by the reader: the record has holes
        self.end_mono = f.last_mono

    def _conditions(self, key: str, from_source: Any) -> list[Condition]:
        raw = self.f.started.get(key)
        if raw is None:
            raw = from_source(self.source)
        out: list[Condition] = []
        for text in raw if isinstance(raw, list) else []:
            c = parse_condition(str(text))
            if c is not None and c not in out:
                out.append(c)
        return out

    def _labels(self) -> dict[str, dict[str, str]]:
        labels: dict[str, dict[str, str]] = {}
        for t in self.f.started.get("targets") or []:
            if isinstance(t, dict) and t.get("name"):
                labels[str(t["name"])] = {str(k): str(v) for k, v in (t.get("labels") or {}).items()}
            elif isinstance(t, str):
                labels.setdefault(t, {})
        for name, spec in _section(self.source, "targets").items():
            if isinstance(spec, dict) and str(name) not in labels:
                labels[str(name)] = {str(k): str(v) for k, v in _section(spec, "labels").items()}
        return labels

    # ---- faults and windows -------------------------------------------------------------------------------

    def fault_end(self, f: _Fault) -> float:
        if f.reverted_at is not None:
            return f.reverted_at
        st = self.f.steps.get(f.step or "")
        if st and st["completed_at"] is not None:
            return float(st["completed_at"])
        return self.end_mono

    def windows(self, target: str | None = None, step: str | None = None) -> list[tuple[float, float]]:
        out = []
        for f in self.f.faults.values():
            if f.start is None or (target is not None and f.target != target) or (step is not None and f.step != step):
                continue
            if f.failed_at is not None and f.injected_at is None and f.reverted_at is None:
                continue  # refused by the target: nothing was in effect
            out.append((f.start, max(f.start, self.fault_end(f))))
        return _merge(out)

    def faults_out(self) -> list[dict[str, Any]]:
        out = []
        for f in self.f.faults.values():
            if f.failed_at is not None and f.injected_at is None:
                status = "failed"
            elif f.revert_error is not None:
                status = "revert-failed"
            elif f.lost is not None:
                status = "lost"
            elif f.reverted_at is not None:
                status = "reverted" if f.verified else "unconfirmed"
            elif self.incomplete:
                status = "possibly-active"  # the session died with this fault in: `controlroom recover` must run
            else:
                status = "not-revertible"
            out.append({
                "fault": f.fault, "type": f.type, "target": f.target, "step": f.step, "summary": f.summary,
                "service": self.labels.get(f.target, {}).get("service"),
                "injected_at": _r(f.start), "reverted_at": _r(f.reverted_at),
                "window": None if f.start is None or status == "failed" else [_r(f.start), _r(self.fault_end(f))],
                "verified": f.verified, "status": status, "error": f.error or f.revert_error or f.lost,
            })
            if status == "possibly-active":
                self.f.unconfirmed.add(f.target)
        return out

    # ---- series -------------------------------------------------------------------------------------------

    def series_out(self, all_windows: list[tuple[float, float]]) -> list[dict[str, Any]]:
        names = list(self.f.series)
        for n in self.f.started.get("series") or []:
            if n not in self.f.series:
                names.append(str(n))
        for obs in self.f.observed.values():
            for n in obs if isinstance(obs, dict) else {}:
                if n not in names:
                    names.append(str(n))
        first = all_windows[0][0] if all_windows else None
        last = all_windows[-1][1] if all_windows else None
        out = []
        for name in names:
            s = self.f.series.get(name) or _Series()
            direction = series_direction(name, self.stop, self.steady_conds)
            vals = s.values
            present = [v for v in vals if v is not None]
            if first is None:
                before = present
                during: list[float] = []
                after: list[float] = []
            else:
                i0 = bisect.bisect_left(s.monos, first)
                i1 = bisect.bisect_left(s.monos, last or 0.0)
                before = [v for v in vals[:i0] if v is not None]
                during = [vals[i] for r in _indices_within(s.monos, all_windows) for i in r if vals[i] is not None]  # type: ignore[misc]
                after = [v for v in vals[i1:] if v is not None]
            b = _mean(before)
            peak = (max(during, key=lambda v: abs(v - b)) if b is not None else max(during)) if during else None
            summary: dict[str, Any] = {
                "before": _r(b), "during": _r(_mean(during)), "after": _r(_mean(after)), "peak": _r(peak),
                "worst": _r(_worst(during, direction, peak)),
                "low": _r(min(during)) if during else None, "high": _r(max(during)) if during else None,
                "source": "samples",
            }
            if not present and self.f.observed:
                summary = self._from_observed(name) or summary
            stops = [c for c in self.stop if c.series == name]
            breached_samples = sum(1 for v in during if any(c.holds(v) for c in stops))
            out.append({
                "name": name, "direction": direction, "samples": len(vals), "gaps": len(vals) - len(present),
                "errors": s.errors, **summary,
                "stop_conditions": [c.text for c in stops],
                "steady_requirements": [c.text for c in self.steady_conds if c.series == name],
                "breached_samples": breached_samples,
                "points": downsample(s.monos, s.values),
            })
        return out

    def _from_observed(self, name: str) -> dict[str, Any] | None:
        per_step = [obs[name] for obs in self.f.observed.values() if isinstance(obs, dict) and isinstance(obs.get(name), dict)]
        if not per_step:
            return None

        def pick(key: str) -> list[float]:
            return [float(x[key]) for x in per_step if isinstance(x.get(key), (int, float))]

        durings, peaks = pick("during"), pick("peak")
        befores, afters = pick("before"), pick("after")
        direction = series_direction(name, self.stop, self.steady_conds)
        return {"before": _r(befores[0]) if befores else None, "during": _r(_mean(durings)),
                "after": _r(afters[-1]) if afters else None, "peak": _r(max(peaks)) if peaks else None,
                "worst": _r(_worst(peaks, direction, max(peaks) if peaks else None)),
                "low": None, "high": None, "source": "observed"}

    # ---- recovery -----------------------------------------------------------------------------------------

    def recovery_criterion(self) -> float | None:
        for r in self.f.recoveries:
            if isinstance(r.get("criterion_s"), (int, float)):
                return float(r["criterion_s"])
        raw = _section(self.source, "success_criteria").get("recovery_time")
        try:
            return parse_duration(raw) if raw is not None else None
        except UnitError:
            return None

    def recoveries(self) -> list[dict[str, Any]]:
        """Every recovery measurement, each with the telemetry outage inside its window (None: none)."""
        return [{**r, "telemetry_outage_s": self._outage_during(r)} for r in self._measured()]

    def _outage_during(self, r: dict[str, Any]) -> float | None:
        """Seconds of lost telemetry between the step's revert and its recovery (or the session's end): a
        recovery measured across an outage is as long as the outage at least, whatever the system did."""
        wins = self.windows(step=str(r.get("step")))
        if not wins or not self.f.telemetry:
            return None
        start = wins[-1][1]
        secs = r.get("seconds")
        end = start + float(secs) if isinstance(secs, (int, float)) else self.end_mono
        lost = 0.0
        for t in self.f.telemetry:
            a = float(t["lost_at"] or 0.0)
            b = float(t["restored_at"]) if t["restored_at"] is not None else self.end_mono
            lost += max(0.0, min(b, end) - max(a, start))
        return _r(lost) if lost > 0 else None

    def _measured(self) -> list[dict[str, Any]]:
        if self.f.recoveries:
            return self.f.recoveries
        # No engine figures (an older or crashed session): measure from the samples against the steady state.
        out = []
        crit = self.recovery_criterion()
        for sid in self.f.step_order:
            wins = self.windows(step=sid)
            if not wins or not self.steady_conds:
                continue
            end = wins[-1][1]
            seconds = self._first_steady_after(end)
            if seconds is None and self.incomplete:
                continue  # the journal stops before recovery could be seen
            out.append({"step": sid, "seconds": _r(seconds), "held": seconds is not None, "criterion_s": crit,
                        "source": "computed", "detail": "computed from samples against steady_state.require",
                        "after_stop": False})
        return out

    def _first_steady_after(self, end: float) -> float | None:
        conds = [c for c in self.steady_conds if c.series in self.f.series]
        if not conds:
            return None
        per = [(c, self.f.series[c.series]) for c in conds]
        # Walk the sample times of one required series after `end` (lazily: recovery is usually found early);
        # every series contributes its latest value at that time.
        lead = per[0][1].monos
        for k in range(bisect.bisect_left(lead, end), len(lead)):
            t = lead[k]
            ok = True
            for c, s in per:
                i = bisect.bisect_right(s.monos, t) - 1
                v = s.values[i] if i >= 0 else None
                if v is None or not c.holds(v):
                    ok = False
                    break
            if ok:
                return t - end
        return None

    # ---- degradation, cascade, blast radius ---------------------------------------------------------------

    def in_window_values(self, name: str, windows: list[tuple[float, float]]) -> list[float]:
        s = self.f.series.get(name)
        if s is None:
            return []
        return [s.values[i] for r in _indices_within(s.monos, windows) for i in r if s.values[i] is not None]  # type: ignore[misc]

    def judged_samples(self, windows: list[tuple[float, float]]) -> tuple[int, int]:
        """(samples judged, samples on which no stop condition held) inside the windows, per sample time."""
        conds = [c for c in self.stop if c.series in self.f.series]
        if not conds:
            return 0, 0
        judged = within = 0
        by_series: dict[str, list[Condition]] = {}
        for c in conds:
            by_series.setdefault(c.series, []).append(c)
        for name, cs in by_series.items():
            for v in self.in_window_values(name, windows):
                judged += 1
                if not any(c.holds(v) for c in cs):
                    within += 1
        return judged, within

    def attribution(self, series: str) -> str | None:
        head = series.split(".", 1)[0]
        for cand in (series, head):
            if cand in self.labels:
                return cand
            for lab in self.labels.values():
                if lab.get("service") == cand:
                    return f"service={cand}"
        return None

    def degraded(self, series: dict[str, Any], windows: list[tuple[float, float]]) -> dict[str, Any] | None:
        name = series["name"]
        vals = self.in_window_values(name, windows)
        if not vals:
            return None
        stops = [c for c in self.stop if c.series == name]
        steady = [c for c in self.steady_conds if c.series == name]
        worst = min(vals) if series["direction"] == "up" else max(vals)
        if stops and any(c.holds(v) for c in stops for v in vals):
            return {"worst": _r(worst), "reason": "crossed stop condition " + ", ".join(c.text for c in stops)}
        if steady and any(not c.holds(v) for c in steady for v in vals):
            bad = [c.text for c in steady if any(not c.holds(v) for v in vals)]
            return {"worst": _r(worst), "reason": "left steady state " + ", ".join(bad)}
        if not stops and not steady and series["direction"] and series["before"]:
            base = float(series["before"])
            change = (base - worst) / abs(base) if series["direction"] == "up" else (worst - base) / abs(base)
            if change > DEGRADED_RELATIVE_CHANGE:
                return {"worst": _r(worst), "reason": f"{change:.0%} worse than before the faults"}
        return None


def _worst(values: list[float], direction: str | None, peak: float | None) -> float | None:
    """The worst in-fault value: the lowest of a higher-is-better series (success rate, rps), the highest of a
    lower-is-better one (latency); without a known direction, the peak (the value farthest from before)."""
    if not values:
        return None
    if direction == "up":
        return min(values)
    if direction == "down":
        return max(values)
    return peak


def _target_service(labels: dict[str, dict[str, str]], target: str) -> str | None:
    return labels.get(target, {}).get("service")


def build_report(journal: Journal) -> dict[str, Any]:
    """The post-mortem of one session as JSON-able data (see docs/report-schema.json and docs/report.md)."""
    f = _Fold(journal)
    f.run()
    dv = _Derive(f)
    faults = dv.faults_out()
    all_windows = dv.windows()
    series = dv.series_out(all_windows)
    recoveries = dv.recoveries()
    crit = dv.recovery_criterion()
    hdr = f.header
    started = f.started

    outcome = f.ended.get("outcome") if f.ended else None
    status = "incomplete" if dv.incomplete else {"preflight-failed": "failed"}.get(str(outcome), str(outcome))
    if status not in ("held", "unobserved", "failed", "rolled-back", "aborted", "incomplete"):
        status = "failed"

    # Degradation and cascade, per fault step: a series is judged only while a fault was in.
    step_targets: dict[str, set[str]] = {}
    for fl in faults:
        if fl["window"] is not None:
            step_targets.setdefault(str(fl["step"]), set()).add(fl["target"])
    degraded_series: list[dict[str, Any]] = []
    cascading: list[dict[str, Any]] = []
    for sid, targets in step_targets.items():
        wins = dv.windows(step=sid)
        faulted = set(targets) | {f"service={_target_service(dv.labels, t)}" for t in targets}
        for s in series:
            d = dv.degraded(s, wins)
            if d is None:
                continue
            owner = dv.attribution(s["name"])
            item = {"series": s["name"], "step": sid, "attributed_to": owner, **d}
            degraded_series.append(item)
            if owner is not None and owner not in faulted:
                cascading.append({**item, "kind": "series",
                                  "detail": f"{s['name']} ({owner}) degraded while only {', '.join(sorted(targets))} was faulted"})

    # Blast radius: affected targets vs. the targets each step planned to touch.
    affected = sorted({fl["target"] for fl in faults if fl["window"] is not None or fl["status"] == "failed"})
    outside = sorted({fl["target"] for fl in faults
                      if fl["step"] in f.steps and f.steps[fl["step"]]["briefed_at"] is not None
                      and fl["target"] not in f.steps[fl["step"]]["planned_targets"]})
    for t in outside:
        cascading.append({"series": None, "step": None, "attributed_to": t, "worst": None, "kind": "target",
                          "reason": "changed state outside the step's planned targets",
                          "detail": f"{t} was faulted although no step planned it"})
    unconfirmed = sorted(f.unconfirmed)
    contained = not outside and not unconfirmed
    concurrent = 0
    edges = sorted([(w[0], 1) for fl in faults if fl["window"] for w in [fl["window"]]]
                   + [(w[1], -1) for fl in faults if fl["window"] for w in [fl["window"]]], key=lambda e: (e[0], e[1]))
    live = 0
    for _, delta in edges:
        live += delta
        concurrent = max(concurrent, live)

    # For the score, impact that spread (a cascade, a target outside the plan) is blast radius not controlled.
    spilled = bool(cascading)

    # Graceful degradation over the whole faulted time.
    judged, within = dv.judged_samples(all_windows)
    graceful: bool | None
    if judged:
        graceful = within == judged
    elif dv.stop and all_windows:
        graceful = not any(all_windows[0][0] <= (b["mono"] or 0) <= all_windows[-1][1] for b in f.breaches)
    else:
        graceful = None

    # Scores per target, then per service.
    success_names = [s["name"] for s in series if is_success_series(s["name"])]
    targets_out = []
    for t in affected:
        wins = dv.windows(target=t)
        steps_of_t = {fl["step"] for fl in faults if fl["target"] == t}
        rates = [v for n in success_names for v in dv.in_window_values(n, wins)]
        recs = [(r.get("seconds"), r.get("criterion_s") if r.get("criterion_s") is not None else crit)
                for r in recoveries if r["step"] in steps_of_t]
        tj, tw = dv.judged_samples(wins)
        degr = sc.degradation_score(tj, tw)
        if degr is None and dv.stop and wins:
            degr = 0.0 if any(any(a <= (b["mono"] or 0) <= z for a, z in wins) for b in f.breaches) else 100.0
        components = {
            "availability": sc.availability_score(rates),
            "recovery": sc.recovery_score([(None if s is None else float(s), c) for s, c in recs]),
            "blast_radius": sc.blast_radius_score(t in f.unconfirmed, not spilled),
            "degradation": degr,
        }
        combined = sc.combine(components)
        targets_out.append({"target": t, "service": _target_service(dv.labels, t), **combined})
    services: dict[str, list[float]] = {}
    for tt in targets_out:
        if tt["service"] and tt["total"] is not None:
            services.setdefault(tt["service"], []).append(tt["total"])
    totals = [tt["total"] for tt in targets_out if tt["total"] is not None]

    # Success criteria: the engine's verdicts where it gave them, computed otherwise.
    criteria: list[dict[str, Any]] = []
    if recoveries:
        slow = [r for r in recoveries if not r["held"] or (crit is not None and (r["seconds"] or 0) > crit)]
        criteria.append({"name": "recovery_time", "criterion": format_duration(crit) if crit else None,
                         "met": not slow, "source": "computed", "detail": "; ".join(
                             f"{r['step']}: " + ("did not recover" if not r["held"] else f"{r['seconds']}s") for r in recoveries)})
    after = [s for s in f.steady if s["when"].startswith("after")]
    if after:
        bad = [s for s in after if not s["ok"]]
        criteria.append({"name": "steady_state_after", "criterion": ", ".join(c.text for c in dv.steady_conds) or None,
                         "met": not bad, "source": "computed", "detail": "; ".join(f"{s['when']}: {', '.join(s['failed'])}" for s in bad)})
    if dv.stop:
        criteria.append({"name": "stop_conditions", "criterion": ", ".join(c.text for c in dv.stop),
                         "met": not f.breaches, "source": "computed", "detail": f"{len(f.breaches)} breach(es)"})
    loss = _data_loss(dv, all_windows)
    if loss is not None:
        criteria.append(loss)
    done_steps = [f.steps[s] for s in f.step_order if f.steps[s]["outcome"] is not None]
    if done_steps:
        failed_steps = [s["id"] for s in done_steps if s["outcome"] not in ("passed", "skipped")]
        criteria.append({"name": "steps", "criterion": "every step passed", "met": not failed_steps, "source": "computed",
                         "detail": ", ".join(f"{s}: {f.steps[s]['outcome']}" for s in failed_steps)})
    for c in criteria:
        c.update(kind="check", by=None)
    if f.engine_criteria is not None:
        # The engine's own verdicts (success-criteria event) win over the report's recomputation of the same name.
        computed = {c["name"]: c for c in criteria}
        engine = [{"name": str(r.get("criterion")), "met": r.get("ok"), "detail": str(r.get("detail") or ""),
                   "source": "engine", "criterion": (computed.get(str(r.get("criterion"))) or {}).get("criterion"),
                   "kind": "statement" if r.get("kind") == "statement" else "check", "by": None}
                  for r in f.engine_criteria]
        names = {c["name"] for c in engine}
        criteria = engine + [c for c in criteria if c["name"] not in names]
    # Statements are a person's word: met / not met as judged (by whom), else "not judged" — never met by default.
    for c in criteria:
        if c["kind"] == "statement":
            word = f.judged.get(c["name"]) or {}
            c.update(source="facilitator", by=word.get("by"), met=word.get("met", c["met"]))
    named = {c["name"] for c in criteria}
    for text in [str(x) for x in started.get("statements") or []]:
        if text not in named:
            word = f.judged.get(text) or {}
            met_ = word.get("met")
            criteria.append({"name": text, "criterion": None, "met": met_, "source": "facilitator",
                             "kind": "statement", "by": word.get("by"),
                             "detail": "judged met" if met_ else "judged NOT met" if met_ is False else "not judged"})
    for ph in f.phases:
        criteria.append({"name": f"phase {ph['phase']}", "criterion": ", ".join(str(r.get("criterion"))
                                                                              for r in ph["results"]),
                         "met": ph["ok"], "source": "engine", "kind": "check", "by": None,
                         "detail": "; ".join(f"{r.get('criterion')}: {r.get('detail')}" for r in ph["results"]
                                             if not r.get("ok"))})
    met: bool | None = None
    if criteria and not dv.incomplete:
        verdicts = [c["met"] for c in criteria]
        met = False if False in verdicts else (None if None in verdicts else True)

    validated: bool | None = None if dv.incomplete or dv.damaged else (status == "held" and met is not False)
    if status == "unobserved":
        validated = None  # declared unobserved: nothing judged the system, so nothing is validated, nor refuted
        targets_out, services, totals = [], {}, []  # and no score: there is nothing to grade

    rollbacks = f.rollbacks
    exp_id = str(started.get("session") or hdr.get("session") or hdr.get("session_id") or Path(journal.path).stem)
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "experiment": {
            "id": exp_id,
            "name": str(started.get("scenario") or hdr.get("scenario") or ""),
            "environment": started.get("environment") or hdr.get("environment"),
            "journal": str(journal.path),
            "scenario_path": hdr.get("scenario_path"),
        },
        "status": status,
        "outcome": outcome,
        "incomplete": dv.incomplete or dv.damaged,
        "hypothesis": {"statement": str(started.get("hypothesis") or hdr.get("hypothesis") or ""),
                       "validated": validated},
        "execution": {
            "started": hdr.get("started") or f.first_t,
            "ended": f.ended_t or f.last_t,
            "duration_s": _r(f.last_mono),
            "auto_rollback": any(r["automatic"] for r in rollbacks),
            "rollbacks": rollbacks,
            "emergency_stops": f.stops,
            "exit_code": f.ended.get("exit_code") if f.ended else None,
            "message": str(f.ended.get("message") or "") if f.ended else "",
        },
        "steps": _steps_out(f, dv, journal),
        "faults": faults,
        "series": series,
        "recovery": {"criterion_s": crit, "measurements": recoveries,
                     "slowest_s": max((float(r["seconds"]) for r in recoveries if r["seconds"] is not None), default=None)},
        "degradation": {"graceful": graceful, "samples_judged": judged, "samples_within": within,
                        "degraded_series": degraded_series},
        "cascading_failures": cascading,
        "blast_radius": {"affected_targets": affected, "outside_plan": outside, "unconfirmed": unconfirmed,
                         "contained": contained, "max_concurrent_targets": concurrent,
                         "limits": started.get("limits") or None},
        "success_criteria": {"met": met, "criteria": criteria},
        "score": {
            "meaning": _score_meaning(status, validated, dv.damaged),
            "weights": dict(WEIGHTS),
            "overall": round(sum(totals) / len(totals), 1) if totals else None,
            "targets": targets_out,
            "services": [{"service": k, "total": round(sum(v) / len(v), 1)} for k, v in sorted(services.items())],
        },
        "preflight": {"checks": f.preflight_count, "failed": f.preflight},
        "steady_state": f.steady,
        "telemetry": {"lost": f.telemetry},
        "breaches": f.breaches,
        "notes": f.notes,
        "warnings": f.warnings,
        "journal_warnings": list(journal.warnings),
        "timeline": f.timeline,
        "insights": [],
    }
    from controlroom.report.rules import derive_insights

    report["insights"] = derive_insights(report)
    return report


def _score_meaning(status: str, validated: bool | None, damaged: bool) -> str:
    """One sentence said next to the score, so a rolled-back session never reads as a pass (docs/report.md)."""
    if status == "unobserved":
        return "not computed: the scenario was declared unobserved, so nothing judged the system"
    if status == "incomplete" or damaged:
        return "partial: the journal is incomplete; the score covers what was recorded"
    if validated:
        return "the hypothesis held; the score grades how well the system behaved under the faults"
    return (f"the hypothesis did NOT hold ({status}); the score grades how the system behaved under the faults "
            "it met before the end, it is not a pass")


def _values_between(s: _Series, lo: float, hi: float, closed: bool) -> list[float]:
    i = bisect.bisect_left(s.monos, lo)
    j = bisect.bisect_right(s.monos, hi) if closed else bisect.bisect_left(s.monos, hi)
    return [v for v in s.values[i:j] if v is not None]


def _observed_figures(f: _Fold, sid: str, window: float) -> dict[str, dict[str, float | None]]:
    """A step's {series: {before, during, after, peak}} by the rules of controlroom.metrics.observed, over the
    report's sorted sample arrays (bisect instead of a scan per phase, so a million samples stay cheap)."""
    faults = [fl for fl in f.faults.values() if fl.step == sid]
    injected = [fl.injected_at for fl in faults if fl.injected_at is not None]
    injecting = [fl.injecting_at for fl in faults if fl.injecting_at is not None]
    if not injected and not injecting:
        return {}
    inject = min(injected) if injected else min(injecting)
    opened = min(injecting) if injecting else inject
    st = f.steps.get(sid) or {}
    end = float(st["completed_at"]) if st.get("completed_at") is not None else f.last_mono
    reverts = [fl.reverted_at for fl in f.faults.values() if fl.reverted_at is not None and opened <= fl.reverted_at <= end]
    reverts += [float(r["started_at"]) for r in f.rollbacks if r["started_at"] is not None and opened <= r["started_at"] <= end]
    revert = min(reverts) if reverts else None
    seconds = next((r["seconds"] for r in reversed(f.recoveries) if r["step"] == sid), None)
    recovery = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    until = revert if revert is not None else end
    recovered = until + recovery
    out: dict[str, dict[str, float | None]] = {}
    names = [str(n) for n in f.started.get("series") or []]
    names += [n for n in f.series if n not in names]
    for name in names:
        s = f.series.get(name) or _Series()
        before = _mean(_values_between(s, inject - window, inject, closed=False))
        during = _mean(_values_between(s, inject, until, closed=False))
        after = _mean(_values_between(s, recovered, end, closed=True)) if revert is not None else None
        faulted = _values_between(s, inject, recovered, closed=revert is None)
        peak: float | None = None
        if faulted:
            base = before
            peak = max(faulted) if base is None else max(faulted, key=lambda v: abs(v - base))
        out[name] = {"before": before, "during": during, "after": after, "peak": peak}
    return out


def _steps_out(f: _Fold, dv: _Derive, journal: Journal) -> list[dict[str, Any]]:
    """Steps in order with their observed figures: the engine's `observed` event, else the same figures recomputed."""
    faulted = {fl.step for fl in f.faults.values() if fl.start is not None}
    missing = [s for s in f.step_order if s in faulted and s not in f.observed]
    computed: dict[str, Any] = {}
    if missing:
        try:
            window = parse_duration(_section(dv.source, "steady_state").get("window", "10s"))
        except UnitError:
            window = 10.0
        computed = {s: _observed_figures(f, s, window) for s in missing}
    out = []
    for sid in f.step_order:
        obs = f.observed.get(sid)
        source = "engine" if obs is not None else ("computed" if sid in computed else None)
        out.append({**f.steps[sid], "observed": obs if obs is not None else computed.get(sid),
                    "observed_source": source})
    return out


def _data_loss(dv: _Derive, windows: list[tuple[float, float]]) -> dict[str, Any] | None:
    """`data_loss: X must not drop`: the last value of X must not be below its last value before the first fault."""
    text = _section(dv.source, "success_criteria").get("data_loss")
    if not isinstance(text, str) or "must not drop" not in text:
        return None
    name = text.split("must not drop", 1)[0].strip()
    s = dv.f.series.get(name)
    if s is None or not windows:
        return {"name": "data_loss", "criterion": text, "met": None, "source": "computed", "detail": f"no samples of {name!r} to judge"}
    i0 = bisect.bisect_left(s.monos, windows[0][0])
    before = [v for v in s.values[:i0] if v is not None]
    last = [v for v in s.values if v is not None]
    if not before or not last:
        return {"name": "data_loss", "criterion": text, "met": None, "source": "computed", "detail": f"too few samples of {name!r}"}
    dropped = last[-1] < before[-1]
    return {"name": "data_loss", "criterion": text, "met": not dropped, "source": "computed",
            "detail": f"{name}: {before[-1]:g} before the faults, {last[-1]:g} at the end"}
