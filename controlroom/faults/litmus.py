"""Litmus ChaosEngines as game-day steps: `litmus-pod-delete` (chaos-operator with the pod-delete experiment).

* inject: `render` makes the ChaosEngine — labelled with the session, step and fault; `TARGET_PODS` names the
  pods the target's selector and mode choose now (journaled first, `fault-selected`), `PODS_AFFECTED_PERC`
  100 — and `apply` creates exactly that (strict). The pod-delete ChaosExperiment must be installed in the
  namespace (pre-flight checks it).
* leash: `TOTAL_CHAOS_DURATION` = the step's duration + the leash window, in whole seconds: Litmus ends the
  experiment by itself if the room dies.
* revert: patch `engineState: stop`, wait for `engineStatus` stopped/completed, then delete the engine and
  wait until it is gone. Litmus' abort does not undo every in-container fault, so the verify also judges the
  workload: the selector has its ready pods back (`workload-ready`), not merely "stopped".
"""

from __future__ import annotations

from typing import Any

from controlroom.faults import crd
from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.chaosmesh import go_duration
from controlroom.faults.kubernetes import (
    CHAOS_KINDS_FOR_CLOBBER,
    RECOVERY_WAIT,
    call,
    kube_ref,
    rbac_requirement,
    selection_text,
    selector_requirement,
)
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.scenario.model import FaultSpec, Target
from controlroom.units import parse_duration

CONTROLLER = ("litmus", "chaos-operator-ce")
DEFAULT_REVERT_WAIT = 30.0


def _force(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _account(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 253:
        raise ValueError(f"expected a service account name, got {value!r}")
    return value


INTERVAL = Param("interval", parse_duration, default="5s", doc="time between pod deletions (whole seconds)")
FORCE = Param("force", _force, default=True, doc="delete with grace 0 (FORCE=true, the default)")
ACCOUNT = Param("service_account", _account, default="pod-delete-sa",
                doc="the chaosServiceAccount the experiment runs as (default pod-delete-sa)")
REVERT_WAIT = Param("revert_wait", parse_duration, default=f"{DEFAULT_REVERT_WAIT:g}s",
                    doc="how long a revert waits for the engine to stop and be gone")


def engine_manifest(namespace: str, selector: str, total_s: float, interval_s: float, force: bool,
                    account: str) -> dict[str, Any]:
    env = [{"name": "TOTAL_CHAOS_DURATION", "value": go_duration(total_s).rstrip("s")},
           {"name": "CHAOS_INTERVAL", "value": go_duration(interval_s).rstrip("s")},
           {"name": "FORCE", "value": "true" if force else "false"}]
    return {"apiVersion": "litmuschaos.io/v1alpha1", "kind": "ChaosEngine",
            "metadata": {"namespace": namespace, "name": "named-at-injection"},
            "spec": {"engineState": "active", "annotationCheck": "false",
                     "appinfo": {"appns": namespace, "applabel": selector, "appkind": "deployment"},
                     "chaosServiceAccount": account,
                     "experiments": [{"name": "pod-delete", "spec": {"components": {"env": env}}}]}}


def _check(params: dict[str, Any]) -> list[tuple[str | None, str]]:
    spec = FaultSpec(type="litmus-pod-delete", target="", params=params)
    doc = engine_manifest("default", "app=x", 60.0, float(arg(spec, INTERVAL)), bool(arg(spec, FORCE)),
                          str(arg(spec, ACCOUNT)))
    problem = crd.check(doc)
    return [(None, f"ChaosEngine is invalid for its CRD: {problem}")] if problem else []


def _build(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    ref = kube_ref(target)
    if len(ref.all_namespaces) != 1:
        raise ValueError(f"target {target.name!r}: a Litmus ChaosEngine targets one namespace; give the target "
                         "one namespace")
    ns = ref.all_namespaces[0]
    total = (ctx.duration or 0.0) + ctx.leash_window
    doc = engine_manifest(ns, ref.selector, total, float(arg(spec, INTERVAL)), bool(arg(spec, FORCE)),
                          str(arg(spec, ACCOUNT)))
    api_version, plural, crd_name = crd.resource("ChaosEngine")
    wait = float(arg(spec, REVERT_WAIT))
    recovery = float(arg(spec, RECOVERY_WAIT))
    fid = ctx.fault_id
    where: dict[str, Any] = {"version": api_version, "plural": plural, "namespaces": [ns]}
    return FaultPlan(
        fault_id=fid,
        spec=spec,
        target=target.name,
        summary=(f"Litmus pod-delete of {selection_text(target)} every {go_duration(float(arg(spec, INTERVAL)))} "
                 f"— leash: TOTAL_CHAOS_DURATION {go_duration(total)} (Litmus ends it if the room dies)"),
        inject=(call("render", fid, manifest=doc, pin="litmus", step=fid.split("/", 1)[0], max_pods=ctx.max_pods),
                call("apply", fid, plural=plural)),
        revert=(call("patch-labelled", fid, patch={"spec": {"engineState": "stop"}}, **where),
                call("wait-labelled", fid, timeout=wait + 5.0, field="engineStatus", values=["stopped", "completed"],
                     wait=wait, **where),
                call("delete-labelled", fid, timeout=wait + 5.0, wait=wait, **where)),
        verify=(call("gone", fid, **where),
                call("workload-ready", fid, timeout=recovery + 5.0, wait=recovery)),
        requires=(rbac_requirement(target, [("list", "pods", ""), ("create", plural, crd.LITMUS),
                                            ("patch", plural, crd.LITMUS), ("deletecollection", plural, crd.LITMUS),
                                            ("list", plural, crd.LITMUS)]),
                  Requirement(f"CRD {crd_name}", call("crd", names=[crd_name], tool="Litmus"), ""),
                  Requirement("Litmus operator", call("controller", namespace=CONTROLLER[0], name=CONTROLLER[1],
                                                      tool="Litmus"), ""),
                  Requirement("ChaosExperiment pod-delete",
                              call("exists", version=api_version, plural="chaosexperiments", namespace=ns,
                                   name="pod-delete", what="ChaosExperiment",
                                   hint="install the pod-delete experiment from the Litmus ChaosHub in that namespace"),
                              ""),
                  selector_requirement(target, ctx)),
        clobber_check=(call("clobber", kinds=CHAOS_KINDS_FOR_CLOBBER),),
    )


FAULTS: list[FaultType] = [
    FaultType("litmus-pod-delete", (INTERVAL, FORCE, ACCOUNT, REVERT_WAIT, RECOVERY_WAIT), frozenset({"kubernetes"}),
              _build, doc="Litmus ChaosEngine pod-delete on the pods the target chooses; stopped with engineState: "
                          "stop, verified by the workload's health (leashed by TOTAL_CHAOS_DURATION).",
              check=_check),
]
