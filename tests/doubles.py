"""Helpers for test doubles of targets: understand the engine's one-round-trip revert script."""

from __future__ import annotations

import re
from collections.abc import Callable

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
        for cmd in _GROUP.findall(tail.split("\nelse")[0]):
            handle(Shell(cmd))
    return ActionResult(ok=ok, status=0 if ok else 1)
