"""Injection and the one rollback path: every active fault is known here, and every revert goes through here.

An injection is journaled (`fault-injecting`) and registered as active *before*
its first action is sent, so a rollback — or `recover` after a crash — covers a
fault whose injection was still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import Step
from controlroom.targets.base import Action, ActionResult, Shell

if TYPE_CHECKING:
    from controlroom.engine.session import Session

VERIFY_ATTEMPTS = 3
VERIFY_PAUSE = 0.2
RECONFIRM_EVERY = 2.0


@dataclass
class ActiveFault:
    plan: FaultPlan
    step: str
    state: str = "injecting"  # injecting | active | reverting
    task: asyncio.Task[bool] | None = field(default=None, repr=False)


def fused_revert(plan: FaultPlan) -> Shell | None:
    """Revert, verify and (only when verified) disarm the leash in ONE command: one round trip per host.

    An e-stop on many hosts is dominated by command start-up, so this halves it. Only for plans made
    of shell actions with one sudo setting; when it fails, the step-by-step path runs and names the cause.
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


def spec_doc(plan: FaultPlan) -> dict[str, Any]:
    return {"type": plan.spec.type, "target": plan.spec.target, "params": plan.spec.params}


class Rollback:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.active: dict[str, ActiveFault] = {}
        self.triggered = False
        self._unconfirmed: dict[str, FaultPlan] = {}  # fault id -> plan, retried until confirmed
        self._running: asyncio.Task[None] | None = None

    @property
    def unconfirmed(self) -> tuple[str, ...]:
        return tuple(sorted({p.target for p in self._unconfirmed.values()}))

    # ---- inject ---------------------------------------------------------------------------------------------

    async def _run_all(self, target: str, actions: tuple[Action, ...]) -> ActionResult:
        result = ActionResult(ok=True, status=0)
        for action in actions:
            result = await self.s.run_on(target, action)
            if not result.ok:
                return result
        return result

    async def _inject_one(self, af: ActiveFault, leash_s: float) -> bool:
        plan = af.plan
        if plan.leash is not None:
            armed = await self.s.run_on(plan.target, plan.leash.arm(leash_s))
            if not armed.ok:
                self.s.emit("fault-failed", step=af.step, fault=plan.fault_id, target=plan.target,
                            error=f"could not arm the leash: {armed.detail}")
                return False
        result = await self._run_all(plan.target, plan.inject)
        if not result.ok:
            self.s.emit("fault-failed", step=af.step, fault=plan.fault_id, target=plan.target, error=result.detail)
            return False
        af.state = "active"
        self.s.emit("fault-injected", step=af.step, fault=plan.fault_id, target=plan.target)
        return True

    async def inject_all(self, step: Step, plans: list[FaultPlan], duration: float) -> bool:
        """Inject the step's faults in parallel; False when any failed (the caller reverts the step)."""
        leash_s = duration + self.s.leash_grace
        afs: list[ActiveFault] = []
        for plan in plans:
            af = ActiveFault(plan=plan, step=step.id)
            self.active[plan.fault_id] = af
            self.s.emit("fault-injecting", step=step.id, fault=plan.fault_id, fault_type=plan.spec.type, target=plan.target,
                        summary=plan.summary, spec=spec_doc(plan), leash_s=leash_s if plan.leash else None,
                        duration=duration)
            afs.append(af)
        for af in afs:
            af.task = asyncio.ensure_future(self._inject_one(af, leash_s))
        results = await asyncio.gather(*(af.task for af in afs if af.task), return_exceptions=True)
        return all(r is True for r in results)

    async def renew_leashes(self, seconds: float) -> None:
        async def renew(af: ActiveFault) -> None:
            assert af.plan.leash is not None
            res = await self.s.run_on(af.plan.target, af.plan.leash.arm(seconds))
            if res.ok:
                self.s.emit("leash-renewed", fault=af.plan.fault_id, target=af.plan.target, leash_s=round(seconds, 3))
            else:
                self.s.emit("warning", message=f"{af.plan.target}: could not renew the leash of {af.plan.fault_id}: "
                                               f"{res.detail}; it reverts by itself within {seconds:.0f}s")
                # The executor already retried within the action's timeout: the room has lost its hold on this
                # fault (a vanished host, a dead link), and its leash will revert it unseen. Roll everything back
                # now, through the one path, rather than observe a step that is no longer what it claims.
                self.s.spawn(self.s.emergency_stop(
                    "target-lost", f"lost contact with {af.plan.target}: could not renew its leash ({res.detail})"))

        await asyncio.gather(*(renew(af) for af in list(self.active.values())
                               if af.plan.leash is not None and af.state == "active"))

    # ---- revert ---------------------------------------------------------------------------------------------

    async def _verify(self, plan: FaultPlan) -> ActionResult:
        result = ActionResult(ok=True, status=0)
        for attempt in range(VERIFY_ATTEMPTS):
            result = await self._run_all(plan.target, plan.verify)
            if result.ok or result.error:
                # Retries are for a revert still settling on the host; a host that cannot be reached (an
                # `error`, not a failed check) will not answer better 0.2 s later: the reconfirm loop retries it.
                return result
            if attempt + 1 < VERIFY_ATTEMPTS:
                await self.s.clock.sleep(VERIFY_PAUSE)
        return result

    async def _revert_one(self, af: ActiveFault) -> None:
        plan = af.plan
        if af.task is not None and not af.task.done():
            # An injection still in flight is cut short; the revert below is idempotent, so it is safe either way.
            af.task.cancel()
            with contextlib.suppress(BaseException):
                await af.task
        af.state = "reverting"
        fused = fused_revert(plan)
        if fused is not None and (await self.s.run_on(plan.target, fused)).ok:
            self.active.pop(plan.fault_id, None)
            self._unconfirmed.pop(plan.fault_id, None)
            self.s.emit("fault-reverted", fault=plan.fault_id, target=plan.target, verified=True, warnings=[])
            return
        await self._revert_stepwise(plan)

    async def _revert_stepwise(self, plan: FaultPlan, *, reconfirm: bool = False) -> bool:
        errors = []
        for action in plan.revert:  # every revert action runs, even after one fails
            res = await self.s.run_on(plan.target, action)
            if not res.ok:
                errors.append(res.detail)
        verified = await self._verify(plan)
        # The leash stays armed until the fault is confirmed gone: it is the last line of defence.
        if verified.ok and plan.leash is not None:
            res = await self.s.run_on(plan.target, plan.leash.disarm)
            if not res.ok:
                errors.append(f"leash not disarmed: {res.detail}")
        self.active.pop(plan.fault_id, None)
        if verified.ok:
            self._unconfirmed.pop(plan.fault_id, None)
            extra = {"reconfirmed": True} if reconfirm else {}
            self.s.emit("fault-reverted", fault=plan.fault_id, target=plan.target, verified=True,
                        warnings=errors, **extra)
            return True
        if not reconfirm:
            self._unconfirmed[plan.fault_id] = plan
            detail = verified.detail
            if errors:
                detail = f"{detail}; revert said: {'; '.join(errors)}"
            self.s.emit("fault-revert-failed", fault=plan.fault_id, target=plan.target,
                        error=f"could not confirm the fault is gone: {detail}")
        return False

    async def reconfirm(self, within: float) -> None:
        """Keep reverting and verifying unconfirmed faults (a host whose link came back) for `within` seconds."""
        deadline = self.s.now() + within
        while self._unconfirmed and self.s.now() < deadline:
            await self.s.clock.sleep(min(RECONFIRM_EVERY, max(0.0, deadline - self.s.now())))
            attempt: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(
                *(self._revert_stepwise(p, reconfirm=True) for p in list(self._unconfirmed.values()))))
            # An attempt on a host that is gone can hang for its commands' timeouts: `within` bounds the wait,
            # on the session's clock. Cutting a revert short is safe (reverts are idempotent); the fault stays
            # unconfirmed.
            timer: asyncio.Future[Any] = asyncio.ensure_future(self.s.clock.sleep(max(0.0, deadline - self.s.now())))
            try:
                await asyncio.wait({attempt, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                if not attempt.done():
                    attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await attempt

    async def revert_step(self, step_id: str, reason: str) -> None:
        """The normal end of a step: revert its faults in parallel, through the same code as a rollback."""
        afs = [af for af in self.active.values() if af.step == step_id]
        await asyncio.gather(*(self._revert_one(af) for af in afs))

    async def rollback_all(self, reason: str) -> None:
        """THE rollback: revert all active faults in parallel, verify each, record the unconfirmed ones."""
        if self._running is not None:
            await asyncio.shield(self._running)
            if not self.active:
                return
        if reason != "session end":
            self.triggered = True
        self._running = asyncio.ensure_future(self._rollback(reason))
        await asyncio.shield(self._running)

    async def _rollback(self, reason: str) -> None:
        afs = list(self.active.values())
        with self.s.group_commit():
            self.s.emit("rollback-started", reason=reason, faults=[af.plan.fault_id for af in afs],
                        targets=sorted({af.plan.target for af in afs}))
            await asyncio.gather(*(self._revert_one(af) for af in afs))
            self.s.emit("rollback-finished", clean=not self._unconfirmed, unconfirmed=list(self.unconfirmed))

    async def wait_done(self) -> None:
        if self._running is not None:
            await asyncio.shield(self._running)
