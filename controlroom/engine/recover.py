"""`controlroom recover JOURNAL`: revert whatever a crashed session may have left active. Idempotent.

The journal says which injections were *announced* (`fault-injecting`, written
before anything was sent) and which were reverted and verified. Every announced
fault without a verified revert is rebuilt from the scenario stored in the
journal's header (its step, index and target are fields of `fault-injecting`),
then goes through the session's own revert rule (`engine.revert`): stopped where
it may still be injecting (`FaultPlan.stop_inject`), reverted, verified, and
only then its leash disarmed. Reverting a fault that
never landed is harmless: every revert is idempotent. On each host where every
fault was verified clean, the crashed session's host claim is released — its own
claim only, never one another room has taken since.

What comes out of a journal is run, so it is trusted only as far as its owner:
a journal (or a directory above it) that another user can write is refused
(`journal.trust`), and every `command` revert — shell a scenario author wrote,
read back from the file — is shown with the journal line it came from and run
only once the user says yes (or passed `--yes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controlroom.engine.context import run_action
from controlroom.engine.liveness import same_process
from controlroom.engine.planning import fault_id, plan_fault
from controlroom.engine.preflight import CLAIMED_KINDS
from controlroom.engine.registry import mark_recovered
from controlroom.engine.revert import revert_and_verify
from controlroom.errors import ControlroomError, JournalError, ScenarioError
from controlroom.faults.claim import release_claim
from controlroom.faults.plan import FaultPlan
from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.journal.trust import trusted_journal
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import Scenario
from controlroom.targets.base import Action, ActionResult, Executor, Shell
from controlroom.targets.factory import ExecutorFactory, make_executor

# Fault types whose revert and verify are the scenario author's own shell, run as written.
USER_SHELL_FAULTS = frozenset({"command"})


def unverified_faults(events: list[Event]) -> dict[str, dict[str, Any]]:
    """Fault id -> its `fault-injecting` payload, for every announced fault not verified gone since."""
    announced: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.type == "fault-injecting":
            announced[e.data["fault"]] = e.data
        elif e.type == "fault-reverted" and e.data.get("verified"):
            announced.pop(e.data["fault"], None)
    return announced


def _announced_place(fid: str, data: dict[str, Any]) -> tuple[str, int | None, str]:
    """(step, index, target) of an announced fault: the fields themselves; from the id `step/index@target`
    only in a journal written before `index` was recorded."""
    index = data.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        return str(data["step"]), index, str(data["target"])
    step_id, _, rest = fid.partition("/")
    index_s, _, target = rest.partition("@")
    if not (index_s.isascii() and index_s.isdigit() and len(index_s) <= 4):
        return step_id, None, target
    return step_id, int(index_s), target


def left_active(scenario: Scenario, events: list[Event], session: str | None = None) -> list[FaultPlan]:
    announced = unverified_faults(events)
    # What an API backend called each fault (a Gremlin attack guid), and the session that named its creations.
    handles = {e.data["fault"]: e.data["handle"] for e in events
               if e.type == "fault-injected" and isinstance(e.data.get("handle"), str)}
    steps = {s.id: s for s in scenario.steps}
    plans = []
    for fid, data in announced.items():
        step_id, index, target = _announced_place(fid, data)
        step = steps.get(step_id)
        if (step is None or index is None or not 0 <= index < len(step.faults) or target not in scenario.targets
                or fault_id(step, index, target) != fid):
            raise JournalError(f"fault {fid!r} in the journal does not match its scenario; revert it by hand "
                               f"({data.get('summary', '')})")
        plans.append(plan_fault(scenario, step, index, step.faults[index], target, session=session,
                                handle=handles.get(fid)))
    return plans


def _announced_lines(path: Path) -> dict[str, int]:
    """Fault id -> the journal line number of its last `fault-injecting` event."""
    lines: dict[str, int] = {}
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if b'"fault-injecting"' not in raw:
                continue
            with contextlib.suppress(ValueError, AttributeError):
                doc = json.loads(raw)
                if doc.get("type") == "fault-injecting":
                    lines[str(doc.get("fault"))] = n
    return lines


def _indented(script: str) -> str:
    return "\n".join(f"        {line}" for line in script.strip("\n").splitlines())


def describe_user_shell(plans: list[FaultPlan], path: Path) -> list[str]:
    """The shell `recover` would run that the journal itself supplies, each naming where it came from."""
    where = _announced_lines(path)
    out: list[str] = []
    for plan in plans:
        if plan.spec.type not in USER_SHELL_FAULTS:
            continue
        line = where.get(plan.fault_id)
        at = f"announced at journal line {line}" if line else "announced in the journal"
        out.append(f"  {plan.fault_id} on {plan.target} ({at}; its commands come from the scenario in the journal "
                   "header, line 1):")
        for label, actions in (("revert", plan.revert), ("verify", plan.verify)):
            for a in actions:
                if isinstance(a, Shell):
                    out.append(f"    {label}{' (sudo)' if a.sudo else ''}:")
                    out.append(_indented(a.script))
    return out


async def _revert(plan: FaultPlan, ex: Executor) -> tuple[bool, str]:
    """The one revert rule (`engine.revert`), after ending an inject the crashed room may have left running:
    otherwise it would land after the revert and the verify."""
    async def run(action: Action) -> ActionResult:
        return await run_action(ex, action)

    stop: ActionResult | None = None

    async def end_inject() -> bool:
        nonlocal stop
        assert plan.stop_inject is not None
        stop = await run(plan.stop_inject)
        return stop.ok

    result = await revert_and_verify(plan, run, asyncio.sleep,
                                     end_inject=end_inject if plan.stop_inject is not None else None)
    if result.in_doubt:
        assert stop is not None
        return False, f"the injection may still be running (could not stop it: {stop.detail}); its leash stays armed"
    if not result.verified:
        return False, f"could not confirm it is gone: {result.detail}"
    said = "stopped the injection still running, " if stop is not None and stop.stdout.strip().endswith("killed") else ""
    return True, f"{said}reverted, verified clean"


async def recover_plans(plans: list[FaultPlan], scenario: Scenario, factory: ExecutorFactory = make_executor,
                        session: str | None = None) -> list[tuple[FaultPlan, bool, str]]:
    """Revert and verify every plan; then release `session`'s claim on each host where all were verified clean.

    Only that session's claim: a host another room has claimed since keeps its claim (`faults.claim`).
    """
    executors: dict[str, Executor] = {}
    for p in plans:
        if p.target not in executors:
            executors[p.target] = factory(scenario.targets[p.target])
            bind = getattr(executors[p.target], "bind_session", None)
            if bind is not None and session:  # Kubernetes: the crashed session's objects carry its label
                bind(session)
    try:
        results = await asyncio.gather(*(_revert(p, executors[p.target]) for p in plans))
        if session:
            dirty = {p.target for p, (ok, _) in zip(plans, results, strict=True) if not ok}
            clean = [t for t in executors if t not in dirty and scenario.targets[t].kind in CLAIMED_KINDS]
            await asyncio.gather(*(executors[t].run(release_claim(session, scenario.targets[t].sudo)) for t in clean),
                                 return_exceptions=True)
    finally:
        for ex in executors.values():
            with contextlib.suppress(Exception):
                await ex.close()
    return [(p, ok, detail) for p, (ok, detail) in zip(plans, results, strict=True)]


def recover(path: str, printer: Callable[[str], None] = print, *, yes: bool = False,
            ask: Callable[[str], bool] | None = None, factory: ExecutorFactory = make_executor,
            force_finalizers: bool = False) -> int:
    """Revert what the journal shows may be active. `ask` (a yes/no question on a terminal) or `yes` must
    agree before shell read from the journal runs; without either, such a journal is refused (exit 2)."""
    real = trusted_journal(path)
    journal = read_journal(real)
    if journal.damaged:
        # A skipped line may be a `fault-injecting` recover would miss, or one written to make it run something:
        # guessing is worse than refusing. The leashes still revert every fault on their own within their window.
        more = f" (and {journal.skipped - 1} more)" if journal.skipped > 1 else ""
        raise JournalError(f"{journal.first_bad}{more}; recover will not act on a damaged journal: check the "
                           "targets by hand (`controlroom plan SCENARIO` lists every revert)")
    for w in journal.warnings:
        printer(f"warning: {w}")
    header = journal.header
    pid = header.get("pid")
    if not journal.complete and pid != os.getpid() and same_process(pid, header.get("pid_start")):
        raise ControlroomError(f"{path}: session {header.get('session')} is still running (pid {pid}); "
                               f"stop it with: controlroom stop {header.get('session')}")
    text = header.get("scenario_text")
    if not text:
        raise JournalError(f"{path}:1: the journal header has no scenario; cannot rebuild the reverts")
    try:
        scenario = load_scenario_text(text, header.get("scenario_path") or path, to_revert=True)
    except ScenarioError as err:
        first = err.problems[0] if err.problems else "it is not valid"
        more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
        raise JournalError(f"{path}:1: the scenario in the journal header does not load ({first}{more}); "
                           "cannot rebuild the reverts from it") from None
    session_id = header.get("session")
    plans = left_active(scenario, journal.events, session_id if isinstance(session_id, str) else None)
    if not plans:
        printer(f"{path}: nothing was left active; every injected fault was reverted and verified")
        _mark(header, "nothing was left active")
        return 0
    printer(f"{path}: {len(plans)} fault(s) may still be active; reverting")
    shell = describe_user_shell(plans, real)
    if shell:
        printer("these commands come from the journal and will run as you:")
        for line in shell:
            printer(line)
        if not yes:
            if ask is None:
                raise ControlroomError(f"{path}: recover runs the shell commands above, read from the journal; "
                                       "check them, then run again with --yes")
            if not ask("run them? [y/N] "):
                printer("nothing was run; NOT confirmed clean")
                return 1
    session = header.get("session")
    results = asyncio.run(recover_plans(plans, scenario, factory, session=session if isinstance(session, str) else None))
    unconfirmed = []
    for plan, ok, detail in results:
        printer(f"  {plan.fault_id} on {plan.target} ({plan.summary}): {detail}")
        if not ok:
            unconfirmed.append(plan.target)
    if unconfirmed and force_finalizers and isinstance(session, str):
        from controlroom.engine.recover_kube import force_finalizers as force  # the facilitator asked, by flag

        asyncio.run(force([p for p, ok, _ in results if not ok], scenario, factory, session, printer))
    if unconfirmed:
        printer(f"NOT confirmed clean: {', '.join(sorted(set(unconfirmed)))}")
        return 1
    printer("all clean")
    _mark(header, "all clean")
    return 0


def _mark(header: dict[str, Any], verdict: str) -> None:
    """`status` shows the session recovered from now on (best effort: the registry may be gone or elsewhere)."""
    session = header.get("session")
    if isinstance(session, str):
        with contextlib.suppress(ControlroomError, OSError):
            mark_recovered(session, verdict)
