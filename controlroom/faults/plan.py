"""A fault plan: what injecting one fault on one target means, as actions an executor runs.

Every plan has inject, revert and verify (verify succeeds only when the fault is
gone). Host faults also carry a leash: a host-side guard armed before injection
that reverts on its own when the control room goes silent, and a `stop_inject`
(faults/inflight.py) that ends an inject a stop caught in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from controlroom.scenario.model import FaultSpec
from controlroom.targets.base import Action


@dataclass(frozen=True)
class Requirement:
    """A pre-flight check for a plan: the action must succeed, else `message` explains what is missing."""

    name: str
    check: Action
    message: str


@dataclass(frozen=True)
class Leash:
    """A guard on the target that reverts by itself after `seconds` unless renewed or disarmed."""

    arm: Callable[[float], Action]  # seconds -> action that arms (or renews) the guard
    disarm: Action


@dataclass(frozen=True)
class FaultPlan:
    fault_id: str  # "<step>/<n>@<target>", unique within a session
    spec: FaultSpec
    target: str
    summary: str  # one line a facilitator reads: "300ms ±50ms latency on db-1 eth0"
    inject: tuple[Action, ...]
    revert: tuple[Action, ...]
    verify: tuple[Action, ...]
    leash: Leash | None = None
    requires: tuple[Requirement, ...] = ()
    revertible: bool = True  # process kill and pod kill have no revert, only a recovery check
    clobber_check: tuple[Action, ...] = field(default=())  # succeeds when nothing would be clobbered
    # Ends an inject still in flight and returns only once it has ended: exit 0 when nothing of it runs now or can
    # start later (stdout: killed | never-started | finished), non-zero when that could not be confirmed.
    # None where the executor has no such handle (HTTP: the request ends with its timeout).
    stop_inject: Action | None = None
