"""What the report derives from the fold, once the journal is read: fault windows, each series before, during
and after them, recovery, degradation and blast radius. Scores are in `score`, criteria in `criteria`.
"""

from __future__ import annotations

import bisect
from typing import Any

import yaml

from controlroom.journal.reader import Journal
from controlroom.metrics.observed import Figures, ObservedFold, mean, peak, worst
from controlroom.report.fold import Fault, Fold, Samples, rnd
from controlroom.report.model import (
    CHART_POINTS,
    DEGRADED_RELATIVE_CHANGE,
    Condition,
    parse_condition,
    series_direction,
)
from controlroom.units import UnitError, parse_duration


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


def section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """doc[key] when it is a mapping, else {}: the header's scenario text is read, not trusted to be valid."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def indices_within(monos: list[float], windows: list[tuple[float, float]]) -> list[range]:
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


class Derive:
    """Everything computed after the pass: windows, series summaries, recovery, blast radius, scores."""

    def __init__(self, f: Fold) -> None:
        self.f = f
        self.source = parse_source(f.header.get("scenario_text") or f.header.get("source_text"))
        self.stop = self._conditions("stop_when", lambda doc: section(doc, "stop_when").get("conditions"))
        self.stop += [c for c in (parse_condition(b["condition"]) for b in f.breaches) if c and c not in self.stop]
        self.steady_conds = self._conditions("steady", lambda doc: section(doc, "steady_state").get("require"))
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
        for name, spec in section(self.source, "targets").items():
            if isinstance(spec, dict) and str(name) not in labels:
                labels[str(name)] = {str(k): str(v) for k, v in section(spec, "labels").items()}
        return labels

    # ---- faults and windows -------------------------------------------------------------------------------

    def fault_end(self, f: Fault) -> float:
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
        return merge(out)

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
                "injected_at": rnd(f.start), "reverted_at": rnd(f.reverted_at),
                "window": None if f.start is None or status == "failed" else [rnd(f.start), rnd(self.fault_end(f))],
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
            s = self.f.series.get(name) or Samples()
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
                during = [vals[i] for r in indices_within(s.monos, all_windows) for i in r if vals[i] is not None]  # type: ignore[misc]
                after = [v for v in vals[i1:] if v is not None]
            b = mean(before)
            peak_ = peak(during, b)
            summary: dict[str, Any] = {
                "before": rnd(b), "during": rnd(mean(during)), "after": rnd(mean(after)), "peak": rnd(peak_),
                "worst": rnd(worst(during, direction, peak_)),
                "low": rnd(min(during)) if during else None, "high": rnd(max(during)) if during else None,
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
        return {"before": rnd(befores[0]) if befores else None, "during": rnd(mean(durings)),
                "after": rnd(afters[-1]) if afters else None, "peak": rnd(max(peaks)) if peaks else None,
                "worst": rnd(worst(peaks, direction, max(peaks) if peaks else None)),
                "low": None, "high": None, "source": "observed"}

    # ---- recovery -----------------------------------------------------------------------------------------

    def recovery_criterion(self) -> float | None:
        for r in self.f.recoveries:
            if isinstance(r.get("criterion_s"), (int, float)):
                return float(r["criterion_s"])
        raw = section(self.source, "success_criteria").get("recovery_time")
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
        return rnd(lost) if lost > 0 else None

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
            out.append({"step": sid, "seconds": rnd(seconds), "held": seconds is not None, "criterion_s": crit,
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
        return [s.values[i] for r in indices_within(s.monos, windows) for i in r if s.values[i] is not None]  # type: ignore[misc]

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
            return {"worst": rnd(worst), "reason": "crossed stop condition " + ", ".join(c.text for c in stops)}
        if steady and any(not c.holds(v) for c in steady for v in vals):
            bad = [c.text for c in steady if any(not c.holds(v) for v in vals)]
            return {"worst": rnd(worst), "reason": "left steady state " + ", ".join(bad)}
        if not stops and not steady and series["direction"] and series["before"]:
            base = float(series["before"])
            change = (base - worst) / abs(base) if series["direction"] == "up" else (worst - base) / abs(base)
            if change > DEGRADED_RELATIVE_CHANGE:
                return {"worst": rnd(worst), "reason": f"{change:.0%} worse than before the faults"}
        return None


def observed_figures(journal: Journal, steps: list[str], window: float) -> dict[str, dict[str, Figures]]:
    """Steps' {series: {before, during, after, peak}} where the journal has no `observed` event for them (an older
    or crashed session): by `metrics.observed.ObservedFold`, the very rules the engine wrote them with, over a
    second pass (only for such journals: the engine's own figures are used whenever they were written)."""
    fold = ObservedFold(window)
    for ev in journal.events:
        fold.feed(ev)
    return {s: fold.figures(s) for s in steps}


def steps_out(f: Fold, dv: Derive, journal: Journal) -> list[dict[str, Any]]:
    """Steps in order with their observed figures: the engine's `observed` event, else the same figures recomputed."""
    faulted = {fl.step for fl in f.faults.values() if fl.start is not None}
    missing = [s for s in f.step_order if s in faulted and s not in f.observed]
    computed: dict[str, Any] = {}
    if missing:
        try:
            window = parse_duration(section(dv.source, "steady_state").get("window", "10s"))
        except UnitError:
            window = 10.0
        computed = observed_figures(journal, missing, window)
    out = []
    for sid in f.step_order:
        obs = f.observed.get(sid)
        source = "engine" if obs is not None else ("computed" if sid in computed else None)
        out.append({**f.steps[sid], "observed": obs if obs is not None else computed.get(sid),
                    "observed_source": source})
    return out
