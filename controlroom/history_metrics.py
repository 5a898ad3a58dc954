"""Quality metrics over time for `controlroom history`: per service and overall, from the session summaries.

Every figure is derived from what the journals recorded (controlroom/history.py summarises each one through the
report); docs/history.md states each rule and the JSON schema (docs/history-schema.json). A rate is always a
count over a count ("3 of 4, 75 %"), and a rate over nothing is said as "no runs", never 0 % or 100 %.
The suggestions are rules, not judgement: each has a stable id and fires on a stated condition.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlroom.history import History, SessionSummary

HISTORY_FORMAT = "controlroom-history"
HISTORY_VERSION = 1
ALL = "(all)"  # the overall row's name in CSV

# Fault families the `never-tested-under` rule looks for, by fault type (controlroom/faults/catalogue.py).
FAMILIES: dict[str, frozenset[str]] = {
    "latency": frozenset({"latency", "http-latency", "chaos-network-delay", "chaos-http-delay", "gremlin-latency",
                          "toxiproxy-latency"}),
    "partition": frozenset({"partition", "blackhole", "chaos-network-partition", "gremlin-blackhole",
                            "toxiproxy-down"}),
    "instance loss": frozenset({"process-kill", "pod-kill", "service-stop", "chaos-container-kill",
                                "chaos-pod-failure", "litmus-pod-delete", "gremlin-process_killer",
                                "gremlin-shutdown"}),
}
SLOWER_RUNS = 3  # `recovery-slower`: the last this many runs, each slower than the one before


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def percent(self) -> float | None:
        return None if self.of == 0 else round(100.0 * self.count / self.of, 1)

    def text(self, none: str = "no runs") -> str:
        if self.of == 0:
            return none
        return f"{self.count} of {self.of}, {self.percent:g} %"

    def json(self) -> dict[str, Any]:
        return {"count": self.count, "of": self.of, "percent": self.percent}


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile: a value that was measured, never an interpolation."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(0.95 * len(v)) - 1)]


def _in_scope(s: SessionSummary, service: str | None) -> set[str]:
    """The session's targets that belong to `service` (every target for the overall figures)."""
    if service is None:
        return set(s.targets) | set(s.service_of)
    return {t for t, svc in s.service_of.items() if svc == service}


