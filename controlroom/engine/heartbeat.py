"""The session's heartbeat: one task that keeps the leashes and host claims of a live room from running out.

Every leash guard reverts its fault once its deadline passes, and that deadline
is only ever `now + window` (`blast_radius.leash`, 10 s by default). Every
window/3 this task renews, per target, every leash armed there *and* the
host claim in ONE command (hosts in parallel; a host whose previous renewal is
still running is skipped that round, so one stuck host never delays the others).
It is not tied to the step loop: it covers faults still being injected and
faults waiting for their revert as much as faults being observed. So a room
that dies — SIGKILL, a lost terminal, a cut control link — leaves a fault for
at most one window, whatever the step's length.

A renewal that cannot reach a faulted host (refused, no route, a vanished
host) — or that times out two rounds running — means the room has lost its
hold on that fault: its guard will revert it unseen. The session stops and rolls
back everything at once (`target-lost`) rather than go on observing a step that
is no longer what it claims. One slow round alone is only warned about: the
window leaves room for the next one.

A renewal that finds the guard gone means the leash fired while the room lived
(it was silent, or cut off, for a whole window): the fault was reverted behind
its back. That is journaled (`leash-expired`) and the session takes the one
rollback path, which reverts and *verifies* every fault: nothing is called
clean on the guard's word.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import os
import socket
from collections.abc import Callable

from controlroom.engine.context import EngineContext
from controlroom.engine.rollback import ActiveFault, Rollback
from controlroom.faults.claim import HostClaim, judge_claim
from controlroom.journal.events import StopKind
from controlroom.scenario.validate import MAX_LEASH
from controlroom.targets.base import Action, ActionResult, Shell

BATCH_BEGIN = "cr-hb-begin"
BATCH_END = "cr-hb-end"
FLEET_ROUND = 20  # hosts in a round from which late renewals are the room's problem, not each host's
CLAIM_MARGIN = 2.0  # seconds a claim outlives a period past its leashes: the guard's poll and its revert
CLOSE_WAIT = 5.0  # at the end, how long renewals still in flight are waited for before the claims are released


def batch(parts: list[Shell]) -> Shell | None:
    """Several renewal scripts as ONE command: one SSH session per host per round, whatever its fault count.

    Each part runs in its own subshell (its `exit` ends only itself) between markers carrying its index and
    exit status; `$cr_now` is read once, so every deadline and the claim's expiry on the host agree.
    None when the parts cannot share one command (different sudo settings).
    """
    if not parts or len({p.sudo for p in parts}) != 1:
        return None
    body = ["cr_now=$(date +%s)"]
    for i, part in enumerate(parts):
        body.append(f"echo '{BATCH_BEGIN} {i}'\n( {part.script}\n) 2>&1\necho \"{BATCH_END} {i} $?\"")
    return Shell("\n".join(body), sudo=parts[0].sudo, timeout=max(p.timeout for p in parts))


def split(parts: list[Shell], result: ActionResult) -> list[ActionResult]:
    """A batch's result -> one result per part, as if each had run alone."""
    if result.error:
        # A timeout stays a timeout for every part: one slow round is warned about, not taken for a lost host.
        return [ActionResult(ok=False, error=result.error, elapsed=result.elapsed, timed_out=result.timed_out)
                for _ in parts]
    out: dict[int, list[str]] = {}
    status: dict[int, int] = {}
    current: int | None = None
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == BATCH_BEGIN and words[1].isdigit():
            current = int(words[1])
            out[current] = []
        elif len(words) == 3 and words[0] == BATCH_END and words[1].isdigit() and words[2].isdigit():
            status[int(words[1])] = int(words[2])
            current = None
        elif current is not None:
            out[current].append(line)
    answers = []
    for i, part in enumerate(parts):
        if i not in status:
            answers.append(ActionResult(ok=False, error=f"no answer in the batched renewal ({result.detail})"))
            continue
        text = "\n".join(out.get(i, []))
        answers.append(ActionResult(ok=status[i] in part.ok_codes, status=status[i], stdout=text,
                                    elapsed=result.elapsed))
    return answers


