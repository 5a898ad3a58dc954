"""`controlroom history`: every recorded game day in the journal directory, with outcome and score trends.

Each journal is reported (controlroom.report) and summarised; the summaries are
filtered by service and age, and printed as plain text with unicode sparklines,
so the core stays free of any UI library.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controlroom.errors import ControlroomError, JournalError
from controlroom.formats import sparkline
from controlroom.history_cache import SummaryCache
from controlroom.history_metrics import history_csv, history_json, render_quality
from controlroom.journal.reader import JournalStream
from controlroom.paths import journal_dir
from controlroom.report.build import build_report_parts
from controlroom.report.charts import text_bar
from controlroom.report.derive import Derive
from controlroom.report.model import DEFAULT_RECOVERY_CRITERION_S

_SINCE_RE = re.compile(r"\s*([0-9]+)\s*(h|d|w)\s*")
_SINCE_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}


class HistoryError(ControlroomError):
    """Bad `history` arguments (an unreadable directory, a malformed --since)."""


@dataclass(frozen=True)
class Recovery:
    """One step's recovery: seconds until the steady state was back (None: it never came back)."""

    step: str
    targets: tuple[str, ...]
    seconds: float | None
    criterion_s: float


@dataclass(frozen=True)
class Faulted:
    """A target a fault was in effect on, and whether a metric observed it meanwhile (docs/history.md)."""

    target: str
    fault_type: str
    observed: bool


@dataclass(frozen=True)
class SessionSummary:
    path: Path
    id: str
    name: str
    started: datetime
    status: str
    score: float | None
    targets: tuple[str, ...]
    services: tuple[str, ...]
    service_scores: dict[str, float] = field(default_factory=dict)
    failure_modes: tuple[str, ...] = ()  # insight ids with severity warning or critical
    damaged: int = 0  # journal lines the reader skipped
    outcome: str | None = None  # the engine's word (`preflight-failed`), where `status` folds it into "failed"
    injected: bool = True  # a fault was sent during the session
    # The quality figures (controlroom/history_metrics.py, docs/history.md says how each is derived):
    service_of: dict[str, str] = field(default_factory=dict)  # target -> its `service` label, else its name
    validated: bool | None = None  # the report's hypothesis.validated
    rollback: str | None = None  # "automatic" (the scenario's rules, by StopKind), "manual" (a person), None
    contained: bool | None = None  # blast radius held; None when no fault step was reached
    containment: tuple[str, ...] = ()  # why it was not held
    recoveries: tuple[Recovery, ...] = ()
    unconfirmed: tuple[str, ...] = ()  # targets whose revert was not confirmed
    faulted: tuple[Faulted, ...] = ()

    @property
    def shown_status(self) -> str:
        """What a reader should take from the row: a pre-flight that refused is not a failed experiment."""
        if self.outcome == "preflight-failed":
            return "pre-flight refused"
        return self.status


@dataclass
class History:
    directory: Path
    sessions: list[SessionSummary]
    skipped: list[str]  # "path: why" for files that are not readable journals
    warnings: list[str] = field(default_factory=list)  # journals shown, but with damaged lines skipped
    read: int = 0  # journals summarised, before --service and --since filtered them


def parse_since(text: str) -> timedelta:
    """'30d', '12h', '2w' -> a timedelta."""
    m = _SINCE_RE.fullmatch(text)
    if not m:
        raise HistoryError(f"--since {text!r}: give an age with a unit, such as 12h, 30d or 2w")
    return timedelta(seconds=int(m.group(1)) * _SINCE_UNITS[m.group(2)])


def _when(value: Any, fallback: Path) -> datetime:
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(fallback.stat().st_mtime, tz=UTC)


BLAST_REFUSAL = "blast radius:"  # how the engine's runtime blast-radius refusal starts its `warning` (engine/session.py)


def _containment(r: dict[str, Any]) -> tuple[bool | None, tuple[str, ...]]:
    """Was the blast radius held? Not held: the engine refused a step at run time for its blast radius, a target
    outside its step's plan changed state, or more targets were faulted at once than `limits.max_targets`.
    None when no fault step was reached (nothing to hold)."""
    why = [str(w["message"]) for w in r["warnings"] if str(w.get("message", "")).startswith(BLAST_REFUSAL)]
    br = r["blast_radius"]
    if br["outside_plan"]:
        why.append("changed state outside the plan: " + ", ".join(br["outside_plan"]))
    limit = (br.get("limits") or {}).get("max_targets")
    if isinstance(limit, int) and br["max_concurrent_targets"] > limit:
        why.append(f"{br['max_concurrent_targets']} targets faulted at once, over max_targets {limit}")
    if not r["faults"] and not why:
        return None, ()
    return not why, tuple(why)


