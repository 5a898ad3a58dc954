"""Test doubles shared by the engine and TUI tests: a `flag` fault type and an in-memory host it lands on.

They are doubles of a *target*, not of the engine: the real Session, rollback and journal run against them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from controlroom.faults import catalogue as cat
from controlroom.faults.plan import FaultPlan, Leash, Requirement
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


def _build_flag(spec: FaultSpec, target: Target, ctx: cat.PlanContext) -> FaultPlan:
    return FaultPlan(
        fault_id=ctx.fault_id, spec=spec, target=target.name, summary=f"flag on {target.name}",
        inject=(Shell("inject"),), revert=(Shell("revert"),), verify=(Shell("verify"),),
        leash=Leash(arm=lambda s: Shell(f"arm {s:.1f}"), disarm=Shell("disarm")),
        requires=(Requirement("tool", Shell("has-tool"), f"{target.name}: tool missing"),),
    )


FLAG = cat.FaultType(name="flag", params=(), target_kinds=frozenset({"local"}), build=_build_flag, doc="test fault")


@dataclass
class Host:
    """The in-memory target: a flag that inject sets and revert clears; verify passes only when it is clear."""

    name: str = "t1"
    faulted: bool = False
    revert_works: bool = True
    reachable: bool = True
    has_tool: bool = True
    log: list[str] = field(default_factory=list)
    on_inject: object = None

    def handle(self, action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        cmd = action.script
        if not self.reachable:
            return ActionResult(ok=False, error="connection refused")
        fused = run_fused(cmd, self.handle)
        if fused is not None:
            return fused
        self.log.append(cmd)
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
