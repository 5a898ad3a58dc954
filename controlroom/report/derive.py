"""What the report derives from the fold, once the journal is read: fault windows, each series before, during
and after them, recovery, degradation and blast radius. Scores are in `score`, criteria in `criteria`.
"""

from __future__ import annotations

from typing import Any

from controlroom.metrics.observed import mean, worst
from controlroom.report.fold import Fault, Fold, JournalLike, rnd, section
from controlroom.report.model import (
    DEGRADED_RELATIVE_CHANGE,
    series_direction,
)
from controlroom.report.series import Aggregate, SeriesInfo
from controlroom.units import UnitError, parse_duration


def merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Derive:
    """Everything computed after the pass: windows, series summaries, recovery, blast radius, scores."""

    def __init__(self, f: Fold) -> None:
        self.f = f
        self.source = f.source
        self.stop, self.steady_conds = f.conditions()
        self.labels = self._labels()
        self.incomplete = f.ended is None or f.ended.get("outcome") == "crashed"
        self.damaged = f.j.damaged  # lines skipped by the reader: the record has holes
        self.end_mono = f.last_mono

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
                "pods": list(f.pods), "recovered_s": rnd(f.recovered_s),
            })
            if status == "possibly-active":
                self.f.unconfirmed.add(f.target)
        return out

    # ---- series -------------------------------------------------------------------------------------------

    def series_out(self, all_windows: list[tuple[float, float]]) -> list[dict[str, Any]]:
        sf = self.f.series
        names = list(sf.info)
        for n in self.f.started.get("series") or []:
            if n not in sf.info:
                names.append(str(n))
        for obs in self.f.observed.values():
            for n in obs if isinstance(obs, dict) else {}:
                if n not in names:
                    names.append(str(n))
        first = all_windows[0][0] if all_windows else None
        last = all_windows[-1][1] if all_windows else None
        out = []
        for name in names:
            info = sf.info.get(name) or SeriesInfo(name)
            direction = series_direction(name, self.stop, self.steady_conds)
            if first is None or last is None:
                before, during, after = sf.everything(name), Aggregate(), Aggregate()
            else:
                before, during, after = sf.before(name, first), sf.over(name, all_windows), sf.since(name, last)
            b = before.mean
            peak_ = during.farthest_from(b)  # metrics.observed.peak's rule, from the extremes
            summary: dict[str, Any] = {
                "before": rnd(b), "during": rnd(during.mean), "after": rnd(after.mean), "peak": rnd(peak_),
                "worst": rnd(during.low if direction == "up" else during.high if direction == "down" else peak_),
                "low": rnd(during.low), "high": rnd(during.high),
                "source": "samples",
            }
            if info.samples == info.gaps and self.f.observed:
                summary = self._from_observed(name) or summary
            stops = [c for c in self.stop if c.series == name]
            out.append({
                "name": name, "direction": direction, "samples": info.samples, "gaps": info.gaps,
                "errors": info.errors, **summary,
                "stop_conditions": [c.text for c in stops],
                "steady_requirements": [c.text for c in self.steady_conds if c.series == name],
                "breached_samples": during.stop_held,
                "points": info.points.points(),
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
        ends = {sid: wins[-1][1] for sid in self.f.step_order if (wins := self.windows(step=sid))}
        if not ends or not self.steady_conds:
            return []
        found = self._first_steady_after(sorted(set(ends.values())))
        for sid, end in ends.items():
            seconds = found.get(end)
            if seconds is None and self.incomplete:
                continue  # the journal stops before recovery could be seen
            out.append({"step": sid, "seconds": rnd(seconds), "held": seconds is not None, "criterion_s": crit,
                        "source": "computed", "detail": "computed from samples against steady_state.require",
                        "after_stop": False})
        return out

    def _first_steady_after(self, ends: list[float]) -> dict[float, float]:
        """For each time in `ends` (sorted), the seconds from it to the first sample of the first required series
        at which every requirement holds on each series' latest value; a time never followed by one is left out.
        A second pass over the journal's samples (only for journals without the engine's recovery figures)."""
        conds = [c for c in self.steady_conds if c.series in self.f.series.info]
        if not conds:
            return {}
        lead = conds[0].series
        latest: dict[str, Any] = {}
        pending = list(ends)
        found: dict[float, float] = {}
        for ev in self.f.j.iter_events():
            if ev.type != "metric-sample":
                continue
            values = ev.data.get("values") or {}
            latest.update(values)
            t = ev.mono
            if lead not in values or not pending or t < pending[0]:
                continue
            if all((v := latest.get(c.series)) is not None and c.holds(v) for c in conds):
                while pending and pending[0] <= t:
                    end = pending.pop(0)
                    found[end] = t - end
                if not pending:
                    break
        return found

    # ---- degradation, cascade, blast radius ---------------------------------------------------------------

    def in_windows(self, name: str, windows: list[tuple[float, float]]) -> Aggregate:
        """What the samples of `name` inside the windows add up to (report/series.py)."""
        return self.f.series.over(name, windows)

    def judged_samples(self, windows: list[tuple[float, float]]) -> tuple[int, int]:
        """(samples judged, samples on which no stop condition held) inside the windows, per sample time."""
        names = {c.series for c in self.stop if c.series in self.f.series.info}
        judged = within = 0
        for name in names:
            agg = self.in_windows(name, windows)
            judged += agg.present
            within += agg.present - agg.stop_held
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
        agg = self.in_windows(name, windows)
        if not agg.present or agg.low is None or agg.high is None:
            return None
        stops = [c for c in self.stop if c.series == name]
        steady = [c for c in self.steady_conds if c.series == name]
        worst = agg.low if series["direction"] == "up" else agg.high
        if stops and agg.stop_held:
            return {"worst": rnd(worst), "reason": "crossed stop condition " + ", ".join(c.text for c in stops)}
        bad = [c.text for c in steady if agg.steady_failed.get(c)]
        if bad:
            return {"worst": rnd(worst), "reason": "left steady state " + ", ".join(bad)}
        if not stops and not steady and series["direction"] and series["before"]:
            base = float(series["before"])
            change = (base - worst) / abs(base) if series["direction"] == "up" else (worst - base) / abs(base)
            if change > DEGRADED_RELATIVE_CHANGE:
                return {"worst": rnd(worst), "reason": f"{change:.0%} worse than before the faults"}
        return None


def steps_out(f: Fold, dv: Derive, journal: JournalLike) -> list[dict[str, Any]]:
    """Steps in order with their observed figures: the engine's `observed` event, else the same figures recomputed."""
    faulted = {fl.step for fl in f.faults.values() if fl.start is not None}
    missing = [s for s in f.step_order if s in faulted and s not in f.observed]
    # By metrics.observed.ObservedFold, fed in the fold's pass: the very rules the engine writes them with.
    computed: dict[str, Any] = {s: f.observed_fold.figures(s) for s in missing}
    out = []
    for sid in f.step_order:
        obs = f.observed.get(sid)
        source = "engine" if obs is not None else ("computed" if sid in computed else None)
        out.append({**f.steps[sid], "observed": obs if obs is not None else computed.get(sid),
                    "observed_source": source})
    return out