def _rollback_kind(r: dict[str, Any]) -> str | None:
    """By the stop's kind (StopKind), never its text: the report marks each rollback `automatic` from it."""
    rbs = r["execution"]["rollbacks"]
    if not rbs:
        return None
    return "automatic" if any(x["automatic"] for x in rbs) else "manual"


def _observed_targets(r: dict[str, Any], dv: Derive) -> tuple[Faulted, ...]:
    """Each target a fault was in effect on, observed when a series sampled inside its fault windows is its own
    (named after it or its service, the report's attribution rule) or belongs to no target (the system under
    test); a series attributed to another target does not observe this one. docs/history.md states the rule."""
    out: list[Faulted] = []
    seen: set[tuple[str, str]] = set()
    names = list(dv.f.series.info)
    for fl in r["faults"]:
        t = str(fl["target"])
        if fl["window"] is None or (t, str(fl["type"])) in seen:
            continue
        seen.add((t, str(fl["type"])))
        wins = dv.windows(target=t)
        mine = {None, t, f"service={dv.labels.get(t, {}).get('service')}"}
        observed = any(dv.attribution(n) in mine and dv.in_windows(n, wins).present for n in names)
        out.append(Faulted(t, str(fl["type"]), observed))
    return tuple(out)


def summarize(path: Path) -> SessionSummary:
    """One journal -> its summary. Raises JournalError for files that are not readable journals."""
    journal = JournalStream(path)  # read a block at a time: a long game day costs no more memory than a short one
    r, dv = build_report_parts(journal)
    first = next(iter(journal.iter_events()), None)
    started = first.data if first is not None and first.type == "session-started" else {}
    targets: list[str] = []
    services: set[str] = set()
    service_of: dict[str, str] = {}
    for t in started.get("targets") or []:
        if isinstance(t, dict):
            name = str(t.get("name"))
            targets.append(name)
            label = (t.get("labels") or {}).get("service")
            service_of[name] = str(label) if label else name
            if label:
                services.add(str(label))
    for t in r["score"]["targets"]:
        if t["service"]:
            services.add(t["service"])
            service_of.setdefault(t["target"], t["service"])
    all_targets = sorted(set(targets) | set(r["blast_radius"]["affected_targets"]))
    for t in all_targets:
        service_of.setdefault(t, t)
    step_targets: dict[str, set[str]] = {}
    for fl in r["faults"]:
        step_targets.setdefault(str(fl["step"]), set()).add(str(fl["target"]))
    contained, containment = _containment(r)
    crit = r["recovery"]["criterion_s"]
    crit = float(crit) if crit is not None else DEFAULT_RECOVERY_CRITERION_S  # the score's default, docs/report.md
    return SessionSummary(
        path=path, id=r["experiment"]["id"], name=r["experiment"]["name"],
        started=_when(r["execution"]["started"], path), status=r["status"], score=r["score"]["overall"],
        targets=tuple(all_targets),
        services=tuple(sorted(services)),
        service_scores={s["service"]: s["total"] for s in r["score"]["services"]},
        failure_modes=tuple(i["id"] for i in r["insights"] if i["severity"] in ("warning", "critical")),
        damaged=journal.skipped,
        outcome=r.get("outcome"),
        injected=bool(r["faults"]),
        service_of=service_of,
        validated=r["hypothesis"]["validated"],
        rollback=_rollback_kind(r),
        contained=contained,
        containment=containment,
        recoveries=tuple(Recovery(str(m["step"]), tuple(sorted(step_targets.get(str(m["step"]), ()))),
                                  None if m.get("seconds") is None else float(m["seconds"]),
                                  float(m["criterion_s"]) if m.get("criterion_s") is not None else crit)
                         for m in r["recovery"]["measurements"]),
        unconfirmed=tuple(r["blast_radius"]["unconfirmed"]),
        faulted=_observed_targets(r, dv),
    )


def summary_to_json(s: SessionSummary) -> dict[str, Any]:
    return {"path": str(s.path), "id": s.id, "name": s.name, "started": s.started.isoformat(), "status": s.status,
            "score": s.score, "targets": list(s.targets), "services": list(s.services),
            "service_scores": s.service_scores, "failure_modes": list(s.failure_modes), "damaged": s.damaged,
            "outcome": s.outcome, "injected": s.injected, "service_of": s.service_of, "validated": s.validated,
            "rollback": s.rollback, "contained": s.contained, "containment": list(s.containment),
            "recoveries": [{"step": x.step, "targets": list(x.targets), "seconds": x.seconds,
                            "criterion_s": x.criterion_s} for x in s.recoveries],
            "unconfirmed": list(s.unconfirmed),
            "faulted": [{"target": x.target, "fault_type": x.fault_type, "observed": x.observed} for x in s.faulted]}


