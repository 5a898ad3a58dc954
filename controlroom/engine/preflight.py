"""Pre-flight: before anything is injected, prove every target reachable (host key verified), every tool
present, nothing to clobber, the metrics answering and the environment allowed. Every check is journaled as
it finishes; hosts are checked in parallel.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from controlroom.engine.preflight_host import Check, preflight_host
from controlroom.errors import PreflightError
from controlroom.faults.plan import FaultPlan
from controlroom.targets.base import Action, HttpRequest

if TYPE_CHECKING:
    from controlroom.engine.session import Session


CLAIMED_KINDS = ("ssh", "local")


def http_reachability(url: str) -> Action:
    # Any HTTP answer proves the admin endpoint is there; the fault's own verify says whether it is clean.
    return HttpRequest("GET", url.rstrip("/") + "/", timeout=5.0, ok_status=tuple(range(100, 600)))


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
    by_target: dict[str, list[FaultPlan]] = {}
    for p in plans:
        by_target.setdefault(p.target, []).append(p)

    def journal(c: Check) -> None:
        session.emit("preflight-check", check=c.name, target=c.target, ok=c.ok, detail=c.detail)
        if c.name == "claim" and c.ok:
            # Renewed from this moment on by the heartbeat, so it cannot lapse during a long pre-flight.
            session.heartbeat.hold(c.target, sc.targets[c.target].sudo)
            if c.detail != "ok":
                session.emit("warning", message=c.detail)

    async def check_target(name: str) -> list[Check]:
        target = sc.targets[name]
        reach = http_reachability(target.url or "") if target.kind == "http" else None
        # Hosts (ssh, local) are claimed: one room at a time. HTTP services have no claim yet (docs/faults.md).
        claim = (session.heartbeat.host_claim().take(session.heartbeat.claim_window, target.sudo)
                 if target.kind in CLAIMED_KINDS else None)
        try:
            return await preflight_host(session.executor(name), by_target[name], on_check=journal, reach=reach,
                                        claim=claim)
        except Exception as err:  # an executor that cannot even be built is an unreachable target
            c = Check("reachable", name, False, f"{name}: {err}")
            journal(c)
            return [c]

    for name in sorted(by_target):  # shown as running until each host's answer replaces it
        session.emit("preflight-check", check="reachable", target=name, ok=None, detail="checking…")
    results = await asyncio.gather(*(check_target(n) for n in sorted(by_target)))
    for checks in results:
        for c in checks:
            if c.ok:
                continue
            # A missing capability only some optional faults need skips those faults instead of the session.
            needing = [p for p in by_target[c.target] if any(r.name == c.name for r in p.requires)]
            if needing and all(p.spec.optional for p in needing):
                skip.update(p.fault_id for p in needing)
                session.emit("warning", message=f"{c.detail}; optional fault(s) "
                                                f"{', '.join(p.fault_id for p in needing)} will be skipped")
            else:
                failures.append(c.detail)

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
