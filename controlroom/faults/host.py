"""What every host fault (Linux targets over SSH, or this machine) is built from: one plan shape and its checks.

Every host fault has an idempotent inject, revert and verify, a leash (`faults.leash`: a detached guard on
the host that reverts by itself when the control room goes silent), an inject a stop can end in flight
(`faults.inflight`), pre-flight requirements and a clobber check. Command text is built only from values
validated or quoted by `controlroom.faults.shell`; the one exception is the `command` fault, whose scripts
the scenario author writes as shell.

The fault types themselves live beside this module: `net_tc` (netem, bandwidth), `net_nft` (partition,
blackhole, packet loss), `stress` (stress-ng), `system` (disk fill, service stop, your own command).
"""

from __future__ import annotations

from collections.abc import Callable

from controlroom.faults.base import PlanContext
from controlroom.faults.inflight import guard_undo, stoppable
from controlroom.faults.leash import leash_for
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.faults.shell import abs_path, q
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell

KINDS = frozenset({"ssh", "local"})
INJECT_TIMEOUT = 15.0


# -- parameter parsers (raise ValueError with a message for the scenario author) ----------------


def count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise ValueError(f"expected a whole number from 1 to 256, got {value!r}")
    return value


def checked_string(check: Callable[[str], str], expected: str) -> Callable[[object], str]:
    """A parser for a string parameter that `check` (faults.shell) validates; anything else names `expected`."""
    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected {expected}, got {value!r}")
        return check(value)
    return parse


file_path = checked_string(abs_path, "an absolute file path such as '/var/tmp/fill'")


# -- requirements and the plan ----------------------------------------------------------------


def requirement(name: str, script: str, message: str, target: Target) -> Requirement:
    """A check whose only output, on failure, is `message`: the same one line wherever it is shown."""
    quiet = f"{{ {script}; }} >/dev/null 2>&1 || {{ echo {q(message)} >&2; exit 1; }}"
    return Requirement(name, Shell(quiet, sudo=target.sudo), message)


def tool(tool: str, target: Target, package: str, why: str) -> Requirement:
    return requirement(f"tool:{tool}", f"command -v {q(tool)}",
                       f"{target.name}: {tool} is not installed (package {package}); {why}", target)


def _sudo_req(target: Target) -> tuple[Requirement, ...]:
    if not target.sudo:
        return ()
    return (Requirement("sudo", Shell("true", sudo=True),
                        f"{target.name}: `sudo -n` is refused; allow the ssh user passwordless sudo"),)


def _base_requires(target: Target) -> tuple[Requirement, ...]:
    return (*_sudo_req(target), tool("setsid", target, "util-linux", "the leash needs it"))


def host_plan(spec: FaultSpec, target: Target, ctx: PlanContext, summary: str, inject: str, revert: str,
              verify: str, requires: tuple[Requirement, ...], clobber: tuple[str, ...] = ()) -> FaultPlan:
    """The plan of a host fault: leashed, its inject stoppable in flight, sudo as the target says."""
    sudo = target.sudo
    rev = (Shell(revert, sudo=sudo, timeout=INJECT_TIMEOUT),)
    # The inject runs so that a stop can end it while in flight (faults/inflight.py), and so can the guard.
    return stoppable(FaultPlan(
        fault_id=ctx.fault_id, spec=spec, target=target.name, summary=summary,
        inject=(Shell(inject, sudo=sudo, timeout=INJECT_TIMEOUT),), revert=rev,
        verify=(Shell(verify, sudo=sudo, timeout=INJECT_TIMEOUT),),
        leash=leash_for(ctx.fault_id, guard_undo(ctx.fault_id, rev, sudo), sudo),
        requires=(*_base_requires(target), *requires),
        clobber_check=tuple(Shell(c, sudo=sudo, timeout=INJECT_TIMEOUT) for c in clobber),
    ))
