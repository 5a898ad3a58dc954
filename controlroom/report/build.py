"""A journal into the post-mortem: `build_report(journal)` returns plain JSON-able data shaped by
docs/report-schema.json. Everything comes from the journal alone, so a report can be rebuilt at any time, also
from the journal of a session that crashed (it is then marked incomplete).

The stages, each in its module: `fold` (the one pass over the events), `derive` (windows, series, recovery,
degradation), `score` (the resilience score), `criteria` (success criteria), `rules` (insights); this module
puts their answers together into the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controlroom.report import score as sc
from controlroom.report.criteria import score_meaning, success_criteria
from controlroom.report.derive import Derive, steps_out
from controlroom.report.fold import Fold, JournalLike, rnd
from controlroom.report.model import REPORT_FORMAT, REPORT_VERSION, WEIGHTS, is_success_series


def _target_service(labels: dict[str, dict[str, str]], target: str) -> str | None:
    return labels.get(target, {}).get("service")


def build_report(journal: JournalLike) -> dict[str, Any]:
    """The post-mortem of one session as JSON-able data (see docs/report-schema.json and docs/report.md)."""
    return build_report_parts(journal)[0]


def build_report_parts(journal: JournalLike) -> tuple[dict[str, Any], Derive]:
    """The report and the derivation it was built from (for `history`, which asks the samples more questions
    than the report answers, without a second pass over the journal)."""
    f = Fold(journal)
    f.run()
    dv = Derive(f)
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
        rates = [dv.in_windows(n, wins) for n in success_names]  # success ratios in the windows, as sums
        recs = [(r.get("seconds"), r.get("criterion_s") if r.get("criterion_s") is not None else crit)
                for r in recoveries if r["step"] in steps_of_t]
        tj, tw = dv.judged_samples(wins)
        degr = sc.degradation_score(tj, tw)
        if degr is None and dv.stop and wins:
            degr = 0.0 if any(any(a <= (b["mono"] or 0) <= z for a, z in wins) for b in f.breaches) else 100.0
        components = {
            "availability": sc.availability(sum(a.ratio_total for a in rates), sum(a.present for a in rates)),
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

    criteria, met = success_criteria(f, dv, recoveries, crit, all_windows)

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
            "duration_s": rnd(f.last_mono),
            "auto_rollback": any(r["automatic"] for r in rollbacks),
            "rollbacks": rollbacks,
            "emergency_stops": f.stops,
            "exit_code": f.ended.get("exit_code") if f.ended else None,
            "message": str(f.ended.get("message") or "") if f.ended else "",
        },
        "steps": steps_out(f, dv, journal),
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
            "meaning": score_meaning(status, validated, dv.damaged),
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
    return report, dv
