"""Test doubles shared by the engine and TUI tests: a `flag` fault type and an in-memory host it lands on.

They are doubles of a *target*, not of the engine: the real Session, rollback and journal run against them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from controlroom.engine.heartbeat import BATCH_BEGIN, BATCH_END
from controlroom.faults import catalogue as cat
from controlroom.faults.claim import CLAIM_MARK, HELD_EXIT
from controlroom.faults.plan import LEASH_GONE_EXIT, FaultPlan, Leash, Requirement
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Action, ActionResult, Shell

_GROUP = re.compile(r"\( (.*?)\n\)")


def run_fused(script: str, handle: Callable[[Action], ActionResult]) -> ActionResult | None:
    """For `rollback.fused_revert` scripts (reverts; `if` verifies `then` disarm): run each part through
    `handle` as its own command, as the shell would. None when `script` is not a fused revert."""
    if "\nthen\n" not in script:
        return None
    head, _, rest = script.partition("if ")
    cond, _, tail = rest.partition("\nthen\n")
    for cmd in _GROUP.findall(head):
        handle(Shell(cmd))
    ok = all(handle(Shell(cmd)).ok for cmd in _GROUP.findall(cond))
    if ok:
        for cmd in re.findall(r"\{ (.*?)\n\}", tail.split("\nelse")[0]):
            handle(Shell(cmd))
    return ActionResult(ok=ok, status=0 if ok else 1)


_PART = re.compile(rf"echo '{BATCH_BEGIN} (\d+)'\n\( (.*?)\n\) 2>&1\necho \"{BATCH_END} \d+ \$\?\"", re.S)


def run_batch(script: str, handle: Callable[[Action], ActionResult]) -> ActionResult | None:
    """For `heartbeat.batch` scripts (one renewal command per host): run each part through `handle` as its own
    command and answer with the markers the heartbeat reads. None when `script` is not a batch."""
    parts = _PART.findall(script)
    if not parts:
        return None
    out = []
    for index, part in parts:
        res = handle(Shell(part))
        said = [text for text in (res.stdout, res.stderr) if text]  # each part runs with 2>&1
        out += [f"{BATCH_BEGIN} {index}", *said, f"{BATCH_END} {index} {res.status}"]
    return ActionResult(ok=True, status=0, stdout="\n".join(out) + "\n")


def _build_flag(spec: FaultSpec, target: Target, ctx: cat.PlanContext) -> FaultPlan:
    return FaultPlan(
        fault_id=ctx.fault_id, spec=spec, target=target.name, summary=f"flag on {target.name}",
        inject=(Shell("inject"),), revert=(Shell("revert"),), verify=(Shell("verify"),),
        leash=Leash(arm=lambda s: Shell(f"arm {s:.1f}"), disarm=Shell("disarm"), renew=lambda s: Shell(f"renew {s:.1f}"),
                    gone_status=(LEASH_GONE_EXIT,)),
        requires=(Requirement("tool", Shell("has-tool"), f"{target.name}: tool missing"),),
    )


FLAG = cat.FaultType(name="flag", params=(), target_kinds=frozenset({"local"}), build=_build_flag, doc="test fault")


@dataclass
class Host:
    """The in-memory target: a flag that inject sets and revert clears; verify passes only when it is clear.

    Host claims are answered as taken and kept apart in `claims`, so `log` reads as the fault's own story;
    `guard_fired` makes leash renewals answer that the guard is gone.
    """

    name: str = "t1"
    faulted: bool = False
    revert_works: bool = True
    reachable: bool = True
    has_tool: bool = True
    log: list[str] = field(default_factory=list)
    on_inject: object = None
    guard_fired: bool = False
    claim_holder: str = ""  # a claim line: another room holds the host, takes and renewals are refused
    claims: list[str] = field(default_factory=list)
    commands: int = 0  # every command received (a batch counts once)

    def handle(self, action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        cmd = action.script
        if not self.reachable:
            return ActionResult(ok=False, error="connection refused")
        self.commands += 1
        if cmd.startswith(CLAIM_MARK):
            kind = "release" if "rm -f" in cmd else "take"
            self.claims.append(kind)
            if kind == "take" and self.claim_holder:
                return ActionResult(ok=False, status=HELD_EXIT, stdout=f"held 9 {self.claim_holder}\n")
            return ActionResult(ok=True, status=0)
        fused = run_fused(cmd, self._part)
        if fused is not None:
            return fused
        batched = run_batch(cmd, self._part)
        if batched is not None:
            return batched
        self.log.append(cmd)
        if cmd.startswith("renew ") and self.guard_fired:
            return ActionResult(ok=False, status=LEASH_GONE_EXIT, stderr="the leash guard is not running")
        if cmd == "has-tool":
            return ActionResult(ok=self.has_tool, status=0 if self.has_tool else 1)
        if cmd == "inject":
            if callable(self.on_inject):
                self.on_inject()
            self.faulted = True
        elif cmd == "revert" and self.revert_works:
            self.faulted = False
        elif cmd == "verify":
            return ActionResult(ok=not self.faulted, status=0 if not self.faulted else 1,
                                stderr="" if not self.faulted else "flag still set")
        return ActionResult(ok=True, status=0)

    def _part(self, action: Action) -> ActionResult:
        self.commands -= 1  # a part of a fused or batched command is not a command of its own
        return self.handle(action)
