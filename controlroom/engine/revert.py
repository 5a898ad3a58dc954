"""THE revert rule, one copy for the rollback (a stop, a step's end, the reconfirm loop) and for `recover`.

For one fault: make sure no inject of it runs or can start (when asked), revert, verify — a few times, since a
revert may take a moment to settle on the host — and only once the fault is verified gone, disarm its leash.
The leash is the last line of defence: it stays armed on every other path, so a fault this code could not
confirm gone is still reverted by its guard within the window. An inject that could not be confirmed ended
is never called clean: its revert is sent (it may undo part of it), nothing is verified, and the leash stays.

`fused_revert` does revert, verify and disarm in ONE command (one round trip per host: an e-stop on many
hosts is dominated by command start-up); where it fails, the step-by-step path runs and names the cause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controlroom.faults.plan import FaultPlan
from controlroom.targets.base import Action, ActionResult, Shell

VERIFY_ATTEMPTS = 3
VERIFY_PAUSE = 0.2

Run = Callable[[Action], Awaitable[ActionResult]]  # one action on the fault's target; errors come back as results
Sleep = Callable[[float], Awaitable[None]]
EndInject = Callable[[], Awaitable[bool]]  # True once no inject of the fault runs or can start


@dataclass(frozen=True)
class Reverted:
    """What became of one revert."""

    verified: bool  # the verify passed: the fault is gone, and its leash was disarmed
    detail: str = ""  # why it is not verified gone
    warnings: tuple[str, ...] = ()  # what a revert action or the disarm said (kept even when verified)
    in_doubt: bool = False  # the inject could not be confirmed ended: reverted, not verified, leash left armed
    # What the verify measured, for the journal (Kubernetes pod-kill: `recovered_s`, kill to ready again).
    record: dict[str, Any] | None = None


def fused_revert(plan: FaultPlan) -> Shell | None:
    """Revert, verify and (only when verified) disarm the leash in ONE command: one round trip per host.

    Only for plans made of shell actions with one sudo setting; None otherwise (the step-by-step path runs).
    """
    actions = [*plan.revert, *plan.verify, *([plan.leash.disarm] if plan.leash else [])]
    if not actions or not all(isinstance(a, Shell) for a in actions):
        return None
    shells = [a for a in actions if isinstance(a, Shell)]
    if len({a.sudo for a in shells}) != 1:
        return None
    revert = "".join(f"( {a.script}\n) >/dev/null 2>&1\n" for a in plan.revert if isinstance(a, Shell))
    verify = " && ".join(f"( {a.script}\n)" for a in plan.verify if isinstance(a, Shell)) or "true"
    # The disarm runs last and only on success, so it needs no subshell: its own `exit` ends the script,
    # with 0 when disarmed (the same answer as `true` below) and non-zero when not (the step path retries).
    disarm = f"{{ {plan.leash.disarm.script}\n}} >/dev/null 2>&1\n" if plan.leash and isinstance(
        plan.leash.disarm, Shell) else ""
    script = f"{revert}if {verify}\nthen\n{disarm}true\nelse\nfalse\nfi"
    return Shell(script, sudo=shells[0].sudo, timeout=min(30.0, sum(a.timeout for a in shells)))


async def run_all(run: Run, actions: tuple[Action, ...]) -> ActionResult:
    """Run actions in order until one fails; the last answer."""
    result = ActionResult(ok=True, status=0)
    for action in actions:
        result = await run(action)
        if not result.ok:
            return result
    return result


async def verify(plan: FaultPlan, run: Run, sleep: Sleep) -> ActionResult:
    """The fault's verify, retried while a revert may still be settling; at once when the host cannot be reached."""
    result = ActionResult(ok=True, status=0)
    for attempt in range(VERIFY_ATTEMPTS):
        result = await run_all(run, plan.verify)
        if result.ok or result.error:
            # Retries are for a revert still settling on the host; a host that cannot be reached (an
            # `error`, not a failed check) will not answer better 0.2 s later: the reconfirm loop retries it.
            return result
        if attempt + 1 < VERIFY_ATTEMPTS:
            await sleep(VERIFY_PAUSE)
    return result


async def revert_and_verify(plan: FaultPlan, run: Run, sleep: Sleep, *, end_inject: EndInject | None = None,
                            fused: bool = False) -> Reverted:
    """End the inject (when `end_inject` is given), revert, verify, and disarm the leash only once verified.

    `fused` tries `fused_revert` first (the rollback's first attempt); the step-by-step path runs where it
    cannot be used or fails, and every revert action runs even after one fails.
    """
    if end_inject is not None and not await end_inject():
        for action in plan.revert:
            await run(action)
        return Reverted(False, "the injection may still be running on the target", in_doubt=True)
    one = fused_revert(plan) if fused else None
    if one is not None and (await run(one)).ok:
        return Reverted(True)
    errors = []
    for action in plan.revert:
        res = await run(action)
        if not res.ok:
            errors.append(res.detail)
    verified = await verify(plan, run, sleep)
    if verified.ok and plan.leash is not None:
        res = await run(plan.leash.disarm)
        if not res.ok:
            errors.append(f"leash not disarmed: {res.detail}")
    if verified.ok:
        return Reverted(True, warnings=tuple(errors), record=verified.record)
    detail = verified.detail + (f"; revert said: {'; '.join(errors)}" if errors else "")
    return Reverted(False, detail, tuple(errors))
