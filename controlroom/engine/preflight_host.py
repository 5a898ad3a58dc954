"""Host pre-flight: per target, prove it reachable with a verified host key, sudo working, every tool and
qdisc kind a fault needs present, and nothing a fault would clobber.

Usable standalone (`await preflight_host(executor, plans)`) or by the engine,
which journals each `Check` as a `preflight-check` event. Checks on one host
run in order and stop at the first transport failure; hosts run in parallel
with `preflight_hosts`. Given a `claim` (the engine gives one for every host),
the host claim is taken as soon as the host answers — before the tool and
clobber checks, so a second room is told who holds the host rather than that
something would be clobbered — and a host another live room holds stops there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controlroom.errors import TargetError
from controlroom.faults.claim import judge_claim
from controlroom.faults.plan import FaultPlan
from controlroom.targets.base import Action, Executor, Shell

CLOBBER_HINT = "run `controlroom recover JOURNAL` if a previous session left it"
NOT_CONNECTED = "not checked: the session stopped before its connection was set up"


@dataclass(frozen=True)
class Check:
    name: str
    target: str
    ok: bool
    detail: str


OnCheck = Callable[[Check], None]


async def preflight_host(executor: Executor, plans: Iterable[FaultPlan], on_check: OnCheck | None = None,
                         reach: Action | None = None, claim: Action | None = None,
                         stopped: asyncio.Event | None = None) -> list[Check]:
    """Every check for the plans that land on `executor.target`, in the order a person would read them.

    `reach` proves the target answers: `true` in a shell by default; an HTTP target passes a request.
    `claim` takes the host claim (`faults.claim.HostClaim.take`): a check named "claim", ok when taken; its
    detail is "ok", or says whose stale claim was taken over.
    `stopped` set (the session is stopping): a connection still being set up — queued behind a fleet's others,
    or waiting for a slow host — is abandoned, and nothing more is sent (no claim is taken from then on).
    """
    target = executor.target
    mine = [p for p in plans if p.target == target]
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str) -> Check:
        check = Check(name, target, ok, detail)
        checks.append(check)
        if on_check is not None:
            on_check(check)
        return check

    connect = getattr(executor, "connect", None)
    if connect is not None:
        # SSH: connecting verifies the host key; a mismatch names the offered fingerprint.
        try:
            if not await _unless_stopped(connect(), stopped):
                add("reachable", False, f"{target}: {NOT_CONNECTED}")
                return checks
        except TargetError as err:
            name = "host key" if "host key" in str(err) else "reachable"
            add(name, False, str(err))
            return checks
        add("host key", True, "verified against known_hosts")
    if stopped is not None and stopped.is_set():
        add("reachable", False, f"{target}: {NOT_CONNECTED}")
        return checks
    res = await executor.run(reach if reach is not None else Shell("true", timeout=10.0))
    if not add("reachable", res.ok, "ok" if res.ok else f"{target}: not reachable ({res.detail})").ok:
        return checks
    if claim is not None:
        answer = judge_claim(target, await executor.run(claim))
        if not add("claim", answer.ok, answer.detail).ok:
            return checks

    seen: set[str] = set()
    for plan in mine:
        for req in plan.requires:
            if req.name in seen:
                continue
            seen.add(req.name)
            r = await executor.run(req.check)
            if r.error:  # the transport failed, not the check: say so rather than blame a missing tool
                add(req.name, False, f"{target}: {req.name} could not be checked ({r.error})")
                return checks
            # An empty message: the check's own answer says what is missing (Kubernetes: which permission).
            said = "" if req.message else r.stdout.strip()  # Kubernetes: "2 of 5 pods in 1 namespace(s): shop"
            add(req.name, r.ok, (said or "ok") if r.ok else (req.message or r.detail))
        for action in plan.clobber_check:
            r = await executor.run(action)
            detail = "ok" if r.ok else f"{target}: {r.detail}" + ("" if "recover" in r.detail else f"; {CLOBBER_HINT}")
            add(f"nothing to clobber ({plan.spec.type})", r.ok, detail)
    return checks


async def _unless_stopped(work: Coroutine[Any, Any, Any], stopped: asyncio.Event | None) -> bool:
    """Run `work` unless `stopped` is set first (then cancel it: a connection attempt abandoned before anything
    was sent over it). True when it finished; its error, if any, is raised."""
    if stopped is None:
        await work
        return True
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        return False
    task.result()
    return True


async def preflight_hosts(executors: Mapping[str, Executor], plans: Iterable[FaultPlan],
                          on_check: OnCheck | None = None) -> list[Check]:
    """All hosts in parallel; checks grouped by host in target-name order."""
    plan_list = list(plans)
    names = sorted({p.target for p in plan_list} & set(executors))
    results = await asyncio.gather(*(preflight_host(executors[n], plan_list, on_check) for n in names))
    return [c for group in results for c in group]


def failed(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]