def metrics(sessions: list[SessionSummary], service: str | None = None) -> dict[str, Any]:
    """The figures of one service (None: overall) over sessions sorted oldest first."""
    runs = [s for s in sessions if service is None or _in_scope(s, service)]
    judged = [s for s in runs if s.validated is not None]
    rolled = [s for s in runs if s.rollback]
    contained = [s for s in runs if s.contained is not None]
    recs = []
    faulted_runs = []
    unconfirmed_runs = []
    faulted: list[tuple[str, bool]] = []
    fault_types: set[str] = set()
    for s in runs:
        mine = _in_scope(s, service)
        recs += [r for r in s.recoveries if service is None or set(r.targets) & mine]
        hits = [f for f in s.faulted if f.target in mine]
        fault_types |= {f.fault_type for f in hits}
        per_target: dict[str, bool] = {}
        for f in hits:
            per_target[f.target] = per_target.get(f.target, False) or f.observed
        faulted += list(per_target.items())
        if hits or any(t in mine for t in s.unconfirmed):
            faulted_runs.append(s)
        if any(t in mine for t in s.unconfirmed):
            unconfirmed_runs.append(s)
    measured = [r.seconds for r in recs if r.seconds is not None]
    within = sum(1 for r in recs if r.seconds is not None and r.seconds <= r.criterion_s)
    modes = Counter(m for s in runs for m in dict.fromkeys(s.failure_modes))
    trend = []
    for s in runs:
        score = s.score if service is None else s.service_scores.get(service)
        trend.append({"session": s.id, "started": s.started.isoformat(), "score": score})
    return {
        "service": service,
        "experiments": len(runs),
        "hypothesis_validated": Rate(sum(1 for s in judged if s.validated), len(judged)),
        "rollbacks": Rate(len(rolled), len(runs)),
        "rollbacks_automatic": sum(1 for s in rolled if s.rollback == "automatic"),
        "rollbacks_manual": sum(1 for s in rolled if s.rollback == "manual"),
        "contained": Rate(sum(1 for s in contained if s.contained), len(contained)),
        "recovery": {"measurements": len(recs), "mean_s": round(sum(measured) / len(measured), 3) if measured else None,
                     "p95_s": p95(measured), "within_criterion": Rate(within, len(recs)),
                     "never_recovered": sum(1 for r in recs if r.seconds is None),
                     "criteria_s": sorted({r.criterion_s for r in recs})},
        "safety_compliance": Rate(len(faulted_runs) - len(unconfirmed_runs), len(faulted_runs)),
        "unconfirmed_reverts": [{"session": s.id, "started": s.started.isoformat(),
                                 "targets": sorted(t for t in s.unconfirmed if t in _in_scope(s, service))}
                                for s in unconfirmed_runs],
        "observability": Rate(sum(1 for _, ok in faulted if ok), len(faulted)),
        "unobserved_targets": sorted({t for t, ok in faulted if not ok}),
        "fault_types": sorted(fault_types),
        "failure_modes": dict(sorted(modes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "score_trend": trend,
    }


def services_of(sessions: list[SessionSummary]) -> list[str]:
    return sorted({svc for s in sessions for svc in s.service_of.values()})


def suggestions(sessions: list[SessionSummary], per_service: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rule-based suggestions (docs/history.md lists the rules), in service order."""
    out: list[dict[str, str]] = []
    for m in per_service:
        svc = m["service"]
        if m["fault_types"]:
            for family, types in FAMILIES.items():
                if not types & set(m["fault_types"]):
                    out.append({"rule": "never-tested-under", "service": svc,
                                "text": f"{svc} has never been tested under {family}"})
        slowest: list[float] = []
        for s in sessions:
            mine = _in_scope(s, svc)
            secs = [r.seconds for r in s.recoveries if set(r.targets) & mine and r.seconds is not None]
            if secs:
                slowest.append(max(secs))
        last = slowest[-SLOWER_RUNS:]
        if len(last) == SLOWER_RUNS and all(a < b for a, b in pairwise(last)):
            out.append({"rule": "recovery-slower", "service": svc,
                        "text": f"recovery for {svc} got slower over the last {SLOWER_RUNS} runs: "
                                + " → ".join(f"{x:g} s" for x in last)})
        if m["unconfirmed_reverts"]:
            u = m["unconfirmed_reverts"][-1]
            out.append({"rule": "unconfirmed-revert", "service": svc,
                        "text": f"{svc} had an unconfirmed revert ({', '.join(u['targets'])}, session "
                                f"{u['session'][:12]} on {u['started'][:10]}): fix its revert before the next game day"})
        if m["unobserved_targets"]:
            out.append({"rule": "unobserved-fault", "service": svc,
                        "text": f"{svc}: {', '.join(m['unobserved_targets'])} was faulted with no metric observing "
                                "it: add a series named after the target or its service"})
    return out


def _metrics_json(m: dict[str, Any]) -> dict[str, Any]:
    out = dict(m)
    for k in ("hypothesis_validated", "rollbacks", "contained", "safety_compliance", "observability"):
        out[k] = m[k].json()
    out["recovery"] = {**m["recovery"], "within_criterion": m["recovery"]["within_criterion"].json()}
    return out


def history_json(h: History, *, service: str | None, since: str | None, now: str) -> dict[str, Any]:
    per = [metrics(h.sessions, svc) for svc in ([service] if service else services_of(h.sessions))]
    return {
        "format": HISTORY_FORMAT, "version": HISTORY_VERSION, "generated": now, "directory": str(h.directory),
        "filters": {"service": service, "since": since},
        "sessions": [{"id": s.id, "name": s.name, "started": s.started.isoformat(), "status": s.shown_status,
                      "score": s.score, "journal": str(s.path)} for s in h.sessions],
        "overall": _metrics_json(metrics(h.sessions)),
        "services": [_metrics_json(m) for m in per],
        "suggestions": suggestions(h.sessions, per),
        "skipped": list(h.skipped), "warnings": list(h.warnings),
    }


CSV_COLUMNS = ("service", "experiments", "validated", "judged", "validated_pct", "rollbacks", "rollbacks_automatic",
               "rollbacks_manual", "rollback_pct", "contained", "containment_judged", "contained_pct",
               "recoveries", "recovery_mean_s", "recovery_p95_s", "within_criterion", "within_criterion_pct",
               "never_recovered", "compliant", "faulted_sessions", "safety_compliance_pct", "observed_targets",
               "faulted_targets", "observability_pct", "failure_modes", "scores")


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def history_csv(h: History, *, service: str | None) -> str:
    """One row per service, then the overall row (service `(all)`); an empty cell is a rate over no runs."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    rows = [metrics(h.sessions, svc) for svc in ([service] if service else services_of(h.sessions))]
    rows.append(metrics(h.sessions))
    for m in rows:
        rec = m["recovery"]
        w.writerow([m["service"] or ALL, m["experiments"],
                    m["hypothesis_validated"].count, m["hypothesis_validated"].of,
                    _cell(m["hypothesis_validated"].percent),
                    m["rollbacks"].count, m["rollbacks_automatic"], m["rollbacks_manual"], _cell(m["rollbacks"].percent),
                    m["contained"].count, m["contained"].of, _cell(m["contained"].percent),
                    rec["measurements"], _cell(rec["mean_s"]), _cell(rec["p95_s"]), rec["within_criterion"].count,
                    _cell(rec["within_criterion"].percent), rec["never_recovered"],
                    m["safety_compliance"].count, m["safety_compliance"].of, _cell(m["safety_compliance"].percent),
                    m["observability"].count, m["observability"].of, _cell(m["observability"].percent),
                    ";".join(f"{k}:{v}" for k, v in m["failure_modes"].items()),
                    " ".join("-" if t["score"] is None else f"{t['score']:g}" for t in m["score_trend"])])
    return buf.getvalue()


def render_metrics(m: dict[str, Any]) -> list[str]:
    """The quality figures of one service (or overall) as text lines."""
    rec = m["recovery"]
    name = m["service"] or "all services"
    if not m["experiments"]:
        return [f"{name}: no runs"]
    crit = "/".join(f"{c:g} s" for c in rec["criteria_s"]) or "–"
    if not rec["measurements"]:
        recovery = "no recovery measured"
    elif rec["mean_s"] is None:
        recovery = f"never recovered in {rec['never_recovered']} of {rec['measurements']}"
    else:
        recovery = (f"mean {rec['mean_s']:g} s · p95 {rec['p95_s']:g} s · within the criterion ({crit}) "
                    f"{rec['within_criterion'].text()}")
        if rec["never_recovered"]:
            recovery += f" · never recovered {rec['never_recovered']}"
    scores = [t["score"] for t in m["score_trend"] if t["score"] is not None]
    lines = [
        f"{name}: {m['experiments']} experiment(s)",
        f"  hypothesis validated   {m['hypothesis_validated'].text('no runs judged')}",
        f"  rollbacks              {m['rollbacks'].text()} (automatic {m['rollbacks_automatic']}, "
        f"manual {m['rollbacks_manual']})",
        f"  blast radius held      {m['contained'].text('no runs reached a fault step')}",
        f"  recovery               {recovery}",
        f"  reverts all confirmed  {m['safety_compliance'].text('no runs faulted it')}"
        + (f" · unconfirmed in {len(m['unconfirmed_reverts'])}" if m["unconfirmed_reverts"] else ""),
        f"  observed while faulted {m['observability'].text('no runs faulted it')}"
        + (f" · unobserved: {', '.join(m['unobserved_targets'])}" if m["unobserved_targets"] else ""),
        "  failure modes          " + (", ".join(f"{k} {v}×" for k, v in m["failure_modes"].items()) or "none"),
        "  score trend            " + (" → ".join(f"{x:g}" for x in scores) if scores else "no score"),
    ]
    return lines


def render_quality(h: History, *, service: str | None) -> str:
    """The text section `history` prints after its session table."""
    per = [metrics(h.sessions, svc) for svc in ([service] if service else services_of(h.sessions))]
    out = ["Quality over time (docs/history.md says how each figure is derived):"]
    for m in [*per, metrics(h.sessions)] if not service else per:
        out += render_metrics(m)
    rules = suggestions(h.sessions, per)
    out.append("")
    out.append("Suggestions (rules, not judgement; docs/history.md lists them):" if rules else
               "Suggestions: none of the rules fired")
    out += [f"  [{r['rule']}] {r['text']}" for r in rules]
    return "\n".join(out) + "\n"
