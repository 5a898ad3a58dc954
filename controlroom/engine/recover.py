"""`controlroom recover JOURNAL`: revert whatever a crashed session may have left active. Idempotent.

The journal says which injections were *announced* (`fault-injecting`, written
before anything was sent) and which were reverted and verified. Every announced
fault without a verified revert is first stopped where it may still be injecting
(`FaultPlan.stop_inject`), then reverted again from the scenario stored in the
journal's header, then verified, then its leash disarmed. Reverting a fault that
never landed is harmless: every revert is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from controlroom.engine.control import _pid_alive
from controlroom.engine.planning import plan_fault
from controlroom.engine.rollback import VERIFY_ATTEMPTS, VERIFY_PAUSE
from controlroom.errors import ControlroomError, JournalError
from controlroom.faults.plan import FaultPlan
from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import Scenario
from controlroom.targets.base import Action, ActionResult, Executor
from controlroom.targets.factory import ExecutorFactory, make_executor


def left_active(scenario: Scenario, events: list[Event]) -> list[FaultPlan]:
    announced: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.type == "fault-injecting":
            announced[e.data["fault"]] = e.data
        elif e.type == "fault-reverted" and e.data.get("verified"):
            announced.pop(e.data["fault"], None)
    steps = {s.id: s for s in scenario.steps}
    plans = []
    for fid, data in announced.items():
        step_id, _, rest = fid.partition("/")
        index_s, _, target = rest.partition("@")
        step = steps.get(step_id)
        if step is None or not index_s.isdigit() or int(index_s) >= len(step.faults) or target not in scenario.targets:
            raise JournalError(f"fault {fid!r} in the journal does not match its scenario; revert it by hand "
                               f"({data.get('summary', '')})")
        plans.append(plan_fault(scenario, step, int(index_s), step.faults[int(index_s)], target))
    return plans


async def _revert(plan: FaultPlan, ex: Executor) -> tuple[bool, str]:
    async def run(a: Action) -> ActionResult:
        try:
            return await ex.run(a)
        except Exception as err:
            return ActionResult(ok=False, error=str(err))

    said = ""
    if plan.stop_inject is not None:
        # The crashed room may have left an inject running on the target: end it before reverting,
        # or it would land after the revert and the verify.
        stop = await run(plan.stop_inject)
        if not stop.ok:
            for a in plan.revert:
                await run(a)
            return False, (f"the injection may still be running (could not stop it: {stop.detail}); "
                           "its leash stays armed")
        if stop.stdout.strip().endswith("killed"):
            said = "stopped the injection still running, "
    for a in plan.revert:
        await run(a)
    result = ActionResult(ok=True)
    for attempt in range(VERIFY_ATTEMPTS):
        bad = [r for r in [await run(a) for a in plan.verify] if not r.ok]
        if not bad:
            # As in the session's rollback: the leash comes off only once the fault is verified gone.
            if plan.leash is not None:
                await run(plan.leash.disarm)
            return True, f"{said}reverted, verified clean"
        result = bad[0]
        if attempt + 1 < VERIFY_ATTEMPTS:
            await asyncio.sleep(VERIFY_PAUSE)
    return False, f"could not confirm it is gone: {result.detail}"


async def recover_plans(plans: list[FaultPlan], scenario: Scenario,
                        factory: ExecutorFactory = make_executor) -> list[tuple[FaultPlan, bool, str]]:
    executors: dict[str, Executor] = {}
    for p in plans:
        if p.target not in executors:
            executors[p.target] = factory(scenario.targets[p.target])
    try:
        results = await asyncio.gather(*(_revert(p, executors[p.target]) for p in plans))
    finally:
        for ex in executors.values():
            with contextlib.suppress(Exception):
                await ex.close()
    return [(p, ok, detail) for p, (ok, detail) in zip(plans, results, strict=True)]


def recover(path: str, printer: Callable[[str], None] = print) -> int:
    journal = read_journal(path)
    for w in journal.warnings:
        printer(f"warning: {w}")
    header = journal.header
    pid = header.get("pid")
    if not journal.complete and isinstance(pid, int) and _pid_alive(pid) and pid != __import__("os").getpid():
        raise ControlroomError(f"{path}: session {header.get('session')} is still running (pid {pid}); "
                               f"stop it with: controlroom stop {header.get('session')}")
    text = header.get("scenario_text")
    if not text:
        raise JournalError(f"{path}:1: the journal header has no scenario; cannot rebuild the reverts")
    scenario = load_scenario_text(text, header.get("scenario_path") or path)
    plans = left_active(scenario, journal.events)
    if not plans:
        printer(f"{path}: nothing was left active; every injected fault was reverted and verified")
        return 0
    printer(f"{path}: {len(plans)} fault(s) may still be active; reverting")
    results = asyncio.run(recover_plans(plans, scenario))
    unconfirmed = []
    for plan, ok, detail in results:
        printer(f"  {plan.fault_id} on {plan.target} ({plan.summary}): {detail}")
        if not ok:
            unconfirmed.append(plan.target)
    if unconfirmed:
        printer(f"NOT confirmed clean: {', '.join(sorted(set(unconfirmed)))}")
        return 1
    printer("all clean")
    return 0
