"""Insights and recommendations: small rules, each reading the built report and saying what to do next.

Every rule is a function `(report) -> list[insight]`; an insight is
{id, severity (critical | warning | info), finding, recommendation}. The ids are
stable: `history` counts them across game days as the failure modes discovered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controlroom.journal.events import StopKind

Insight = dict[str, Any]
Rule = Callable[[dict[str, Any]], list[Insight]]


def _insight(id_: str, severity: str, finding: str, recommendation: str) -> Insight:
    return {"id": id_, "severity": severity, "finding": finding, "recommendation": recommendation}


def incomplete_session(r: dict[str, Any]) -> list[Insight]:
    if r["status"] != "incomplete":
        if r["incomplete"]:  # the session ended, but the reader skipped damaged lines
            return [_insight("damaged-journal", "warning",
                             "Damaged journal lines were skipped; what they recorded is missing from this report.",
                             "Keep journals on a disk that is not full, and never edit one by hand; the lines "
                             "skipped are listed under Journal warnings.")]
        return []
    active = [f"{f['fault']} on {f['target']}" for f in r["faults"] if f["status"] == "possibly-active"]
    finding = "The session ended without session-ended: the control room crashed or was killed."
    if active:
        finding += f" Possibly still active: {', '.join(active)}."
    return [_insight("incomplete-session", "critical", finding,
                     f"Run `controlroom recover {r['experiment']['journal']}` to revert anything left behind, "
                     "then check the leash covered the faults.")]


def stop_condition_fired(r: dict[str, Any]) -> list[Insight]:
    if not r["breaches"]:
        return []
    conds = sorted({b["condition"] for b in r["breaches"]})
    auto = r["execution"]["auto_rollback"]
    return [_insight("stop-condition-fired", "warning",
                     f"Stop condition fired: {', '.join(conds)}" + ("; everything was rolled back automatically." if auto else "."),
                     "The system did not tolerate this fault: find out which dependency failed first, add a timeout, "
                     "retry budget or fallback for it, and rerun the step at a lower intensity first.")]


def slow_recovery(r: dict[str, Any]) -> list[Insight]:
    out = []
    crit = r["recovery"]["criterion_s"]
    for m in r["recovery"]["measurements"]:
        c = m.get("criterion_s") if m.get("criterion_s") is not None else crit
        if not m["held"]:
            if "stopped" in (m.get("detail") or ""):
                continue  # a facilitator stop, not a recovery failure
            out.append(_insight("no-recovery", "critical",
                                f"Step {m['step']}: the steady state did not come back after the revert.",
                                "Look for state the fault left behind (stuck connections, open circuit breakers, "
                                "exhausted pools) and make the service heal without a restart."))
        elif c is not None and m["seconds"] is not None and m["seconds"] > c:
            out.append(_insight("slow-recovery", "warning",
                                f"Step {m['step']}: recovery took {m['seconds']:g}s, over the {c:g}s criterion.",
                                "Shorten health-check intervals, connection and retry timeouts, or relax the criterion "
                                "if the business can accept it."))
    return out


def unconfirmed_reverts(r: dict[str, Any]) -> list[Insight]:
    targets = r["blast_radius"]["unconfirmed"]
    if not targets:
        return []
    return [_insight("unconfirmed-revert", "critical",
                     f"Reverts could not be confirmed on: {', '.join(targets)}.",
                     "Check those targets by hand now (tc qdisc show, nft list tables, stray stress-ng) and run "
                     f"`controlroom recover {r['experiment']['journal']}`; then fix the verify step of the fault.")]


def missing_capability(r: dict[str, Any]) -> list[Insight]:
    failed = r["preflight"]["failed"]
    if not failed:
        return []
    items = [f"{c['check']}" + (f" on {c['target']}" if c.get("target") else "") + (f": {c['detail']}" if c["detail"] else "")
             for c in failed]
    return [_insight("missing-capability", "warning", "Pre-flight found missing capabilities: " + "; ".join(items),
                     "Install the missing tool or kernel module on the target (e.g. `sch_netem` for latency), grant the "
                     "sudo rule, or mark the fault `optional: true` so the step runs without it.")]


def telemetry_lost(r: dict[str, Any]) -> list[Insight]:
    lost = r["telemetry"]["lost"]
    if not lost:
        return []
    srcs = sorted({x["source"] for x in lost})
    return [_insight("telemetry-lost", "warning", f"Telemetry was lost from: {', '.join(srcs)}.",
                     "Observability failed under the fault: run the metrics source off the faulted path, or give it "
                     "its own timeout and a redundant scrape.")]


def faults_failed(r: dict[str, Any]) -> list[Insight]:
    failed = [f for f in r["faults"] if f["status"] == "failed"]
    if not failed:
        return []
    return [_insight("fault-failed", "warning",
                     "Injection failed: " + "; ".join(f"{f['fault']} on {f['target']}: {f['error']}" for f in failed),
                     "Run `controlroom plan` against the scenario and the target to see the exact command, and "
                     "rehearse it in `controlroom lab` first.")]


def cascading(r: dict[str, Any]) -> list[Insight]:
    items = r["cascading_failures"]
    if not items:
        return []
    return [_insight("cascading-failure", "critical", "Failure spread beyond the faulted target: "
                     + "; ".join(i["detail"] for i in items),
                     "Add isolation between these services (bulkheads, timeouts, circuit breakers) and a scenario "
                     "that targets the dependency directly.")]


def not_graceful(r: dict[str, Any]) -> list[Insight]:
    d = r["degradation"]
    if d["graceful"] is not False or r["breaches"]:
        return []  # a breach already has its own insight
    return [_insight("not-graceful", "warning",
                     f"Series crossed stop thresholds on {d['samples_judged'] - d['samples_within']} of "
                     f"{d['samples_judged']} samples while faulted.",
                     "Degrade instead of failing: serve cached or partial answers, shed load early.")]


def steady_state_missing(r: dict[str, Any]) -> list[Insight]:
    bad = [s for s in r["steady_state"] if s["when"] == "before" and not s["ok"]]
    if not bad:
        return []
    return [_insight("steady-state-missing", "warning",
                     "The steady state did not hold before the first injection: " + ", ".join(bad[0]["failed"]),
                     "Fix the baseline (or the steady_state.require thresholds) before injecting anything.")]


def manual_stop(r: dict[str, Any]) -> list[Insight]:
    emergency = {k.value for k in StopKind if k.emergency}  # the key, `controlroom stop`, a signal: written once
    manual = [s for s in r["execution"]["emergency_stops"] if s["source"] in emergency]
    if not manual:
        return []
    by = f" by {manual[0]['by']}" if manual[0].get("by") else ""
    return [_insight("manual-stop", "info", f"The session was stopped by hand ({manual[0]['source']}{by}).",
                     "Write down in the notes why the facilitator stopped, so the next game day starts from it.")]


def hypothesis_held(r: dict[str, Any]) -> list[Insight]:
    if r["hypothesis"]["validated"] is not True:
        return []
    return [_insight("hypothesis-held", "info", "The hypothesis held under every fault.",
                     "Raise the stakes next time: a stronger fault, a longer duration, or one more target.")]


def unobserved(r: dict[str, Any]) -> list[Insight]:
    if r["status"] != "unobserved":
        return []
    return [_insight("unobserved", "info",
                     "The scenario was declared unobserved: its faults were injected and verified gone, but nothing "
                     "judged the system, so there is no verdict and no score.",
                     "Add metrics and a steady state or stop conditions to learn whether the system held.")]


def statements_not_judged(r: dict[str, Any]) -> list[Insight]:
    left = [c["name"] for c in r["success_criteria"]["criteria"] if c.get("kind") == "statement" and c["met"] is None]
    if not left:
        return []
    return [_insight("statements-not-judged", "warning",
                     f"{len(left)} statement(s) were not judged by anyone: {'; '.join(left)}.",
                     "Judge them in the room at the end of the session (a run with --yes asks nobody), or turn them "
                     "into conditions the engine can check.")]


def faults_lost(r: dict[str, Any]) -> list[Insight]:
    lost = [f for f in r["faults"] if f["status"] == "lost"]
    if not lost:
        return []
    return [_insight("fault-lost", "critical",
                     "Fault(s) were already gone before their revert: " + ", ".join(
                         f"{f['fault']} on {f['target']}" for f in lost)
                     + ". What the step observed was not the fault it planned.",
                     "Check who else touches these targets (another room, a deploy, a restart) and rerun the step.")]


def phase_validation_failed(r: dict[str, Any]) -> list[Insight]:
    bad = [c for c in r["success_criteria"]["criteria"] if c["name"].startswith("phase ") and c["met"] is False]
    if not bad:
        return []
    return [_insight("phase-validation-failed", "warning",
                     "Phase validation failed: " + "; ".join(f"{c['name']} ({c['detail']})" for c in bad) + ".",
                     "Stop the progression at the last phase that held and strengthen the system there first.")]


RULES: tuple[Rule, ...] = (
    incomplete_session, unconfirmed_reverts, cascading, stop_condition_fired, slow_recovery, missing_capability,
    telemetry_lost, faults_failed, not_graceful, steady_state_missing, manual_stop, hypothesis_held,
    unobserved, statements_not_judged, faults_lost, phase_validation_failed,
)


def derive_insights(report: dict[str, Any]) -> list[Insight]:
    out: list[Insight] = []
    for rule in RULES:
        out.extend(rule(report))
    return out