def facilitator() -> str:
    """user@machine, for a host claim."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name (a container without passwd entry): the claim still names the machine
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Heartbeat:
    """Renews the rollback's armed leashes and the session's host claims; a lost one is a stop (`ctx.stop`).

    Takes the context, the rollback whose faults it renews, the session's id (what a host claim names) and the
    leash window — not the session.
    """

    def __init__(self, ctx: EngineContext, rollback: Rollback, *, session_id: str, window: float) -> None:
        self.ctx = ctx
        self.rollback = rollback
        self.session_id = session_id
        self._window = window
        self.claims: dict[str, bool] = {}  # target -> sudo: hosts this session holds a claim on
        self._claim: HostClaim | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._renewed: list[tuple[str, str]] = []  # (fault, target) renewed since the last leash-renewed event
        self._failing: set[str] = set()  # targets whose last renewal did not get through (warned once)
        self._slow: set[str] = set()  # targets whose last leash renewal timed out
        self._late: set[str] = set()  # targets whose renewal this round timed out
        self.overrun = 0  # the most hosts late in one fleet round (`_judge_round`); 0 while rounds fit their period

    @property
    def window(self) -> float:
        return self._window

    @property
    def period(self) -> float:
        return self.window / 3

    @property
    def claim_window(self) -> float:
        """A claim outlives the leashes it covers: a leash armed just after a round is renewed (with the claim)
        one period later, and its guard polls once a second. So a claim seen expired means every guard on the
        host has fired — a room taking it over cannot have a dead room's revert land on its own faults."""
        return self.window + self.period + CLAIM_MARGIN

    def host_claim(self) -> HostClaim:
        """This session's claim, made once (at pre-flight): the same `since` on every host."""
        if self._claim is None:
            self._claim = HostClaim(session=self.session_id, pid=os.getpid(), facilitator=facilitator(),
                                    since=self.ctx.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ"))
        return self._claim

    def hold(self, target: str, sudo: bool) -> None:
        """Pre-flight took the claim on `target`: from now on every round renews it."""
        self.claims[target] = sudo

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            started = self.ctx.clock.monotonic()
            try:
                await self.beat()
            except Exception as err:  # the heartbeat must outlive any one bad round; if it died, guards fire
                self.ctx.emit("warning", message=f"leash renewal round failed: {err!r}; faults revert by themselves "
                                                 f"within {self.window:g}s unless the next round gets through")
            await self.ctx.clock.sleep(max(0.0, self.period - (self.ctx.clock.monotonic() - started)))

    def _due(self) -> dict[str, list[ActiveFault]]:
        due: dict[str, list[ActiveFault]] = {t: [] for t in self.claims}
        for af in list(self.rollback.active.values()):
            if af.leashed and af.plan.leash is not None:
                due.setdefault(af.plan.target, []).append(af)
        return due

    async def beat(self) -> None:
        """One round: renew every host that is due and not still busy with the previous round's renewal."""
        tasks = []
        for target, afs in sorted(self._due().items()):
            if target in self._busy:
                continue
            task = asyncio.ensure_future(self._renew(target, afs))
            self._busy[target] = task
            task.add_done_callback(self._idle(target))
            tasks.append(task)
        if tasks:
            self._late.clear()
            _done, pending = await asyncio.wait(tasks, timeout=self.period)
            # Late: still waiting when the period ran out, or given up at it (each renewal's timeout is the period).
            self._judge_round(len(tasks), min(len(tasks), len(pending) + len(self._late)))
        if self._renewed:
            renewed, self._renewed = self._renewed, []
            self.ctx.emit("leash-renewed", faults=sorted(f for f, _ in renewed),
                          targets=sorted({t for _, t in renewed}), leash_s=self.window)

    def _judge_round(self, sent: int, late: int) -> None:
        """Say it once when a fleet's round does not fit its period: the room, not one host, is too slow.

        From one machine a round is one command per host; at fleet size on a busy machine (500 lab hosts on 2
        cores: rounds of 11 s against a 3.3 s period) most renewals arrive late, the guards fire and the session
        stops as "target lost" or "leash expired" — safe (it fails closed), but the facilitator must learn why,
        and what to change, before the next attempt: a longer leash window, or agents that renew themselves.
        """
        if sent < FLEET_ROUND or late * 10 < sent:
            return  # a few slow hosts are each host's own warning (`_unreachable`), not the fleet's
        said = self.overrun > 0  # said the first time a round overran; later rounds only raise the count
        self.overrun = max(self.overrun, late)
        if said:
            return
        longer = min(MAX_LEASH, max(2 * self.window, 30.0))
        self.ctx.emit("warning", message=(
            f"leash renewal: {late} of {sent} hosts had not answered within the {self.period:.3g}s period — this "
            f"machine cannot renew {sent} hosts one command each within a {self.window:g}s leash window, so their "
            f"guards may fire and stop the session; for this fleet raise blast_radius.leash (e.g. {longer:g}s) or "
            f"drive it through agents (Gremlin, Chaos Mesh: docs/fleet.md)"))

    def _idle(self, target: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._busy.pop(target, None)
        return done

    async def _run(self, target: str, actions: list[Action]) -> list[ActionResult]:
        # A renewal that has not answered within a period is given up: the next round tries afresh (perhaps on a
        # new connection) rather than the host waiting on one stuck command while its deadline runs out.
        actions = [dataclasses.replace(a, timeout=min(a.timeout, max(1.0, self.period))) for a in actions]
        shells = [a for a in actions if isinstance(a, Shell)]
        if len(actions) > 1 and len(shells) == len(actions):
            one = batch(shells)
            if one is not None:
                return split(shells, await self.ctx.run_on(target, one))
        return list(await asyncio.gather(*(self.ctx.run_on(target, a) for a in actions)))

    async def _renew(self, target: str, afs: list[ActiveFault]) -> None:
        try:
            await self._renew_host(target, afs)
        except Exception as err:  # a bug here must not pass silently: the guards would fire without a word
            self.ctx.emit("warning", message=f"{target}: leash renewal failed: {err!r}")

    async def _renew_host(self, target: str, afs: list[ActiveFault]) -> None:
        actions: list[Action] = []
        claimed = target in self.claims
        if claimed:
            actions.append(self.host_claim().take(self.claim_window, self.claims[target]))
        for af in afs:
            assert af.plan.leash is not None
            actions.append(af.plan.leash.renewal(self.window))
        results = await self._run(target, actions)
        if any(r.timed_out for r in results):
            self._late.add(target)
        if claimed:
            claim_result = results.pop(0)
            if target in self.claims:  # not given up while the renewal was on its way
                self._claim_answered(target, claim_result)
        for af, res in zip(afs, results, strict=True):
            self._leash_answered(af, res)

    def _unreachable(self, target: str, detail: str) -> None:
        if target not in self._failing:
            self._failing.add(target)
            self.ctx.emit("warning", message=f"{target}: could not renew the leash ({detail}); unless a renewal gets "
                                             f"through, the host's guard reverts its faults within {self.window:g}s")

    def _claim_answered(self, target: str, res: ActionResult) -> None:
        answer = judge_claim(target, res, renewing=True)
        if answer.held_by is not None:
            # Another room took the host after our claim lapsed: our guards there have fired, and its pre-flight
            # found the host clean. Reverting now would undo *its* faults (they share the same names).
            self.claims.pop(target, None)
            reason = f"{target} was taken over by {answer.held_by.describe()} after this room's claim lapsed"
            self.rollback.forsake(target, reason)
            self.ctx.stop(StopKind.LEASH, reason)
        elif not answer.ok:
            self._unreachable(target, res.detail)
        elif answer.lapsed:
            self.ctx.emit("warning", message=answer.detail)

    def _leash_answered(self, af: ActiveFault, res: ActionResult) -> None:
        plan = af.plan
        if not af.leashed or self.rollback.active.get(plan.fault_id) is not af:
            return  # disarmed, reverted or forsaken while the renewal was on its way: its answer means nothing
        if res.ok:
            self._renewed.append((plan.fault_id, plan.target))
            self._slow.discard(plan.target)
            if plan.target in self._failing:
                self._failing.discard(plan.target)
                self.ctx.emit("warning", message=f"{plan.target}: leash renewal gets through again")
            return
        assert plan.leash is not None
        if plan.leash.fired(res):
            af.leashed = False
            self.ctx.emit("leash-expired", fault=plan.fault_id, target=plan.target, detail=res.detail)
            self.ctx.stop(StopKind.LEASH, f"the leash of {plan.fault_id} on {plan.target} expired while the room was "
                          f"running (no renewal got through for {self.window:g}s); reverting and verifying everything")
            return
        self._unreachable(plan.target, res.detail)
        if res.timed_out and plan.target not in self._slow:
            self._slow.add(plan.target)  # one slow round: the next one may get through within the window
            return
        why = (f"; {self.overrun} hosts were late in one round: the fleet is too large for a {self.window:g}s leash "
               f"from this machine" if self.overrun else "")
        self.ctx.stop(StopKind.TARGET_LOST,
                      f"lost contact with {plan.target}: could not renew its leash ({res.detail}){why}")

    async def close(self) -> None:
        """Stop renewing, then release the claim of every host with nothing left unconfirmed on it.

        A host with an unconfirmed fault keeps its claim until the claim expires (one window): the next room
        is then told it takes over a stale claim, and its clobber checks look at what is left.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        pending = list(self._busy.values())
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=CLOSE_WAIT)
            for task in stuck:  # nothing may be journaled after session-ended
                task.cancel()
        unconfirmed = set(self.rollback.unconfirmed)
        releasing = {t: sudo for t, sudo in self.claims.items() if t not in unconfirmed}
        claim = self.host_claim()

        async def release(target: str, sudo: bool) -> None:
            res = await self.ctx.run_on(target, claim.release(sudo))
            if res.ok:
                self.claims.pop(target, None)
            else:
                self.ctx.emit("warning", message=f"{target}: could not release this room's host claim ({res.detail}); "
                                                 f"it expires by itself within {self.window:g}s")

        await asyncio.gather(*(release(t, sudo) for t, sudo in sorted(releasing.items())))

