"""Simulated Deployment and ReplicaSet controllers, scheduler and kubelet: pods that come back after a loss.

What is simulated:
* Deployment -> one ReplicaSet per pod template (`<name>-<pod-template-hash>`), owned by the
  Deployment; an older template's ReplicaSet is scaled to 0 at once (no rolling surge).
  `status.replicas/readyReplicas/availableReplicas/updatedReplicas/unavailableReplicas`,
  `observedGeneration` and the Available/Progressing conditions are kept as the real controller does.
* ReplicaSet -> `replicas` pods with the template's labels plus `pod-template-hash` and a controller
  ownerReference. A pod that is deleted (or terminating) no longer counts; its replacement object is
  created `recreate_delay` after the loss is seen; extra pods are deleted, not-ready ones first.
* Scheduler: a pod without `spec.nodeName` is bound to the simulated nodes in turn.
* Kubelet: Pending -> Running after `start_delay` (pod IP, container statuses), Ready after a further
  `ready_delay`. A pod carrying the `chaos.controlroom.io/unready` annotation (set by the chaos
  stand-ins while a fault that takes it down is injected) is kept NotReady; when the annotation goes,
  it is Ready again `ready_delay` later. A pod being deleted turns NotReady and leaves after its grace
  period, capped at `termination`.

Not simulated: containers, probes, images, resources, rolling updates, minReadySeconds, nodes as
objects, pods that fail by themselves.
"""

from __future__ import annotations

import functools
import json
import zlib
from typing import Any

from controlroom.lab.kube._util import parse_rfc3339, random_suffix, rfc3339
from controlroom.lab.kube.controllers.base import Controller, condition, copy_of, owned_by, owner_ref, set_condition
from controlroom.lab.kube.selectors import selector_from_dict
from controlroom.lab.kube.status import ApiError

Obj = dict[str, Any]
UNREADY_ANNOTATION = "chaos.controlroom.io/unready"
HASH_LABEL = "pod-template-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj) -> str:
    """A stable hash of a pod template, encoded the way `pod-template-hash` values look."""
    digest = zlib.crc32(json.dumps(template, sort_keys=True).encode())
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in str(digest))[:10]