def _num(v: Any, *, none: bool = False) -> float | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a number")
    return float(v)


def _opt_bool(v: Any) -> bool | None:
    if v is not None and not isinstance(v, bool):
        raise TypeError("a boolean or null")
    return v


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise TypeError("a list of strings")
    return tuple(v)


def summary_from_json(d: dict[str, Any]) -> SessionSummary:
    """The summary a cache entry holds; TypeError/ValueError/KeyError when a field is missing or of a wrong type."""
    def text(key: str) -> str:
        if not isinstance(d[key], str):
            raise TypeError(key)
        return str(d[key])

    def texts(key: str) -> tuple[str, ...]:
        return _strs(d[key])

    score = d["score"]
    scores = d["service_scores"]
    if (score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)))) \
            or not isinstance(scores, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                                       for k, v in scores.items()) \
            or not isinstance(d["damaged"], int) or not isinstance(d["injected"], bool) \
            or not (d["outcome"] is None or isinstance(d["outcome"], str)):
        raise TypeError("summary fields")
    started = datetime.fromisoformat(text("started"))
    if started.tzinfo is None:
        raise ValueError("started without a zone")
    service_of = d["service_of"]
    if not isinstance(service_of, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in service_of.items()):
        raise TypeError("service_of")
    if d["rollback"] not in (None, "automatic", "manual"):
        raise ValueError("rollback")
    recoveries = tuple(Recovery(str(text_of(x, "step")), _strs(x["targets"]), _num(x["seconds"], none=True),
                                float(_num(x["criterion_s"]) or 0.0)) for x in _dicts(d["recoveries"]))
    faulted = tuple(Faulted(text_of(x, "target"), text_of(x, "fault_type"), bool(_req_bool(x["observed"])))
                    for x in _dicts(d["faulted"]))
    return SessionSummary(
        path=Path(text("path")), id=text("id"), name=text("name"), started=started, status=text("status"),
        score=None if score is None else float(score), targets=texts("targets"), services=texts("services"),
        service_scores={str(k): float(v) for k, v in scores.items()}, failure_modes=texts("failure_modes"),
        damaged=int(d["damaged"]), outcome=d["outcome"], injected=bool(d["injected"]),
        service_of=dict(service_of), validated=_opt_bool(d["validated"]), rollback=d["rollback"],
        contained=_opt_bool(d["contained"]), containment=texts("containment"), recoveries=recoveries,
        unconfirmed=texts("unconfirmed"), faulted=faulted)


def _dicts(v: Any) -> list[dict[str, Any]]:
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise TypeError("a list of objects")
    return v


def text_of(d: dict[str, Any], key: str) -> str:
    if not isinstance(d[key], str):
        raise TypeError(key)
    return str(d[key])


def _req_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("a boolean")
    return v


def load_history(directory: Path, *, service: str | None = None, since: timedelta | None = None,
                 now: datetime | None = None, cache: SummaryCache | None = None) -> History:
    """Every journal in `directory`, summarised (from `cache` where a journal has not changed since: by default
    the user's private summary cache, see controlroom/history_cache.py), filtered and sorted by start."""
    if not directory.exists():
        return History(directory, [], [])
    if not directory.is_dir():
        raise HistoryError(f"{directory}: not a directory; give --dir the folder that holds the journals")
    now = now or datetime.now(UTC)
    sessions: list[SessionSummary] = []
    skipped: list[str] = []
    warnings: list[str] = []
    read = 0
    cache = cache if cache is not None else SummaryCache()
    for path in sorted(directory.glob("*.jsonl")):
        try:
            s = replace(cache.get(path, summarize, summary_to_json, summary_from_json), path=path)
        except JournalError as err:
            skipped.append(str(err))
            continue
        except Exception as err:  # one journal nobody can make sense of must not hide every other game day
            skipped.append(f"{path}: could not be summarised ({type(err).__name__}: {err}); "
                           f"`controlroom report {path}` shows more")
            continue
        read += 1
        if s.damaged:
            warnings.append(f"{path}: {s.damaged} damaged line(s) skipped; its figures may be incomplete")
        if since is not None and s.started < now - since:
            continue
        if service is not None and service not in s.services and service not in s.targets and service != s.name:
            continue
        sessions.append(s)
    sessions.sort(key=lambda s: s.started)
    if cache.problem:
        warnings.append(cache.problem)
    return History(directory, sessions, skipped, warnings, read)


