"""Pre-flight: before anything is injected, prove every target reachable, every tool present, nothing to
clobber, the metrics answering and the blast radius within limits. Every check is journaled as it finishes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from controlroom.errors import PreflightError
from controlroom.faults.plan import FaultPlan
from controlroom.targets.base import Action, HttpRequest, Shell

if TYPE_CHECKING:
    from controlroom.engine.session import Session


def reachability_check(kind: str, url: str | None) -> Action | None:
    if kind in ("ssh", "local"):
        return Shell("true", timeout=10.0)
    if kind == "http" and url:
        # Any HTTP answer proves the admin endpoint is there; the fault's own verify says whether it is clean.
        return HttpRequest("GET", url.rstrip("/") + "/", timeout=5.0, ok_status=tuple(range(100, 600)))
    return None


async def _check(session: Session, name: str, target: str | None, action: Action, message: str) -> tuple[bool, str]:
    assert target is not None
    res = await session.run_on(target, action)
    detail = "ok" if res.ok else f"{message}" + (f" ({res.detail})" if res.detail and res.detail not in message else "")
    session.emit("preflight-check", check=name, target=target, ok=res.ok, detail=detail)
    return res.ok, detail


async def run_preflight(session: Session) -> set[str]:
    """Run every check; return the ids of optional faults to skip. Raises PreflightError when unsafe to start."""
    sc = session.scenario
    failures: list[str] = []
    skip: set[str] = set()

    ok = sc.environment in sc.blast_radius.allowed_environments
    session.emit("preflight-check", check="environment", target=None, ok=ok,
                 detail="ok" if ok else f"environment {sc.environment!r} is not in blast_radius.allowed_environments")
    if not ok:
        failures.append(f"environment {sc.environment!r} is not allowed")

    plans: list[FaultPlan] = [p for sp in session.step_plans for p in sp.faults]
    targets = sorted({p.target for p in plans})
    reach_ok: dict[str, bool] = {}

    async def reach(name: str) -> None:
        t = sc.targets[name]
        action = reachability_check(t.kind, t.url)
        if action is None:
            reach_ok[name] = True
            return
        good, detail = await _check(session, "reachable", name, action, f"{name}: not reachable")
        reach_ok[name] = good
        if not good:
            failures.append(detail)

    await asyncio.gather(*(reach(n) for n in targets))

    # Two faults on one host often need the same tool: run each distinct check once per target.
    done: dict[tuple[str, str, str], asyncio.Future[tuple[bool, str]]] = {}

    async def once(name: str, target: str, action: Action, message: str) -> tuple[bool, str]:
        key = (target, name, repr(action))
        if key not in done:
            done[key] = asyncio.ensure_future(_check(session, name, target, action, message))
        return await done[key]

    async def plan_checks(plan: FaultPlan) -> None:
        if not reach_ok.get(plan.target, False):
            return
        for req in plan.requires:
            good, detail = await once(req.name, plan.target, req.check, req.message)
            if not good:
                if plan.spec.optional:
                    skip.add(plan.fault_id)
                    session.emit("warning", message=f"{detail}; optional fault {plan.fault_id} will be skipped")
                else:
                    failures.append(detail)
                return
        for action in plan.clobber_check:
            good, detail = await once(
                "nothing to clobber", plan.target, action,
                f"{plan.target}: a previous fault is still in place; run `controlroom recover JOURNAL` first")
            if not good:
                failures.append(detail)

    await asyncio.gather(*(plan_checks(p) for p in plans))

    for src in session.sources:
        try:
            await src.start()
            pre = getattr(src, "preflight", None)
            if pre is not None:
                for series, good, detail in await pre():
                    session.emit("preflight-check", check="metrics", target=series, ok=good, detail=detail)
                    if not good:
                        failures.append(detail)
            else:
                await src.sample()
                session.emit("preflight-check", check="metrics", target=src.name, ok=True, detail="answering")
        except Exception as err:
            detail = f"metrics source {src.name}: {err}"
            session.emit("preflight-check", check="metrics", target=src.name, ok=False, detail=detail)
            failures.append(detail)

    if failures:
        more = f" (and {len(failures) - 1} more, see the journal)" if len(failures) > 1 else ""
        raise PreflightError(f"pre-flight failed: {failures[0]}{more}")
    return skip
