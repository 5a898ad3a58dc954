"""A Chaos Mesh controller stand-in: the object lifecycle of chaos-controller-manager, with simulated effects.

Lifecycle, as chaos-mesh/chaos-mesh's controllers/common (finalizers, desiredphase, records, condition)
drive it, for PodChaos, NetworkChaos, StressChaos, IOChaos, HTTPChaos, DNSChaos and TimeChaos:
* the `chaos-mesh/records` finalizer is added to every new object;
* `status.experiment.desiredPhase` is `Stop` once the object is being deleted, once `spec.duration`
  has passed since `creationTimestamp` (the object stays, finished), or while the annotation
  `experiment.chaos-mesh.org/pause: "true"` is set; `Run` otherwise; pod-kill and container-kill are
  one-shot (always `Run`);
* targets are selected once, by `spec.selector` (namespaces — defaulted to the object's own by the
  mutating webhook —, labelSelectors, expressionSelectors, annotationSelectors, fieldSelectors, nodes,
  nodeSelectors, podPhaseSelectors, or explicit `pods`) and `mode`/`value` with Chaos Mesh's arithmetic
  (fixed-percent rounds up; random-max-percent draws a percentage in [0, value]); a selection that
  finds no pod leaves the records empty, `Selected=False` and a Failed event, and is not retried until
  the object changes, as in Chaos Mesh. NetworkChaos `target` adds `.Target` records;
* `status.experiment.containerRecords[]` (id `ns/pod`, or `ns/pod/container` for container-level
  kinds) go `Not Injected` -> `Injected` while Run and back while Stop, counting injections and
  recoveries, with the Succeeded/Failed events a record keeps;
* `status.conditions` Selected, AllInjected, AllRecovered, Paused;
* on delete: records are recovered, then the finalizer is removed (the object then leaves storage).
  The annotation `chaos-mesh.chaos-mesh.org/cleanFinalizer: forced` removes the finalizer WITHOUT
  recovery: the simulated effect stays on the pods ("fault may persist"), as a real fault would.
  `stuck = True` makes every recovery fail (a daemon that cannot be reached): records stay
  Injected, the finalizer is held and deletes never complete — the tests' unconfirmed revert;
* admission webhooks (`mpodchaos.kb.io`/`vpodchaos.kb.io`...): selector namespaces defaulted; `value`
  checked for the fixed modes, `duration` parsed as a Go duration, container-kill needs containerNames,
  and a changed `spec` refused ("Cannot update chaos spec").
It acts only while its marker Deployment `chaos-mesh/chaos-controller-manager` has a ready replica:
scale it to 0 and chaos objects stop being served (finalizers are then held), as with a real one.

Effects are simulated on the target pods, where the room's observation can see them:
* pod-kill deletes the pods (grace `spec.gracePeriod`, default 0): their ReplicaSet replaces them;
* pod-failure holds them NotReady while injected (annotation `chaos.controlroom.io/unready`); on
  recovery the container restarts (restartCount + 1) and is Ready after the kubelet's ready delay;
* container-kill restarts the named containers (restartCount + 1, NotReady until ready again);
* every other kind/action adds `Kind/action namespace/name` to the pod's annotation
  `chaos.controlroom.io/injected` while injected; actions listed in `StandinConfig.unready_actions`
  (e.g. `NetworkChaos/partition`) also hold the pods NotReady. No packet is delayed, no CPU burnt.
Not simulated: chaos-daemon, Schedule/Workflow, remote clusters, the dashboard, `vauth` RBAC webhook.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

from controlroom.lab.kube._util import parse_go_duration, parse_rfc3339, rfc3339
from controlroom.lab.kube.controllers.base import Controller, copy_of, set_condition
from controlroom.lab.kube.controllers.workloads import UNREADY_ANNOTATION
from controlroom.lab.kube.resources import ResourceType, field_value
from controlroom.lab.kube.selectors import EVERYTHING, selector_from_dict
from controlroom.lab.kube.status import ApiError, go_value
from controlroom.lab.kube.store import Change

Obj = dict[str, Any]

GROUP = "chaos-mesh.org"
KINDS = {"PodChaos": "podchaos", "NetworkChaos": "networkchaos", "StressChaos": "stresschaos",
         "IOChaos": "iochaos", "HTTPChaos": "httpchaos", "DNSChaos": "dnschaos", "TimeChaos": "timechaos"}
CONTAINER_LEVEL = {"StressChaos", "IOChaos", "TimeChaos", "DNSChaos"}
RECORDS_FINALIZER = "chaos-mesh/records"
PAUSE_ANNOTATION = "experiment.chaos-mesh.org/pause"
CLEAN_FINALIZER_ANNOTATION = "chaos-mesh.chaos-mesh.org/cleanFinalizer"
INJECTED_ANNOTATION = "chaos.controlroom.io/injected"
CONTROLLER_NAMESPACE, CONTROLLER_DEPLOYMENT = "chaos-mesh", "chaos-controller-manager"
INJECTED, NOT_INJECTED = "Injected", "Not Injected"
RETRY = 1.0  # seconds between retries of a failed apply/recover, as controller-runtime's backoff starts


class SelectError(Exception):
    pass


def action_of(kind: str, spec: Obj) -> str:
    if spec.get("action"):
        return str(spec["action"])
    return {"StressChaos": "stress", "TimeChaos": "time-offset", "HTTPChaos": "http"}.get(kind, kind.lower())


def one_shot(kind: str, spec: Obj) -> bool:
    return kind == "PodChaos" and spec.get("action") in ("pod-kill", "container-kill")


def filter_by_mode(items: list[Any], mode: str, value: str, rng: random.Random) -> list[Any]:
    """Chaos Mesh's FilterObjectsByMode (pkg/selector/generic/mode.go), with its errors."""
    count = len(items)
    if count == 0:
        raise SelectError("cannot generate objects from empty list")

    def pick(n: int) -> list[Any]:
        if n >= count:
            return list(items)
        return [items[i] for i in sorted(rng.sample(range(count), n))]

    def number(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise SelectError(f'strconv.Atoi: parsing "{text}": invalid syntax') from None

    if mode == "one":
        return [items[rng.randrange(count)]]
    if mode == "all":
        return list(items)
    if mode == "fixed":
        n = number(value)
        if n <= 0:
            raise SelectError("cannot select any object as value below or equal 0")
        return pick(min(n, count))
    if mode == "fixed-percent":
        pct = number(value)
        if pct == 0:
            raise SelectError("cannot select any object as value below or equal 0")
        if pct < 0 or pct > 100:
            raise SelectError(f"fixed percentage value of {pct} is invalid, Must be (0,100]")
        return pick(math.ceil(count * pct / 100))
    if mode == "random-max-percent":
        pct = number(value)
        if pct == 0:
            raise SelectError("cannot select any object as value below or equal 0")
        if pct < 0 or pct > 100:
            raise SelectError(f"fixed percentage value of {pct} is invalid, Must be [0-100]")
        return pick(math.ceil(count * rng.randrange(pct + 1) / 100))
    raise SelectError(f"mode {mode} not supported")


class ChaosMeshController(Controller):
    name = "chaos-mesh"
    component = "chaos-controller-manager"
    watches = (*(f"{GROUP}/{p}" for p in KINDS.values()), "apps/deployments")

    def __init__(self, cluster: Any):
        super().__init__(cluster)
        self.stuck = False  # every recovery fails: finalizers are held (the tests' unconfirmed delete)
        self.rng = random.Random(cluster.config.seed)
        self._select_failed: dict[str, str] = {}  # uid -> resourceVersion at which selection failed
        self._due: dict[tuple[str, str, str], float] = {}  # (uid, record id, op) -> when it may happen
        self._retry_at: dict[tuple[str, str, str], float] = {}
        self._dirty: set[tuple[str, str, str]] = set()  # (rt key, namespace, name) changed since the last pass
        self._deadline: dict[tuple[str, str, str], float] = {}  # object -> when it must be looked at again
        self._everything = True

    # -- is it running? ------------------------------------------------------------------------------------

    def running(self) -> bool:
        dep = self.store.find(self.cluster.rt("deployments"), CONTROLLER_NAMESPACE, CONTROLLER_DEPLOYMENT)
        return bool(dep and (dep.get("status") or {}).get("readyReplicas", 0) >= 1)

    def types(self) -> list[ResourceType]:
        out = []
        for plural in KINDS.values():
            rt = self.cluster.find_rt(plural, GROUP)
            if rt is not None:
                out.append(rt)
        return out

    # -- reconcile -----------------------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        # Only the objects that changed (and those whose time has come) are looked at again: with 50
        # objects, reconciling all of them on every write made a mass delete quadratic.
        if change.rt_key.startswith(f"{GROUP}/"):
            self._dirty.add((change.rt_key, change.namespace, change.name))
            self._wake.set()
        elif change.rt_key == "apps/deployments" and change.namespace == CONTROLLER_NAMESPACE:
            self._everything = True
            self._wake.set()

    def reconcile(self, now: float) -> float | None:
        if not self.running():
            self._everything = True  # when it is back, it looks at every object again, as a restarted one does
            return None
        types = {rt.key: rt for rt in self.types()}
        if self._everything:
            todo = {(rt.key, o["metadata"]["namespace"], o["metadata"]["name"])
                    for rt in types.values() for o in self.store.query(rt)}
        else:
            todo = set(self._dirty) | {k for k, due in self._deadline.items() if due <= now}
        self._dirty.clear()
        self._everything = False
        for key in sorted(todo):
            rt = types.get(key[0])
            obj = self.store.find(rt, key[1], key[2]) if rt is not None else None
            if rt is None or obj is None:
                self._deadline.pop(key, None)
                continue
            wait = self._one(rt, obj, now)
            if wait is None:
                self._deadline.pop(key, None)
            else:
                self._deadline[key] = now + wait
        if not self._deadline:
            return None
        return max(0.0, min(self._deadline.values()) - now)

    def _one(self, rt: ResourceType, obj: Obj, now: float) -> float | None:
        meta = obj["metadata"]
        uid = meta["uid"]
        deleted = bool(meta.get("deletionTimestamp"))
        if not deleted and RECORDS_FINALIZER not in (meta.get("finalizers") or []):
            new = copy_of(obj)
            new["metadata"].setdefault("finalizers", []).append(RECORDS_FINALIZER)
            self.write(rt, new)
            self.event(rt, obj, "Normal", "FinalizerInited", "Finalizer has been inited")
            return 0.0
        desired, until = self._desired_phase(rt.kind, obj)
        status = copy_of(obj.get("status") or {})
        exp = status.setdefault("experiment", {})
        previous_phase = exp.get("desiredPhase")
        records: list[Obj] | None = exp.get("containerRecords")
        next_in: float | None = until

        def later(wait: float) -> None:
            nonlocal next_in
            next_in = wait if next_in is None else min(next_in, wait)

        if records is None and not deleted and self._select_failed.get(uid) != meta["resourceVersion"]:
            try:
                records = self._select(rt.kind, obj)
            except SelectError as err:
                self._select_failed[uid] = meta["resourceVersion"]
                self.event(rt, obj, "Warning", "Failed", f"Failed to select targets: {err}")
                records = None
        timings = self.cluster.config.timings
        for rec in records or []:
            if desired == "Run" and rec["phase"] != INJECTED:
                op = "Apply"
            elif desired == "Stop" and rec["phase"] != NOT_INJECTED:
                op = "Recover"
            else:
                continue
            key = (uid, rec["id"], op)
            due = self._due.setdefault(key, now + (timings.inject_delay if op == "Apply" else timings.recover_delay))
            retry = self._retry_at.get(key, 0.0)
            if now < max(due, retry):
                later(max(due, retry) - now)
                continue
            error = self._apply(rt.kind, obj, rec) if op == "Apply" else self._recover(rt.kind, obj, rec)
            stamp = rfc3339()
            events = rec.setdefault("events", [])
            if error:
                events.append({"type": "Failed", "operation": op, "message": error, "timestamp": stamp})
                self.event(rt, obj, "Warning", "Failed", f"Failed to {op.lower()} chaos: {error}")
                self._retry_at[key] = now + RETRY
                later(RETRY)
            else:
                self._due.pop(key, None)
                self._retry_at.pop(key, None)
                if op == "Apply":
                    rec["phase"] = INJECTED
                    rec["injectedCount"] = rec.get("injectedCount", 0) + 1
                    events.append({"type": "Succeeded", "operation": "Apply", "timestamp": stamp})
                    self.event(rt, obj, "Normal", "Applied", f"Successfully apply chaos for {rec['id']}")
                else:
                    rec["phase"] = NOT_INJECTED
                    rec["recoveredCount"] = rec.get("recoveredCount", 0) + 1
                    events.append({"type": "Succeeded", "operation": "Recover", "timestamp": stamp})
                    self.event(rt, obj, "Normal", "Recovered", f"Successfully recover chaos for {rec['id']}")
            del events[:-10]  # Chaos Mesh keeps the last MaxEvents (10) per record
        exp["desiredPhase"] = desired
        if records is not None:
            exp["containerRecords"] = records
        paused = (meta.get("annotations") or {}).get(PAUSE_ANNOTATION) == "true"
        conds: list[Obj] = []
        for ctype, value in (("Selected", records is not None),
                             ("AllInjected", records is not None and all(r["phase"] == INJECTED for r in records)),
                             ("AllRecovered", records is not None and all(r["phase"] == NOT_INJECTED for r in records)),
                             ("Paused", paused)):
            conds.append({"type": ctype, "status": "True" if value else "False"})
        status["conditions"] = conds
        if status != (obj.get("status") or {}):
            new = copy_of(obj)
            new["status"] = status
            written = self.write(rt, new)
            if written is None:
                return next_in
            obj = written
            if previous_phase != desired:
                reason, message = _phase_event(desired, deleted, paused)
                self.event(rt, obj, "Normal", reason, message)
        if deleted:
            forced = (meta.get("annotations") or {}).get(CLEAN_FINALIZER_ANNOTATION) == "forced"
            recovered = all(r["phase"] == NOT_INJECTED for r in records or [])
            fins = obj["metadata"].get("finalizers") or []
            if fins and (forced or recovered):
                new = copy_of(obj)
                new["metadata"]["finalizers"] = [f for f in fins if f != RECORDS_FINALIZER]
                self.event(rt, obj, "Normal", "FinalizerRemoved", "Finalizer has been removed")
                self.write(rt, new)
                self._forget(uid)
        return next_in

    def _forget(self, uid: str) -> None:
        self._select_failed.pop(uid, None)
        for key in [k for k in self._due if k[0] == uid]:
            del self._due[key]
        for key in [k for k in self._retry_at if k[0] == uid]:
            del self._retry_at[key]

    def _desired_phase(self, kind: str, obj: Obj) -> tuple[str, float | None]:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        if meta.get("deletionTimestamp"):
            return "Stop", None
        if one_shot(kind, spec):
            return "Run", None
        duration = spec.get("duration")
        if duration:
            try:
                seconds = parse_go_duration(str(duration))
            except ValueError:
                seconds = None  # the webhook refuses these; an object created without it runs, as in Chaos Mesh
            if seconds is not None:
                stop_at = parse_rfc3339(meta["creationTimestamp"]) + seconds
                left = stop_at - self.store.clock()
                if left <= 0:
                    return "Stop", None
                if (meta.get("annotations") or {}).get(PAUSE_ANNOTATION) == "true":
                    return "Stop", left
                return "Run", left
        if (meta.get("annotations") or {}).get(PAUSE_ANNOTATION) == "true":
            return "Stop", None
        return "Run", None

    # -- selection -----------------------------------------------------------------------------------------

    def _select(self, kind: str, obj: Obj) -> list[Obj]:
        spec = obj.get("spec") or {}
        ns = obj["metadata"]["namespace"]
        selectors = {".": spec}
        if kind == "NetworkChaos" and spec.get("target"):
            selectors[".Target"] = spec["target"]
        records: list[Obj] = []
        for key, sel in selectors.items():
            pods = self.select_pods(sel.get("selector") or {}, ns)
            if not pods:
                raise SelectError("no pod is selected")
            chosen = filter_by_mode(pods, str(sel.get("mode", "")), str(sel.get("value", "")), self.rng)
            container_level = kind in CONTAINER_LEVEL or (kind == "PodChaos" and spec.get("action") == "container-kill")
            for pod in chosen:
                pmeta = pod["metadata"]
                base = f"{pmeta['namespace']}/{pmeta['name']}"
                if not container_level:
                    records.append(_record(base, key))
                    continue
                names = sel.get("containerNames") or spec.get("containerNames") or []
                containers = [c["name"] for c in pod["spec"].get("containers") or []]
                for cname in (names and [c for c in containers if c in names]) or containers[:1]:
                    records.append(_record(f"{base}/{cname}", key))
        return records

    def select_pods(self, sel: Obj, default_ns: str) -> list[Obj]:
        """Pods matching a Chaos Mesh PodSelectorSpec (before mode/value), in list order."""
        pod_rt = self.cluster.rt("pods")
        if sel.get("pods"):
            out = []
            for ns, names in sorted(sel["pods"].items()):
                for name in names or []:
                    pod = self.store.find(pod_rt, ns, name)
                    if pod is not None:
                        out.append(pod)
            return out
        try:
            labels = selector_from_dict({"matchLabels": sel.get("labelSelectors") or {},
                                         "matchExpressions": sel.get("expressionSelectors") or []})
        except ValueError as err:
            raise SelectError(str(err)) from None
        fields = dict(sel.get("fieldSelectors") or {})
        annotations = dict(sel.get("annotationSelectors") or {})
        nodes = set(sel.get("nodes") or [])
        node_labels = dict(sel.get("nodeSelectors") or {})
        phases = _phase_match(sel.get("podPhaseSelectors") or [])
        out = []
        for ns in sel.get("namespaces") or [default_ns]:
            for pod in self.store.query(pod_rt, ns, labels if labels.requirements else EVERYTHING):
                if fields and any(field_value(pod, f) != str(v) for f, v in fields.items()):
                    continue
                pann = pod["metadata"].get("annotations") or {}
                if any(pann.get(k) != v for k, v in annotations.items()):
                    continue
                node = (pod.get("spec") or {}).get("nodeName", "")
                if nodes and node not in nodes:
                    continue
                if node_labels and any(self.cluster.node_labels(node).get(k) != v for k, v in node_labels.items()):
                    continue
                if phases is not None and not phases((pod.get("status") or {}).get("phase", "")):
                    continue
                out.append(pod)
        return out

    # -- effects -------------------------------------------------------------------------------------------

    def _apply(self, kind: str, obj: Obj, rec: Obj) -> str:
        spec = obj.get("spec") or {}
        action = action_of(kind, spec)
        pod_rt = self.cluster.rt("pods")
        ns, name, container = _split_id(rec["id"])
        pod = self.store.find(pod_rt, ns, name)
        if kind == "PodChaos" and action == "pod-kill":
            if pod is not None:
                try:
                    self.store.delete(pod_rt, ns, name, grace=int(spec.get("gracePeriod") or 0))
                except ApiError as err:
                    if err.code != 404:
                        return err.message
            return ""
        if pod is None:
            return f'pods "{name}" not found'
        if kind == "PodChaos" and action == "container-kill":
            self._restart(pod, [container] if container else [])
            return ""
        self._mark(pod, self._tag(kind, action, obj), unready=f"{kind}/{action}" in self.cluster.config.unready_actions)
        return ""

    def _recover(self, kind: str, obj: Obj, rec: Obj) -> str:
        if self.stuck:
            return "simulated: chaos-daemon did not answer the recovery (stuck mode)"
        spec = obj.get("spec") or {}
        action = action_of(kind, spec)
        if one_shot(kind, spec):
            return ""
        ns, name, _ = _split_id(rec["id"])
        pod = self.store.find(self.cluster.rt("pods"), ns, name)
        if pod is None:
            return ""  # the pod is gone: nothing left to recover
        self._unmark(pod, self._tag(kind, action, obj))
        if kind == "PodChaos" and action == "pod-failure":
            fresh = self.store.find(self.cluster.rt("pods"), ns, name)
            if fresh is not None:
                self._restart(fresh, [])  # the original image comes back: the container restarts
        return ""

    @staticmethod
    def _tag(kind: str, action: str, obj: Obj) -> str:
        meta = obj["metadata"]
        return f"{kind}/{action} {meta['namespace']}/{meta['name']}"

    def _mark(self, pod: Obj, tag: str, unready: bool) -> None:
        new = copy_of(pod)
        ann = new["metadata"].setdefault("annotations", {})
        tags = json.loads(ann.get(INJECTED_ANNOTATION, "[]"))
        if tag not in tags:
            tags.append(tag)
        ann[INJECTED_ANNOTATION] = json.dumps(tags)
        if unready:
            holders = [h for h in ann.get(UNREADY_ANNOTATION, "").split(",") if h]
            if tag not in holders:
                holders.append(tag)
            ann[UNREADY_ANNOTATION] = ",".join(holders)
        self.write(self.cluster.rt("pods"), new)

    def _unmark(self, pod: Obj, tag: str) -> None:
        new = copy_of(pod)
        ann = new["metadata"].setdefault("annotations", {})
        tags = [t for t in json.loads(ann.get(INJECTED_ANNOTATION, "[]")) if t != tag]
        if tags:
            ann[INJECTED_ANNOTATION] = json.dumps(tags)
        else:
            ann.pop(INJECTED_ANNOTATION, None)
        holders = [h for h in ann.get(UNREADY_ANNOTATION, "").split(",") if h and h != tag]
        if holders:
            ann[UNREADY_ANNOTATION] = ",".join(holders)
        else:
            ann.pop(UNREADY_ANNOTATION, None)
        if not ann:
            new["metadata"].pop("annotations")
        self.write(self.cluster.rt("pods"), new)

    def _restart(self, pod: Obj, containers: list[str]) -> None:
        new = copy_of(pod)
        status = new.setdefault("status", {})
        now = rfc3339()
        for cs in status.get("containerStatuses") or []:
            if containers and cs.get("name") not in containers:
                continue
            cs["restartCount"] = cs.get("restartCount", 0) + 1
            cs["ready"] = False
            cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now}}
            cs["state"] = {"running": {"startedAt": now}}
        set_condition(status, "Ready", False, "ContainersNotReady", "containers with unready status")
        set_condition(status, "ContainersReady", False, "ContainersNotReady", "containers with unready status")
        self.write_status(self.cluster.rt("pods"), new)


