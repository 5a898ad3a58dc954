"""Native Kubernetes faults (`pod-kill`) and what every Kubernetes fault's plan shares: its pre-flight.

A Kubernetes plan is made of `KubeCall`s the `KubeExecutor` runs. Its first inject action resolves the
target's selection (selector + mode) and answers with a record the engine journals (`fault-selected`)
before the next action acts on exactly that selection.

`pod-kill` deletes the chosen pods (grace period configurable). There is nothing to revert: its verify is
a recovery check — the selector has as many ready pods again as before the kill, none of them a killed
one — and the time from the kill to that is journaled as `recovered_s`. It needs no leash: a deleted pod
is not held by anything the room could forget to release.
"""

from __future__ import annotations

from typing import Any

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import KubeCall
from controlroom.units import format_duration, parse_duration

DEFAULT_RECOVERY_WAIT = 120.0  # seconds a pod-kill's verify waits for the workload to be back


def kube_ref(target: Target) -> Any:
    if target.kubernetes is None:
        raise ValueError(f"target {target.name!r} has no kubernetes: section")
    return target.kubernetes


def call(op: str, fault: str = "", timeout: float = 15.0, **args: Any) -> KubeCall:
    return KubeCall(op=op, args=tuple(sorted(args.items())), fault=fault, timeout=timeout)


def rbac_requirement(target: Target, needs: list[tuple[str, str, str]]) -> Requirement:
    """SelfSubjectAccessReview of every (verb, resource, group) in every namespace of the target."""
    ref = kube_ref(target)
    checks = [(verb, resource, group, ns) for ns in ref.all_namespaces for verb, resource, group in needs]
    return Requirement("rbac", call("can-i", checks=checks), "")  # the answer names every denied permission


def selector_requirement(target: Target, ctx: PlanContext) -> Requirement:
    """The selector matches pods, and what the mode would choose is within blast_radius.max_pods."""
    return Requirement("selector matches", call("matches", max_pods=ctx.max_pods), "")


def selection_text(target: Target) -> str:
    ref = kube_ref(target)
    how = {"one": "1 pod", "all": "every pod", "fixed": f"{ref.value} pod(s)",
           "fixed-percent": f"{ref.value.rstrip('%')}% of the pods",
           "random-max-percent": f"up to {ref.value.rstrip('%')}% of the pods"}[ref.mode]
    return f"{how} matching {ref.selector!r} in {', '.join(ref.all_namespaces)}"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of seconds (0 or more), got {value!r}")
    return value


def _build_pod_kill(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    grace = arg(spec, GRACE)
    wait = float(arg(spec, RECOVERY_WAIT))
    fid = ctx.fault_id
    grace_text = "" if grace is None else f", grace {grace}s"
    return FaultPlan(
        fault_id=fid,
        spec=spec,
        target=target.name,
        summary=f"kill {selection_text(target)}{grace_text} (no leash needed: nothing stays injected)",
        inject=(call("select", fid, max_pods=ctx.max_pods), call("pod-kill", fid, grace_period=grace)),
        revert=(),
        verify=(call("workload-ready", fid, timeout=wait + 5.0, replaced=True, wait=wait),),
        requires=(rbac_requirement(target, [("list", "pods", ""), ("delete", "pods", "")]),
                  selector_requirement(target, ctx)),
        clobber_check=(call("clobber", kinds=CHAOS_KINDS_FOR_CLOBBER),),
    )


# Every Chaos Mesh kind and Litmus' ChaosEngine, so no two experiments (ours or another room's) hit one pod.
CHAOS_KINDS_FOR_CLOBBER = [("chaos-mesh.org/v1alpha1", k) for k in
                           ("podchaos", "networkchaos", "stresschaos", "iochaos", "httpchaos", "dnschaos", "timechaos")
                           ] + [("litmuschaos.io/v1alpha1", "chaosengines")]

GRACE = Param("grace_period", _positive_int, doc="seconds each pod gets to terminate (default: the pod's own)")
RECOVERY_WAIT = Param("recovery_wait", parse_duration, default=f"{DEFAULT_RECOVERY_WAIT:g}s",
                      doc=f"how long the verify waits for the workload to be ready again (default "
                          f"{format_duration(DEFAULT_RECOVERY_WAIT)})")

FAULTS: list[FaultType] = [
    FaultType("pod-kill", (GRACE, RECOVERY_WAIT), frozenset({"kubernetes"}), _build_pod_kill,
              doc="Delete the pods the target's selector and mode choose (journaled by name and uid); verified when "
                  "the workload has its ready pods back.", needs_duration=False),
]
