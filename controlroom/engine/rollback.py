"""Injection and the one rollback path: every active fault is known here, and every revert goes through here.

An injection is journaled (`fault-injecting`) and registered as active *before*
its first action is sent, so a rollback — or `recover` after a crash — covers a
fault whose injection was still in flight.

A stop that catches an inject in flight never reverts around it. It marks the
fault (nothing more is armed or sent for it), ends the inject where it runs
(`FaultPlan.stop_inject`: the host kills the inject's process group, or leaves a
tombstone so it never starts), waits for our side of it to end, and only then
reverts and verifies. An inject that cannot be confirmed ended is not clean: its
leash stays armed and it is retried with the unconfirmed ones. Plans without a
`stop_inject` (HTTP admin faults) wait for the request to finish or time out,
then revert; a service that applies a timed-out request later is covered by its
own TTL leash.

Every revert is `engine.revert.revert_and_verify` — the same rule `recover` runs. The rollback needs no
Session: an `EngineContext` (emit, executors, clock, group commit) and the leash window are all it uses,
so a new backend's revert is tested here against an in-memory target alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controlroom.engine.context import EngineContext
from controlroom.engine.revert import Reverted, revert_and_verify, run_all
from controlroom.engine.states import FaultState
from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import Step
from controlroom.targets.base import Action, ActionResult

RECONFIRM_EVERY = 2.0
INJECT_MARGIN = 5.0  # seconds, beyond an inject's own timeouts, a stop waits for it to end on our side


@dataclass
class ActiveFault:
    plan: FaultPlan
    step: str
    state: FaultState = FaultState.INJECTING
    task: asyncio.Task[bool] | None = field(default=None, repr=False)
    # True from a successful arm until the revert is sent: the heartbeat renews exactly these leashes. Once
    # the revert is on its way the room no longer wants the fault, so a guard that fires then does no harm.
    leashed: bool = False
    stop_asked: bool = False  # a stop came: nothing more is armed or sent for this fault
    in_doubt: bool = False  # an inject was sent and no exit status came back: it may still run on the target
    last: ActionResult | None = None  # the last inject action's answer


def spec_doc(plan: FaultPlan) -> dict[str, Any]:
    return {"type": plan.spec.type, "target": plan.spec.target, "params": plan.spec.params}


class Rollback:
    """Injects a step's faults and reverts them: THE rollback path (a stop), a step's end and the session's
    end all go through `_revert_one`. Takes an `EngineContext` and the leash window — no Session."""

    def __init__(self, ctx: EngineContext, leash_window: float) -> None:
        self.ctx = ctx
        self.leash_window = leash_window  # what every leash is armed for: the heartbeat renews it
        self.active: dict[str, ActiveFault] = {}
        self.triggered = False  # a stop started the rollback (not the session's own end): the outcome says so
        self._unconfirmed: dict[str, FaultPlan] = {}  # fault id -> plan, retried until confirmed
        self._forsaken: dict[str, FaultPlan] = {}  # fault id -> plan on a host another room took over (not retried)
        self._in_doubt: set[str] = set()  # unconfirmed faults whose inject may still run: stopped before a retry
        self._running: asyncio.Task[None] | None = None

    @property
    def unconfirmed(self) -> tuple[str, ...]:
        return tuple(sorted({p.target for p in [*self._unconfirmed.values(), *self._forsaken.values()]}))

    def forsake(self, target: str, reason: str) -> None:
        """Give up the faults on a host another room has taken over: never revert there again.

        Only the heartbeat calls this, when the host's claim names another live session — which took it once our
        claim (and so our leashes) had run out, and whose pre-flight found nothing of ours to clobber. A revert
        now would undo the other room's faults, which have the same names. Not verified by us, so not clean:
        the target is reported unconfirmed.
        """
        for fid, af in list(self.active.items()):
            if af.plan.target != target:
                continue
            self.active.pop(fid)
            af.leashed = False
            self._forsaken[fid] = af.plan
            self.ctx.emit("fault-revert-failed", fault=fid, target=target,
                          error=f"not reverted by this room: {reason}; its leash guard reverted it — check the host")

    def _runner(self, target: str) -> Callable[[Action], Awaitable[ActionResult]]:
        async def run(action: Action) -> ActionResult:
            return await self.ctx.run_on(target, action)
        return run

    # ---- inject ---------------------------------------------------------------------------------------------

    async def _inject_one(self, af: ActiveFault, leash_s: float) -> bool:
        plan = af.plan
        if plan.leash is not None:
            if af.stop_asked:
                return False
            armed = await self.ctx.run_on(plan.target, plan.leash.arm(leash_s))
            if not armed.ok:
                self.ctx.emit("fault-failed", step=af.step, fault=plan.fault_id, target=plan.target,
                              error=f"could not arm the leash: {armed.detail}")
                return False
            af.leashed = True  # from here on the session's heartbeat keeps it from running out
        for action in plan.inject:
            if af.stop_asked:  # checked before every send: after a stop, nothing more reaches the target
                return False
            af.in_doubt = True
            result = await self.ctx.run_on(plan.target, action)
            # An exit status means the command ran to its end on the target; a timeout or a lost link does not.
            af.in_doubt = result.status is None
            af.last = result
            if result.ok and result.record is not None:
                # A selection (Kubernetes pods, the manifest) is journaled before the next action acts on it.
                self.ctx.emit("fault-selected", fault=plan.fault_id, target=plan.target, **result.record)
            if not result.ok:
                if not af.stop_asked:  # a stop reports its own ending (fault-inject-stopped)
                    self.ctx.emit("fault-failed", step=af.step, fault=plan.fault_id, target=plan.target,
                                  error=result.detail)
                return False
        af.state = FaultState.ACTIVE
        handle = af.last.stdout.strip()[:128] if plan.handle_from_inject and af.last is not None else ""
        self.ctx.emit("fault-injected", step=af.step, fault=plan.fault_id, target=plan.target,
                      **({"handle": handle} if handle else {}))
        return True

    async def inject_all(self, step: Step, plans: list[FaultPlan], duration: float) -> bool:
        """Inject the step's faults in parallel; False when any failed (the caller reverts the step).

        Each leash is armed for one heartbeat window, not for the step: the session's heartbeat renews it.
        """
        leash_s = self.leash_window
        afs: list[ActiveFault] = []
        for plan in plans:
            af = ActiveFault(plan=plan, step=step.id)
            self.active[plan.fault_id] = af
            # The step, the fault's index in it and the target, each a field: what `recover` rebuilds the plan from.
            self.ctx.emit("fault-injecting", step=step.id, fault=plan.fault_id, fault_type=plan.spec.type,
                          target=plan.target, summary=plan.summary, spec=spec_doc(plan),
                          leash_s=leash_s if plan.leash else None, duration=duration,
                          **({"index": plan.index} if plan.index is not None else {}))
            afs.append(af)
        if self.ctx.stopping():
            # A stop came while announcing — the journal could not take a `fault-injecting`, say: nothing of
            # this step is sent. The rollback reverts what was announced (idempotent: it never landed).
            for af in afs:
                af.stop_asked = True
            return False
        for af in afs:
            af.task = asyncio.ensure_future(self._inject_one(af, leash_s))
        results = await asyncio.gather(*(af.task for af in afs if af.task), return_exceptions=True)
        return all(r is True for r in results)

    # ---- revert ---------------------------------------------------------------------------------------------

    def _inject_bound(self, plan: FaultPlan) -> float:
        """How long an inject can take on our side: its actions' (and the leash arm's) timeouts, and a margin."""
        actions = [*plan.inject, *([plan.leash.arm(1.0)] if plan.leash else [])]
        return sum(float(getattr(a, "timeout", 10.0)) for a in actions) + INJECT_MARGIN

    async def _wait_task(self, task: asyncio.Task[bool], seconds: float) -> bool:
        """Wait for the inject task on the session's clock; True when it ended within `seconds`."""
        sleeper = asyncio.ensure_future(self.ctx.clock.sleep(seconds))
        try:
            await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        return task.done()

    async def _end_inject(self, af: ActiveFault) -> bool:
        """Make sure no inject of this fault runs or can start; True when that is confirmed.

        Called before every revert. Nothing happens (and nothing is journaled) when the inject had already
        ended with an exit status; otherwise the stop is journaled as `fault-inject-stopped`. After a stop
        the target confirmed, our side gets a short wait (nothing more is sent either way: `stop_asked`);
        otherwise the inject gets its own timeouts to end with an exit status, which settles it too.
        """
        plan = af.plan
        af.stop_asked = True
        task = af.task
        running = task is not None and not task.done()
        if not running and (not af.in_doubt or plan.stop_inject is None):
            return True  # it ended with an exit status, or (no way to stop it) ended on our side: a timeout
        stop: ActionResult | None = None
        if plan.stop_inject is not None:
            stop = await self.ctx.run_on(plan.target, plan.stop_inject)
        stopped = stop is not None and stop.ok
        ended_here = True
        if task is not None and not task.done():
            ended_here = await self._wait_task(task, INJECT_MARGIN if stopped else self._inject_bound(plan))
            if not ended_here:
                # Our side is stuck (a hung transport): stop waiting. Only the target's answer can clear it.
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        last = af.last
        detail = ""
        if stop is not None and stopped:
            ended = True
            said = stop.stdout.strip().splitlines()[-1:] or ["finished"]
            how = said[0] if said[0] in ("killed", "never-started", "finished") else "finished"
            if how == "never-started" and last is not None and last.ok and not af.in_doubt:
                how = "finished"  # it ran to its end (and removed its marker) before the stop claimed the marker
        elif ended_here and not af.in_doubt:
            # The stop could not confirm it, but the inject came back with an exit status (it has ended), or
            # was never sent (`stop_asked` came first): nothing of it can run.
            ended, how = True, "finished" if last is not None else "never-started"
        elif stop is None and ended_here:
            # No way to end it where it runs: the request ended (or timed out) on our side, which is all we know.
            ended, how = True, "finished"
            if af.in_doubt and last is not None:
                detail = f"no answer from the target ({last.detail}); if it applies the request later, its own TTL reverts it"
        else:
            ended, how = False, "unknown"
            detail = stop.detail if stop is not None else "the injection did not end on our side"
        self.ctx.emit("fault-inject-stopped", fault=plan.fault_id, target=plan.target, how=how,
                      **({"detail": detail} if detail else {}))
        return ended

    async def _revert_one(self, af: ActiveFault) -> None:
        """A stop or a step's end: end the inject, then the one revert rule, fused into one command first."""
        plan = af.plan

        async def end() -> bool:
            ended = await self._end_inject(af)
            af.state = FaultState.REVERTING
            if ended:
                af.leashed = False  # the revert (and, once verified, the disarm) goes out now: stop renewing
            return ended

        result = await revert_and_verify(plan, self._runner(plan.target), self.ctx.clock.sleep, end_inject=end,
                                         fused=True)
        self.active.pop(plan.fault_id, None)
        self._settle(plan, result)

    def _settle(self, plan: FaultPlan, result: Reverted, *, reconfirm: bool = False) -> None:
        """Record (and journal) what a revert came to: verified gone, or unconfirmed and retried later."""
        if result.verified:
            self._unconfirmed.pop(plan.fault_id, None)
            extra: dict[str, Any] = {"reconfirmed": True} if reconfirm else {}
            if result.record and "recovered_s" in result.record:
                extra["recovered_s"] = result.record["recovered_s"]
            self.ctx.emit("fault-reverted", fault=plan.fault_id, target=plan.target, verified=True,
                          warnings=list(result.warnings), **extra)
            return
        if reconfirm:
            return  # already journaled unconfirmed; the loop tries again
        self._unconfirmed[plan.fault_id] = plan
        if result.in_doubt:
            self._in_doubt.add(plan.fault_id)
            error = ("the injection may still be running on the target (it could not be stopped or confirmed "
                     "ended); its leash stays armed")
        else:
            error = f"could not confirm the fault is gone: {result.detail}"
        self.ctx.emit("fault-revert-failed", fault=plan.fault_id, target=plan.target, error=error)

    async def _reconfirm_one(self, plan: FaultPlan) -> bool:
        fid = plan.fault_id

        async def end() -> bool:
            # The inject may still have been running when the rollback reverted: end it before reverting again.
            if plan.stop_inject is not None:
                stop = await self.ctx.run_on(plan.target, plan.stop_inject)
                if not stop.ok:
                    return False
                said = stop.stdout.strip().splitlines()[-1:] or ["finished"]
                self.ctx.emit("fault-inject-stopped", fault=fid, target=plan.target, how=said[0])
            self._in_doubt.discard(fid)
            return True

        result = await revert_and_verify(plan, self._runner(plan.target), self.ctx.clock.sleep,
                                         end_inject=end if fid in self._in_doubt else None)
        self._settle(plan, result, reconfirm=True)
        return result.verified

    async def reconfirm(self, within: float) -> None:
        """Keep reverting and verifying unconfirmed faults (a host whose link came back) for `within` seconds."""
        deadline = self.ctx.now() + within
        while self._unconfirmed and self.ctx.now() < deadline:
            await self.ctx.clock.sleep(min(RECONFIRM_EVERY, max(0.0, deadline - self.ctx.now())))
            attempt: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(
                *(self._reconfirm_one(p) for p in list(self._unconfirmed.values()))))
            # An attempt on a host that is gone can hang for its commands' timeouts: `within` bounds the wait,
            # on the session's clock. Cutting a revert short is safe (reverts are idempotent); the fault stays
            # unconfirmed.
            timer: asyncio.Future[Any] = asyncio.ensure_future(
                self.ctx.clock.sleep(max(0.0, deadline - self.ctx.now())))
            try:
                await asyncio.wait({attempt, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                if not attempt.done():
                    attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await attempt

    async def lost_faults(self, step_id: str) -> list[FaultPlan]:
        """At a step's normal end, before its revert: the faults already gone (their verify passes). Another
        room, a restart or a leash that fired took them away, so what the step observed was not the fault it
        planned: the step must not pass. One verify per fault, in parallel; faults without a revert (a kill)
        are not asked."""
        afs = [af for af in self.active.values()
               if af.step == step_id and af.state == FaultState.ACTIVE and af.plan.revertible]

        async def gone(af: ActiveFault) -> bool:
            return bool(af.plan.verify) and (await run_all(self._runner(af.plan.target), af.plan.verify)).ok

        answers = await asyncio.gather(*(gone(af) for af in afs))
        return [af.plan for af, is_gone in zip(afs, answers, strict=True) if is_gone]

    async def revert_step(self, step_id: str) -> None:
        """The normal end of a step: revert its faults in parallel, through the same code as a rollback."""
        afs = [af for af in self.active.values() if af.step == step_id]
        await asyncio.gather(*(self._revert_one(af) for af in afs))

    def start(self, reason: str, *, stop: bool = True) -> asyncio.Future[None]:
        """Begin THE rollback now, from synchronous code (a journal that just broke), unless one is running.

        `stop` False: the session's own end reverts what is left, which is not a rollback the outcome reports.
        """
        if self._running is not None and not self._running.done():
            return self._running
        if stop:
            self.triggered = True
        self._running = asyncio.ensure_future(self._rollback(reason))
        return self._running

    async def rollback_all(self, reason: str) -> None:
        """THE rollback, for a stop: revert all active faults in parallel, verify each, record the unconfirmed."""
        await self._once(reason, stop=True)

    async def revert_remaining(self) -> None:
        """At the session's end, whatever is still active goes through the same rollback — not counted as a stop."""
        await self._once("session end", stop=False)

    async def _once(self, reason: str, *, stop: bool) -> None:
        if self._running is not None:
            await asyncio.shield(self._running)
            if not self.active:
                return
        await asyncio.shield(self.start(reason, stop=stop))

    async def _rollback(self, reason: str) -> None:
        afs = list(self.active.values())
        with self.ctx.group_commit():
            self.ctx.emit("rollback-started", reason=reason, faults=[af.plan.fault_id for af in afs],
                          targets=sorted({af.plan.target for af in afs}))
            await asyncio.gather(*(self._revert_one(af) for af in afs))
            self.ctx.emit("rollback-finished", clean=not self._unconfirmed, unconfirmed=list(self.unconfirmed))

    async def wait_done(self) -> None:
        if self._running is not None:
            await asyncio.shield(self._running)