def render_history(h: History, *, service: str | None = None, since: str | None = None) -> str:
    out: list[str] = []
    add = out.append
    scope = f" for {service}" if service else ""
    add(f"Game days in {h.directory}{scope}: {len(h.sessions)} session(s)")
    if not h.sessions and h.read:
        wanted = " and ".join(x for x in (f"--service {service}" if service else "",
                                          f"--since {since}" if since else "") if x)
        add(f"None of the {h.read} journal(s) here matched {wanted or 'the filter'}; "
            "--service matches a target's service label, a target name or the scenario name.")
    elif not h.sessions:
        add("No journals found. Sessions write them here by default; pass --dir to look elsewhere.")
    else:
        add("")
        name_w = min(32, max(len(s.name) for s in h.sessions))
        status_w = max(12, max(len(s.shown_status) for s in h.sessions))
        add(f"{'date (UTC)':<16} {'session':<12} {'scenario':<{name_w}} {'status':<{status_w}} {'score':>5} "
            f"{'':<20} journal")
        for s in h.sessions:
            score = "  –  " if s.score is None else f"{s.score:5.1f}"
            bar = text_bar(s.score, 20) if s.injected else "nothing injected".ljust(20)
            add(f"{s.started.astimezone(UTC):%Y-%m-%d %H:%M} {s.id[:12]:<12} {s.name[:name_w]:<{name_w}} "
                f"{s.shown_status:<{status_w}} {score} {bar} {s.path.name}")
        add("")
        # One trend per scenario: scores of different experiments are not one series.
        by_scenario: dict[str, list[SessionSummary]] = {}
        for s in h.sessions:
            by_scenario.setdefault(s.name, []).append(s)
        trends = [(name, [x.score for x in runs]) for name, runs in by_scenario.items()]
        if any(v is not None for _, scores in trends for v in scores):
            add("Score trend per scenario, oldest → newest:")
            for name, scores in trends:
                known = [x for x in scores if x is not None]
                if not known:
                    runs_of = by_scenario[name]
                    why = "unobserved" if any(x.status == "unobserved" for x in runs_of) else "nothing was injected"
                    add(f"  {name[:name_w]:<{name_w}} no score ({why})")
                    continue
                add(f"  {name[:name_w]:<{name_w}} {sparkline(scores, 30, whole=True):<30} last {known[-1]:5.1f} · "
                    f"min {min(known):5.1f} · max {max(known):5.1f} ({len(scores)} run(s))")
        counts = Counter(s.shown_status for s in h.sessions)
        add("Outcomes: " + " · ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        refused = sum(1 for s in h.sessions if s.outcome == "preflight-failed")
        if refused:
            add(f"  pre-flight refused {refused} session(s) before anything was injected")
        services = sorted({svc for s in h.sessions for svc in s.service_scores})
        if services:
            add("")
            add("Per service (sessions that faulted it):")
            for svc in services:
                vals = [s.service_scores[svc] for s in h.sessions if svc in s.service_scores]
                add(f"  {svc:<24} {sparkline(list(vals), 30, whole=True):<30} last {vals[-1]:5.1f} · mean "
                    f"{sum(vals) / len(vals):5.1f} ({len(vals)})")
        modes: dict[str, list[SessionSummary]] = {}
        for s in h.sessions:
            for m in dict.fromkeys(s.failure_modes):
                modes.setdefault(m, []).append(s)
        add("")
        if modes:
            add("Failure modes discovered (times, first seen):")
            for m, seen in sorted(modes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                first = seen[0]
                add(f"  {m:<22} {len(seen):>3}×  first {first.started:%Y-%m-%d} in {first.name} ({first.id[:12]})")
        else:
            add("Failure modes discovered: none")
        add("")
        out.append(render_quality(h, service=service).rstrip("\n"))
    for why in h.skipped:
        add(f"skipped: {why}")
    for why in h.warnings:
        add(f"warning: {why}")
    return "\n".join(out) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="controlroom history", description="Outcome and score trends across game days.")
    p.add_argument("--dir", type=Path, default=None, help=f"journal directory (default: {journal_dir()})")
    p.add_argument("--service", help="only sessions whose targets carry this service label (or this target name)")
    p.add_argument("--since", help="only sessions started within this age, e.g. 30d, 12h, 2w")
    p.add_argument("--format", default="text", help="text (default), json (docs/history-schema.json) or csv "
                                                    "(one row per service, then the overall row)")
    return p


FORMATS = ("text", "json", "csv")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.format not in FORMATS:
            raise HistoryError(f"--format {args.format!r}: give one of {', '.join(FORMATS)}")
        since = parse_since(args.since) if args.since else None
        h = load_history(args.dir or journal_dir(), service=args.service, since=since)
    except ControlroomError as err:
        print(f"controlroom history: {err}", file=sys.stderr)
        return err.exit_code
    if args.format == "json":
        doc = history_json(h, service=args.service, since=args.since,
                           now=datetime.now(UTC).isoformat(timespec="seconds"))
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        sys.stdout.write(history_csv(h, service=args.service))
    else:
        sys.stdout.write(render_history(h, service=args.service, since=args.since))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