def pod_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class WorkloadController(Controller):
    name = "workloads"
    component = "deployment-controller"
    watches = ("apps/deployments", "apps/replicasets", "/pods")

    def __init__(self, cluster: Any):
        super().__init__(cluster)
        self._missing_since: dict[str, float] = {}

    def reconcile(self, now: float) -> float | None:
        next_in: float | None = None
        deploy_rt, rs_rt, pod_rt = self.cluster.rt("deployments"), self.cluster.rt("replicasets"), self.cluster.rt("pods")
        for dep in self.store.query(deploy_rt):
            if not dep["metadata"].get("deletionTimestamp"):
                self._deployment(dep, deploy_rt, rs_rt)
        seen = set()
        for rs in self.store.query(rs_rt):
            uid = rs["metadata"]["uid"]
            seen.add(uid)
            if rs["metadata"].get("deletionTimestamp"):
                continue
            wait = self._replicaset(rs, rs_rt, pod_rt, now)
            if wait is not None:
                next_in = wait if next_in is None else min(next_in, wait)
        for uid in list(self._missing_since):
            if uid not in seen:
                del self._missing_since[uid]
        # statuses last, so one pass reports the pods it just created or removed
        for rs in self.store.query(rs_rt):
            self._rs_status(rs, rs_rt, pod_rt)
        for dep in self.store.query(deploy_rt):
            self._deployment_status(dep, deploy_rt, rs_rt)
        return next_in

    # -- Deployment ----------------------------------------------------------------------------------------

    def _deployment(self, dep: Obj, deploy_rt: Any, rs_rt: Any) -> None:
        meta, spec = dep["metadata"], dep["spec"]
        template = spec["template"]
        h = template_hash(template)
        owned = [rs for _, rs in self.store.dependents(meta["uid"]) if rs.get("kind") == "ReplicaSet"
                 and owned_by(rs, meta["uid"])]
        current = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH_LABEL) == h), None)
        replicas = spec.get("replicas", 1)
        if current is None:
            labels = {**(template.get("metadata") or {}).get("labels", {}), HASH_LABEL: h}
            sel = copy_of(spec["selector"])
            sel.setdefault("matchLabels", {})[HASH_LABEL] = h
            tmpl = copy_of(template)
            tmpl.setdefault("metadata", {})["labels"] = dict(labels)
            body = {"metadata": {"name": f"{meta['name']}-{h}", "namespace": meta["namespace"], "labels": labels,
                                 "annotations": {"deployment.kubernetes.io/revision": str(len(owned) + 1)},
                                 "ownerReferences": [owner_ref(deploy_rt, dep)]},
                    "spec": {"replicas": replicas, "selector": sel, "template": tmpl}}
            try:
                self.store.create(rs_rt, meta["namespace"], body)
            except ApiError as err:
                if err.code not in (403, 409):  # a terminating namespace or a clash: the next pass sees it
                    raise
            else:
                self.event(deploy_rt, dep, "Normal", "ScalingReplicaSet",
                           f"Scaled up replica set {meta['name']}-{h} from 0 to {replicas}")
        elif current["spec"].get("replicas") != replicas:
            new = copy_of(current)
            new["spec"]["replicas"] = replicas
            self.write(rs_rt, new)
        for rs in owned:
            if rs is not current and rs["spec"].get("replicas", 0) != 0 and not rs["metadata"].get("deletionTimestamp"):
                new = copy_of(rs)
                new["spec"]["replicas"] = 0
                self.write(rs_rt, new)

    def _deployment_status(self, dep: Obj, deploy_rt: Any, rs_rt: Any) -> None:
        meta, spec = dep["metadata"], dep["spec"]
        h = template_hash(spec["template"])
        owned = [rs for _, rs in self.store.dependents(meta["uid"]) if rs.get("kind") == "ReplicaSet"]
        desired = spec.get("replicas", 1)
        total = sum((rs.get("status") or {}).get("replicas", 0) for rs in owned)
        ready = sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in owned)
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in owned)
        updated = sum((rs.get("status") or {}).get("replicas", 0) for rs in owned
                      if rs["metadata"].get("labels", {}).get(HASH_LABEL) == h)
        max_unavailable = _max_unavailable(spec, desired)
        status = copy_of(dep.get("status") or {})
        status.update({"observedGeneration": meta.get("generation", 1), "replicas": total,
                       "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                       "unavailableReplicas": max(0, desired - available)})
        for key in ("readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas", "replicas"):
            if not status[key]:
                del status[key]  # zero counts are omitted in the real API's JSON
        has_min = available >= desired - max_unavailable
        set_condition(status, "Available", has_min,
                      "MinimumReplicasAvailable" if has_min else "MinimumReplicasUnavailable",
                      "Deployment has minimum availability." if has_min else
                      "Deployment does not have minimum availability.", with_times=False)
        complete = updated == desired and available == desired and total == desired
        set_condition(status, "Progressing", True, "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                      f'ReplicaSet "{meta["name"]}-{h}" has successfully progressed.' if complete else
                      f'ReplicaSet "{meta["name"]}-{h}" is progressing.', with_times=False)
        if status != (dep.get("status") or {}):
            new = copy_of(dep)
            new["status"] = status
            self.write_status(deploy_rt, new)

    # -- ReplicaSet ----------------------------------------------------------------------------------------

    def _owned_pods(self, rs: Obj) -> list[Obj]:
        return [p for _, p in self.store.dependents(rs["metadata"]["uid"]) if p.get("kind") == "Pod"
                and owned_by(p, rs["metadata"]["uid"])]

    def _replicaset(self, rs: Obj, rs_rt: Any, pod_rt: Any, now: float) -> float | None:
        meta, spec = rs["metadata"], rs["spec"]
        pods = [p for p in self._owned_pods(rs) if active(p)]
        want = spec.get("replicas", 1)
        uid = meta["uid"]
        if len(pods) < want:
            since = self._missing_since.setdefault(uid, now)
            due = since + self.cluster.config.timings.recreate_delay
            if now < due:
                return due - now
            del self._missing_since[uid]
            template = spec["template"]
            for _ in range(want - len(pods)):
                body = {"metadata": {"name": f"{meta['name']}-{random_suffix()}", "namespace": meta["namespace"],
                                     "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                                     "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                                     "ownerReferences": [owner_ref(rs_rt, rs)]},
                        "spec": copy_of(template.get("spec") or {})}
                try:
                    created, _ = self.store.create(pod_rt, meta["namespace"], body)
                except ApiError as err:
                    if err.code in (403, 409):
                        continue
                    raise
                self.event(rs_rt, rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        else:
            self._missing_since.pop(uid, None)
        if len(pods) > want:
            # not-ready pods go first, then the newest, as the ReplicaSet controller ranks them
            doomed = sorted(pods, key=lambda p: (pod_ready(p), -_ts(p)))[: len(pods) - want]
            for p in doomed:
                try:
                    self.store.delete(pod_rt, meta["namespace"], p["metadata"]["name"])
                except ApiError as err:
                    if err.code != 404:
                        raise
                self.event(rs_rt, rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
        return None

    def _rs_status(self, rs: Obj, rs_rt: Any, pod_rt: Any) -> None:
        pods = [p for p in self._owned_pods(rs) if active(p)]
        sel = selector_from_dict(rs["spec"].get("selector"))
        ready = sum(1 for p in pods if pod_ready(p))
        status = {"replicas": len(pods),
                  "fullyLabeledReplicas": sum(1 for p in pods if sel.matches(p["metadata"].get("labels"))),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if not status[key]:
                del status[key]
        if status != (rs.get("status") or {}):
            new = copy_of(rs)
            new["status"] = status
            self.write_status(rs_rt, new)


def _ts(pod: Obj) -> float:
    return parse_rfc3339(pod["metadata"]["creationTimestamp"])


def _max_unavailable(spec: Obj, desired: int) -> int:
    value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(desired * int(value[:-1]) / 100)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class Kubelet(Controller):
    """The scheduler and the kubelets of the simulated nodes (see the module docstring)."""

    name = "kubelet"
    component = "kubelet"
    watches = ("/pods",)

    def __init__(self, cluster: Any):
        super().__init__(cluster)
        self._running_at: dict[str, float] = {}
        self._ready_at: dict[str, float] = {}
        self._gone_at: dict[str, float] = {}
        self._next_node = 0
        self._ips = 0

    def reconcile(self, now: float) -> float | None:
        t = self.cluster.config.timings
        pod_rt = self.cluster.rt("pods")
        nodes = self.cluster.node_names
        next_in: float | None = None

        def later(due: float) -> None:
            nonlocal next_in
            wait = max(0.0, due - now)
            next_in = wait if next_in is None else min(next_in, wait)

        alive = set()
        for pod in self.store.query(pod_rt):
            meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
            uid, ns, name = meta["uid"], meta["namespace"], meta["name"]
            alive.add(uid)
            if meta.get("deletionTimestamp"):
                if uid not in self._gone_at:
                    grace = float(meta.get("deletionGracePeriodSeconds") or 0)
                    self._gone_at[uid] = now + min(grace, t.termination)
                    if pod_ready(pod):
                        self._set_ready(pod_rt, pod, False, "ContainersNotReady")
                if now >= self._gone_at[uid]:
                    self.store.finish_graceful(pod_rt, ns, name)
                    self._forget(uid)
                else:
                    later(self._gone_at[uid])
                continue
            if not spec.get("nodeName"):
                node = nodes[self._next_node % len(nodes)]
                self._next_node += 1
                self.store.system_update(pod_rt, ns, name, functools.partial(self._bind, node=node))
                continue
            phase = status.get("phase", "Pending")
            if phase == "Pending":
                due = self._running_at.setdefault(uid, now + t.start_delay)
                if now >= due:
                    self._start(pod_rt, pod)
                    self._ready_at[uid] = now + t.ready_delay
                    later(self._ready_at[uid])
                else:
                    later(due)
            elif phase == "Running":
                held = bool((meta.get("annotations") or {}).get(UNREADY_ANNOTATION))
                ready = pod_ready(pod)
                if held:
                    self._ready_at.pop(uid, None)
                    if ready:
                        self._set_ready(pod_rt, pod, False, "ContainersNotReady")
                elif not ready:
                    due = self._ready_at.setdefault(uid, now + t.ready_delay)
                    if now >= due:
                        self._set_ready(pod_rt, pod, True, "")
                        self._ready_at.pop(uid, None)
                    else:
                        later(due)
        for uid in set(self._running_at) | set(self._ready_at) | set(self._gone_at):
            if uid not in alive:
                self._forget(uid)
        return next_in

    def _forget(self, uid: str) -> None:
        self._running_at.pop(uid, None)
        self._ready_at.pop(uid, None)
        self._gone_at.pop(uid, None)

    @staticmethod
    def _bind(pod: Obj, node: str) -> None:
        pod["spec"]["nodeName"] = node
        status = pod.setdefault("status", {})
        set_condition(status, "PodScheduled", True)

    def _start(self, pod_rt: Any, pod: Obj) -> None:
        self._ips += 1
        ip = f"10.244.{(self._ips // 250) % 250}.{self._ips % 250 + 2}"
        node_ix = self.cluster.node_names.index(pod["spec"]["nodeName"]) if pod["spec"]["nodeName"] in \
            self.cluster.node_names else 0
        new = copy_of(pod)
        status = new.setdefault("status", {})
        started = rfc3339()
        status.update({"phase": "Running", "hostIP": f"172.18.0.{node_ix + 2}", "podIP": ip, "podIPs": [{"ip": ip}],
                       "startTime": started})
        status["containerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": f"{c.get('image', '')}@sha256:{'0' * 64}",
             "containerID": f"containerd://{random_suffix(16)}", "ready": False, "restartCount": 0,
             "started": True, "state": {"running": {"startedAt": started}}}
            for c in new["spec"].get("containers") or []]
        for ctype in ("PodReadyToStartContainers", "Initialized"):
            set_condition(status, ctype, True)
        set_condition(status, "Ready", False, "ContainersNotReady", "containers with unready status")
        set_condition(status, "ContainersReady", False, "ContainersNotReady", "containers with unready status")
        set_condition(status, "PodScheduled", True)
        self.write_status(pod_rt, new)

    def _set_ready(self, pod_rt: Any, pod: Obj, ready: bool, reason: str) -> None:
        new = copy_of(pod)
        status = new.setdefault("status", {})
        msg = "" if ready else "containers with unready status"
        set_condition(status, "Ready", ready, reason, msg)
        set_condition(status, "ContainersReady", ready, reason, msg)
        if ready:
            for c in status.get("conditions") or []:
                if c.get("type") in ("Ready", "ContainersReady"):
                    c.pop("reason", None)
                    c.pop("message", None)
        for cs in status.get("containerStatuses") or []:
            cs["ready"] = ready
        self.write_status(pod_rt, new)