def _record(ident: str, key: str) -> Obj:
    return {"id": ident, "selectorKey": key, "phase": NOT_INJECTED, "injectedCount": 0, "recoveredCount": 0}


def _split_id(ident: str) -> tuple[str, str, str]:
    parts = ident.split("/")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def _phase_match(values: list[str]) -> Callable[[str], bool] | None:
    """podPhaseSelectors: `Running` includes, `!Failed` excludes (Chaos Mesh's phase selector)."""
    if not values:
        return None
    included = {v.strip() for v in values if not v.strip().startswith("!")}
    excluded = {v.strip()[1:] for v in values if v.strip().startswith("!")}
    return lambda phase: (not included or phase in included) and phase not in excluded


def _phase_event(desired: str, deleted: bool, paused: bool) -> tuple[str, str]:
    # the recorder's events of chaos-mesh/controllers/utils/recorder
    if desired == "Run":
        return "Started", "Experiment has started"
    if deleted:
        return "Deleted", "Experiment has been deleted"
    if paused:
        return "Paused", "Experiment has been paused"
    return "TimeUp", "Time up according to the duration"


# -- admission webhooks -----------------------------------------------------------------------------------------


def webhook(op: str, rt: ResourceType, new: Obj, old: Obj | None) -> None:
    """Chaos Mesh's mutating and validating webhooks for its kinds (registered while it is installed)."""
    if rt.group != GROUP or rt.kind not in KINDS or op == "DELETE":
        return
    spec = new.get("spec")
    if not isinstance(spec, dict):
        return
    ns = new["metadata"].get("namespace", "")
    if op == "CREATE":
        for sel_owner in (spec, spec.get("target")):
            if isinstance(sel_owner, dict):
                sel = sel_owner.setdefault("selector", {})
                if isinstance(sel, dict) and not sel.get("namespaces"):
                    sel["namespaces"] = [ns]  # PodSelector.Default: even beside an explicit `pods` map
    if op == "UPDATE" and old is not None and spec != (old.get("spec") or {}):
        raise _denied(rt, "Cannot update chaos spec")
    errors: list[str] = []
    for path, owner in (("spec", spec), ("spec.target", spec.get("target"))):
        if isinstance(owner, dict):
            errors += _check_value(path, str(owner.get("mode", "")), owner.get("value"))
    if spec.get("duration") not in (None, ""):
        try:
            parse_go_duration(str(spec["duration"]))
        except ValueError as err:
            errors.append(f"spec.duration: Invalid value: {go_value(spec['duration'])}: parse duration field error: "
                          f"{err}")
    if rt.kind == "PodChaos" and spec.get("action") == "container-kill" and not spec.get("containerNames"):
        errors.append("spec.containerNames: Invalid value: []string(nil): the name of container is required on "
                      "container-kill action: invalid value")
    if errors:
        raise _denied(rt, errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def _check_value(path: str, mode: str, value: Any) -> list[str]:
    text = "" if value is None else str(value)
    field = f"{path}.value"
    if mode == "fixed":
        try:
            n = int(text)
        except ValueError:
            return [f'{field}: Invalid value: "{text}": parse value field error:strconv.Atoi: parsing "{text}": '
                    f"invalid syntax"]
        if n <= 0:
            return [f'{field}: Invalid value: "{text}": value must be greater than 0 with mode:fixed']
    elif mode in ("fixed-percent", "random-max-percent"):
        try:
            pct = int(text)
        except ValueError:
            return [f'{field}: Invalid value: "{text}": parse value field error:strconv.Atoi: parsing "{text}": '
                    f"invalid syntax"]
        if pct <= 0 or pct > 100:
            return [f'{field}: Invalid value: "{text}": value of {pct} is invalid, Must be (0,100] with mode:{mode}']
    return []


def _denied(rt: ResourceType, message: str) -> ApiError:
    return ApiError(403, "Forbidden", f'admission webhook "v{rt.plural}.kb.io" denied the request: {message}')
