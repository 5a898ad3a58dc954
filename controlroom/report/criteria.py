"""The report's success criteria: the engine's verdicts where it wrote them, the report's own checks otherwise,
and statements as a person judged them (never met by default). Also the sentence said beside the score.
"""

from __future__ import annotations

from typing import Any

from controlroom.report.derive import Derive
from controlroom.report.fold import Fold, section
from controlroom.units import format_duration


def success_criteria(f: Fold, dv: Derive, recoveries: list[dict[str, Any]], crit: float | None,
                     all_windows: list[tuple[float, float]]) -> tuple[list[dict[str, Any]], bool | None]:
    """(criteria, met): every criterion with its verdict, and the verdict of them all (None: not all judged)."""
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
    loss = data_loss(dv, all_windows)
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
    for text in [str(x) for x in f.started.get("statements") or []]:
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
    return criteria, met


def data_loss(dv: Derive, windows: list[tuple[float, float]]) -> dict[str, Any] | None:
    """`data_loss: X must not drop`: the last value of X must not be below its last value before the first fault."""
    text = section(dv.source, "success_criteria").get("data_loss")
    if not isinstance(text, str) or "must not drop" not in text:
        return None
    name = text.split("must not drop", 1)[0].strip()
    sf = dv.f.series
    if name not in sf.info or not windows:
        return {"name": "data_loss", "criterion": text, "met": None, "source": "computed", "detail": f"no samples of {name!r} to judge"}
    before, last = sf.before(name, windows[0][0]).last, sf.everything(name).last
    if before is None or last is None:
        return {"name": "data_loss", "criterion": text, "met": None, "source": "computed", "detail": f"too few samples of {name!r}"}
    dropped = last < before
    return {"name": "data_loss", "criterion": text, "met": not dropped, "source": "computed",
            "detail": f"{name}: {before:g} before the faults, {last:g} at the end"}


def score_meaning(status: str, validated: bool | None, damaged: bool) -> str:
    """One sentence said next to the score, so a rolled-back session never reads as a pass (docs/report.md)."""
    if status == "unobserved":
        return "not computed: the scenario was declared unobserved, so nothing judged the system"
    if status == "incomplete" or damaged:
        return "partial: the journal is incomplete; the score covers what was recorded"
    if validated:
        return "the hypothesis held; the score grades how well the system behaved under the faults"
    return (f"the hypothesis did NOT hold ({status}); the score grades how the system behaved under the faults "
            "it met before the end, it is not a pass")
