"""A fault plan: what injecting one fault on one target means, as actions an executor runs.

Every plan has inject, revert and verify (verify succeeds only when the fault is
gone). Host faults also carry a leash: a host-side guard armed before injection
that reverts on its own when the control room goes silent — a dead-man switch
the live room renews every few seconds (`engine/heartbeat.py`) — and a
`stop_inject` (faults/inflight.py) that ends an inject a stop caught in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from controlroom.scenario.model import FaultSpec
from controlroom.targets.base import Action, ActionResult

# A renewal's answer when the guard is no longer there (it fired, or was stopped): distinct from a transport
# failure, so the room knows the fault was (probably) reverted behind its back and verifies before saying so.
LEASH_GONE_EXIT = 75


@dataclass(frozen=True)
class Requirement:
    """A pre-flight check for a plan: the action must succeed, else `message` explains what is missing."""

    name: str
    check: Action
    message: str


@dataclass(frozen=True)
class Leash:
    """A guard on the target that reverts by itself after `seconds` unless renewed or disarmed.

    `arm` starts the guard (before the inject); `renew` only moves its deadline and never starts a guard, so
    a renewal cannot resurrect a leash that already fired: it answers with one of `gone_status` instead.
    """

    arm: Callable[[float], Action]  # seconds -> action that arms the guard (and sets its deadline)
    disarm: Action
    renew: Callable[[float], Action] | None = None  # seconds -> action that moves the deadline; None: arm again
    gone_status: tuple[int, ...] = ()  # exit / HTTP statuses of a renewal meaning "the guard is not there"

    def renewal(self, seconds: float) -> Action:
        return self.renew(seconds) if self.renew is not None else self.arm(seconds)

    def fired(self, result: ActionResult) -> bool:
        """True when a renewal says the guard is gone (as opposed to: it could not be reached)."""
        return not result.ok and not result.error and result.status in self.gone_status


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
    clobber_check: tuple[Action, ...] = field(default=())  # succeeds when nothing would be clobbered
    # Ends an inject still in flight and returns only once it has ended: exit 0 when nothing of it runs now or can
    # start later (stdout: killed | never-started | finished), non-zero when that could not be confirmed.
    # None where the executor has no such handle (HTTP: the request ends with its timeout).
    stop_inject: Action | None = None
    index: int | None = None  # the fault's place in its step's `faults:` (set by planning; `recover` reads it back)
    # The last inject's answer names what the backend created (a Gremlin attack guid): it is journaled with
    # `fault-injected`, so `recover` can revert it after a crash (PlanContext.handle).
    handle_from_inject: bool = False

    @property
    def revertible(self) -> bool:
        """False for a fault with nothing to revert (a process kill): its verify is a recovery check."""
        return bool(self.revert)
