"""`controlroom recover --force-finalizers`: the facilitator's explicit last resort for Chaos Mesh objects whose
deletion never completes (the controller cannot recover them, so it keeps its finalizer).

It annotates each of the crashed session's objects that is still there with Chaos Mesh's forced-clean
annotation (`chaos-mesh.chaos-mesh.org/cleanFinalizer: forced`): Chaos Mesh then drops its finalizer
WITHOUT recovering the pods, so the object goes but the fault may persist in them. That is why it is never
automatic, always printed as a warning first, and never reported clean: the pods must be checked (or
restarted) by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import Scenario
from controlroom.targets.base import KubeCall
from controlroom.targets.factory import ExecutorFactory

WARNING = ("WARNING: forcing Chaos Mesh finalizers off: the objects are removed WITHOUT recovering their pods; "
           "the fault may persist in them — check or restart those pods by hand")


def forcible(plan: FaultPlan) -> KubeCall | None:
    """The force-clean call for a Chaos Mesh plan (its revert deletes chaos-mesh.org objects), else None."""
    for action in plan.revert:
        if isinstance(action, KubeCall) and action.op == "delete-labelled" and \
                str(action.arg("version", "")).startswith("chaos-mesh.org/"):
            return KubeCall("force-clean", args=action.args, fault=action.fault, timeout=action.timeout)
    return None


async def force_finalizers(plans: list[FaultPlan], scenario: Scenario, factory: ExecutorFactory, session: str,
                           printer: Callable[[str], None]) -> None:
    calls = [(p, c) for p in plans if (c := forcible(p)) is not None]
    if not calls:
        printer("--force-finalizers: none of the unconfirmed faults is a Chaos Mesh object; nothing forced")
        return
    printer(WARNING)
    executors = {}
    try:
        for plan, _ in calls:
            if plan.target not in executors:
                ex = factory(scenario.targets[plan.target])
                bind = getattr(ex, "bind_session", None)
                if bind is not None:
                    bind(session)
                executors[plan.target] = ex
        answers = await asyncio.gather(*(executors[p.target].run(c) for p, c in calls))
        for (plan, _), answer in zip(calls, answers, strict=True):
            said = answer.stdout.strip() if answer.ok else answer.detail
            printer(f"  {plan.fault_id} on {plan.target}: finalizer forced off ({said}); fault may persist — "
                    "NOT clean")
    finally:
        for ex in executors.values():
            with contextlib.suppress(Exception):
                await ex.close()
