"""The simulated cluster's storage: objects, resourceVersion, watch history, finalizers, garbage collection.

Everything a client can observe about storage in Kubernetes is kept here, in one place, and every
write — from the HTTP API or from a simulated controller — goes through the same path:
system fields, defaults, validation (built-in rules, or the CRD schema), admission hooks (the
simulated webhooks), then a commit that bumps the cluster-wide resourceVersion, records the event in
a bounded history (so watches can resume, and a too-old resourceVersion gets 410 Expired) and wakes
watchers and controllers.

Deletion follows the API's rules: an object with finalizers is only marked (`deletionTimestamp`) and
goes when its last finalizer is removed; a pod on a node is deleted gracefully; a namespace
terminates, deleting its contents, and stays `Terminating` while any of them is held by a finalizer;
dependents (ownerReferences) are deleted in the background, in the foreground (`foregroundDeletion`)
or orphaned, as the delete asked.

All methods are synchronous and run on the event loop's thread, so each write is atomic, as a
single etcd transaction is. Stored objects are never mutated in place: a write stores a new dict.
Reads with `copy=False` hand out the stored dicts for serialising; callers must not change them.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from controlroom.lab.kube import status as st
from controlroom.lab.kube._util import deep_copy, random_suffix, rfc3339
from controlroom.lab.kube.resources import Registry, ResourceType, check_meta, field_value
from controlroom.lab.kube.selectors import EVERYTHING, NO_FIELDS, FieldSelector, LabelSelector
from controlroom.lab.kube.status import ApiError, Causes

Obj = dict[str, Any]
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")  # the NamespaceLifecycle admission plugin's
AdmissionHook = Callable[[str, ResourceType, Obj, "Obj | None"], None]  # (CREATE|UPDATE|DELETE, rt, new, old)


@dataclass(frozen=True)
class Change:
    """One committed write: what a watch streams (ADDED / MODIFIED / DELETED)."""

    type: str
    rt_key: str
    namespace: str
    name: str
    rv: int
    obj: Obj
    old: Obj | None = None


@dataclass
class Watcher:
    rt_key: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    push: Callable[[str, Obj], None]
    rt: ResourceType = field(repr=False, default=None)  # type: ignore[assignment]

    def event_for(self, change: Change) -> tuple[str, Obj] | None:
        """The event this watcher sees, translated like the watch cache does for selector watches."""
        if change.rt_key != self.rt_key or (self.namespace is not None and change.namespace != self.namespace):
            return None
        new_in = self._matches(change.obj)
        if change.type == "ADDED":
            return ("ADDED", change.obj) if new_in else None
        if change.type == "DELETED":
            return ("DELETED", change.obj) if new_in else None
        old_in = change.old is not None and self._matches(change.old)
        if new_in and old_in:
            return "MODIFIED", change.obj
        if new_in:
            return "ADDED", change.obj
        if old_in:
            return "DELETED", change.obj
        return None

    def _matches(self, obj: Obj) -> bool:
        return self.labels.matches((obj.get("metadata") or {}).get("labels")) and \
            self.fields.matches(lambda f: field_value(obj, f))


class Store:
    def __init__(self, registry: Registry, history_limit: int = 10_000, clock: Callable[[], float] = time.time):
        self.registry = registry
        self.clock = clock
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}  # rt.key -> namespace ("" if cluster) -> name -> obj
        self._rv = 1
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._compacted = 0  # every change with rv > this is still in the history
        self._watchers: list[Watcher] = []
        self.listeners: list[Callable[[Change], None]] = []
        self.admission: list[AdmissionHook] = []
        self._rt_by_key: dict[str, ResourceType] = {}
        self._by_uid: dict[str, tuple[str, str, str]] = {}  # uid -> (rt.key, namespace, name)
        self._owned: dict[str, set[str]] = {}  # owner uid -> dependent uids

    # -- reads ---------------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rt: ResourceType, namespace: str, name: str, *, copy: bool = True) -> Obj:
        obj = self._objects.get(rt.key, {}).get(namespace if rt.namespaced else "", {}).get(name)
        if obj is None:
            raise st.not_found(rt.plural, rt.group, name)
        return deep_copy(obj) if copy else obj

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """The stored object (not a copy) or None."""
        return self._objects.get(rt.key, {}).get(namespace if rt.namespaced else "", {}).get(name)

    def query(self, rt: ResourceType, namespace: str | None = None, labels: LabelSelector = EVERYTHING,
             fields: FieldSelector = NO_FIELDS, *, copy: bool = False) -> list[Obj]:
        """Objects in storage-key order (namespace, name), filtered; stored dicts unless `copy`."""
        by_ns = self._objects.get(rt.key, {})
        if namespace is not None and rt.namespaced:
            spaces: Iterable[str] = [namespace]
        else:
            # etcd order: keys `<namespace>/<name>` compared as bytes ("a-b/x" before "a/x")
            spaces = sorted(by_ns, key=lambda ns: ns + "/")
        only = fields.name_equals()
        out = []
        for ns in spaces:
            objs = by_ns.get(ns, {})
            if only is not None:
                candidates = [objs[only]] if only in objs else []
            else:
                candidates = [objs[n] for n in sorted(objs)]
            for obj in candidates:
                meta = obj["metadata"]
                if labels.requirements and not labels.matches(meta.get("labels")):
                    continue
                if fields.terms and not fields.matches(functools.partial(field_value, obj)):
                    continue
                out.append(obj)
        return [deep_copy(o) for o in out] if copy else out

    def namespaces_of(self, rt: ResourceType) -> list[str]:
        return sorted(self._objects.get(rt.key, {}))

    def dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        """Objects whose ownerReferences name `uid` (stored dicts), through the owner index."""
        out = []
        for dep_uid in sorted(self._owned.get(uid, ())):
            found = self.by_uid(dep_uid)
            if found is not None:
                out.append(found)
        return out

    def by_uid(self, uid: str) -> tuple[ResourceType, Obj] | None:
        where = self._by_uid.get(uid)
        if where is None:
            return None
        key, ns, name = where
        obj = self._objects.get(key, {}).get(ns, {}).get(name)
        return (self._rt_by_key[key], obj) if obj is not None else None

    # -- watch ---------------------------------------------------------------------------------------------

    def watch(self, rt: ResourceType, namespace: str | None, labels: LabelSelector, fields: FieldSelector,
              since: int | None, push: Callable[[str, Obj], None]) -> Watcher:
        """Register a watcher; replay from `since` (history) or from the current state (synthetic ADDED).

        `since` older than the retained history raises 410 Expired, as etcd compaction does.
        """
        w = Watcher(rt.key, namespace if rt.namespaced else None, labels, fields, push, rt)
        if since is None:
            for obj in self.query(rt, namespace, labels, fields):
                push("ADDED", obj)
        else:
            if since < self._compacted:
                raise st.expired(f"too old resource version: {since} ({self._compacted + 1})")
            for change in self._history:
                if change.rv > since:
                    ev = w.event_for(change)
                    if ev:
                        push(*ev)
        self._watchers.append(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        if w in self._watchers:
            self._watchers.remove(w)

    def compact(self) -> None:
        """Drop the whole history, as an etcd compaction would: older resourceVersions now get 410."""
        self._history.clear()
        self._compacted = self._rv

    def check_rv(self, since: int) -> None:
        if since < self._compacted:
            raise st.expired(f"too old resource version: {since} ({self._compacted + 1})")

    # -- writes --------------------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, obj: Obj, *, dry_run: bool = False,
               strict: bool = False) -> tuple[Obj, list[str]]:
        obj = deep_copy(obj)
        self._check_type(rt, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise st.bad_request("metadata: must be an object")
        ns = self._namespace_for(rt, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            for _ in range(8):
                candidate = f"{meta['generateName']}{random_suffix()}"
                if self.find(rt, ns, candidate) is None:
                    meta["name"] = candidate
                    break
        for system in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"):
            meta.pop(system, None)
        if rt.status_subresource:
            obj.pop("status", None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if rt.defaults:
            rt.defaults(obj)
        warnings = self._validate(rt, obj, None, strict)
        if rt.namespaced:
            self._namespace_accepts(rt, ns, meta.get("name", ""))
        for hook in self.admission:
            hook("CREATE", rt, obj, None)
        if self.find(rt, ns, meta["name"]) is not None:
            raise st.already_exists(rt.plural, rt.group, meta["name"])
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339(self.clock())
        if rt.kind not in ("Pod", "Event", "Namespace"):
            meta["generation"] = 1
        if dry_run:
            return obj, warnings
        self._commit("ADDED", rt, ns, obj, None)
        return obj, warnings

    def update(self, rt: ResourceType, namespace: str, name: str, obj: Obj, *, subresource: str = "",
               dry_run: bool = False, strict: bool = False) -> tuple[Obj, list[str]]:
        ns = namespace if rt.namespaced else ""
        current = self.get(rt, ns, name, copy=False)
        new = deep_copy(obj)
        self._check_type(rt, new)
        meta = new.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise st.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                 f"({name})")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise st.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
        rv = meta.get("resourceVersion")
        if rv:
            if str(rv) != current["metadata"]["resourceVersion"]:
                raise st.conflict(rt.plural, rt.group, name, st.MODIFIED)
        elif not rt.unconditional_update:
            raise st.invalid(rt.kind, rt.group, name, [st.Cause(
                "metadata.resourceVersion", "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update")])
        if meta.get("uid") and meta["uid"] != current["metadata"]["uid"]:
            raise st.conflict(rt.plural, rt.group, name,
                              f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                              f"{current['metadata']['uid']}")
        cur_meta = current["metadata"]
        if subresource == "status":
            status = new.get("status")
            new = deep_copy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        else:
            if rt.status_subresource:
                if "status" in current:
                    new["status"] = deep_copy(current["status"])
                else:
                    new.pop("status", None)
            for system in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                           "generation", "namespace", "name"):
                if system in cur_meta:
                    meta[system] = cur_meta[system]
                else:
                    meta.pop(system, None)
            if cur_meta.get("deletionTimestamp"):
                added = [f for f in meta.get("finalizers") or [] if f not in (cur_meta.get("finalizers") or [])]
                if added:
                    quoted = ", ".join(f'"{f}"' for f in added)
                    raise st.invalid(rt.kind, rt.group, name, [st.Cause(
                        "metadata.finalizers", "FieldValueForbidden",
                        f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                        f"finalizers []string{{{quoted}}}")])
        meta["resourceVersion"] = cur_meta["resourceVersion"]
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if rt.defaults:
            rt.defaults(new)
        warnings = self._validate(rt, new, current, strict)
        for hook in self.admission:
            hook("UPDATE", rt, new, current)
        if _content(new, rt) != _content(current, rt) and "generation" in cur_meta:
            meta["generation"] = cur_meta["generation"] + 1
        if new == current:
            return deep_copy(current), warnings  # a no-op update does not bump resourceVersion
        if dry_run:
            return new, warnings
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(rt, ns, new, current)
            return new, warnings
        self._commit("MODIFIED", rt, ns, new, current)
        self._after_update(rt, ns, new, current)
        return new, warnings

    def delete(self, rt: ResourceType, namespace: str, name: str, *, grace: int | None = None,
               propagation: str | None = None, preconditions: Obj | None = None, dry_run: bool = False) -> Obj:
        """DELETE: mark (finalizers, graceful pods, namespaces) or remove; returns the object as it now is."""
        ns = namespace if rt.namespaced else ""
        current = self.get(rt, ns, name, copy=False)
        meta = current["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise st.conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                              f"UID in object meta: {meta['uid']}")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != meta["resourceVersion"]:
            raise st.conflict(rt.plural, rt.group, name,
                              f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                              f"ResourceVersion in object meta: {meta['resourceVersion']}")
        if rt.kind == "Namespace" and name in IMMORTAL_NAMESPACES:
            raise st.forbidden(rt.plural, rt.group, name, "this namespace may not be deleted")
        for hook in self.admission:
            hook("DELETE", rt, current, current)
        if dry_run:
            return deep_copy(current)
        if meta.get("deletionTimestamp"):
            return deep_copy(current)  # already being deleted: idempotent, as the real server
        new = deep_copy(current)
        nmeta = new["metadata"]
        if propagation == "Orphan":
            self._orphan(meta["uid"])
        finalizers = list(nmeta.get("finalizers") or [])
        if propagation == "Foreground" and self.dependents(meta["uid"]):
            finalizers.append("foregroundDeletion")
        graceful = 0
        if rt.kind == "Pod":
            pod_grace = grace if grace is not None else (new.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            phase = (new.get("status") or {}).get("phase")
            if pod_grace and (new.get("spec") or {}).get("nodeName") and phase not in ("Succeeded", "Failed"):
                graceful = int(pod_grace)
        if rt.kind == "Namespace":
            nmeta["deletionTimestamp"] = rfc3339(self.clock())
            nmeta["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            new["status"]["conditions"] = [{"type": "NamespaceDeletionContentFailure", "status": "False",
                                            "reason": "ContentDeleted", "lastTransitionTime": rfc3339(self.clock())}]
            self._commit("MODIFIED", rt, ns, new, current)
            self._terminate_namespace(name)
            self._maybe_finish_namespace(name)
            return deep_copy(self.find(rt, ns, name) or new)
        if finalizers or graceful:
            nmeta["finalizers"] = finalizers
            if not finalizers:
                nmeta.pop("finalizers")
            nmeta["deletionTimestamp"] = rfc3339(self.clock() + graceful)
            nmeta["deletionGracePeriodSeconds"] = graceful
            self._commit("MODIFIED", rt, ns, new, current)
            if "foregroundDeletion" in finalizers:
                self._delete_dependents(meta["uid"], "Foreground")
            return deep_copy(new)
        self._remove(rt, ns, new, current)
        return new

    def finish_graceful(self, rt: ResourceType, namespace: str, name: str) -> bool:
        """The kubelet's part: a pod whose grace period is over (or was cut) leaves storage. False if absent."""
        obj = self.find(rt, namespace, name)
        if obj is None:
            return False
        if obj["metadata"].get("finalizers"):
            return False
        new = deep_copy(obj)
        self._remove(rt, namespace, new, obj)
        return True

    def system_update(self, rt: ResourceType, namespace: str, name: str, mutate: Callable[[Obj], None]) -> Obj | None:
        """A write the API reserves to the system (the scheduler's `binding`): no validation, no admission."""
        current = self.find(rt, namespace, name)
        if current is None:
            return None
        new = deep_copy(current)
        mutate(new)
        if new == current:
            return current
        self._commit("MODIFIED", rt, namespace if rt.namespaced else "", new, current)
        return new

    # -- internals -----------------------------------------------------------------------------------------

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[str, ResourceType] = {}
        for rt in self.registry:
            if rt.stored:
                seen.setdefault(rt.key, rt)
        return list(seen.values())

    def _check_type(self, rt: ResourceType, obj: Obj) -> None:
        if not isinstance(obj, dict):
            raise st.bad_request(f"the body of the request must be a {rt.kind} object")
        kind, api = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise st.bad_request(f"{rt.kind} in version \"{rt.version}\" cannot be handled as a {rt.kind}: "
                                 f"the kind of the object ({kind}) does not match the resource ({rt.kind})")
        if api and api != rt.api_version:
            raise st.bad_request(f"the API version in the data ({api}) does not match the expected API version "
                                 f"({rt.api_version})")

    def _namespace_for(self, rt: ResourceType, namespace: str, meta: Obj) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if given and given != namespace:
            raise st.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
        meta["namespace"] = namespace
        return namespace

    def _namespace_accepts(self, rt: ResourceType, ns: str, name: str) -> None:
        ns_rt = self.registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        space = self.find(ns_rt, "", ns)
        if space is None:
            raise st.not_found("namespaces", "", ns)
        if space["metadata"].get("deletionTimestamp"):
            why = f"unable to create new content in namespace {ns} because it is being terminated"
            raise st.forbidden(rt.plural, rt.group, name, why,
                               [st.Cause("metadata.namespace", "NamespaceTerminating", why)])

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None, strict: bool) -> list[str]:
        causes = Causes()
        check_meta(rt, obj, causes)
        if rt.validate:
            rt.validate(obj, old, causes)
        name = obj["metadata"].get("name", "")
        warnings: list[str] = []
        if rt.schema is not None:
            if causes.items:
                causes.raise_if_any(rt.kind, rt.group, name)
            warnings = rt.schema.admit(obj, strict)
        causes.raise_if_any(rt.kind, rt.group, name)
        return warnings

    def _commit(self, type_: str, rt: ResourceType, ns: str, obj: Obj, old: Obj | None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._rt_by_key.setdefault(rt.key, rt)
        bucket = self._objects.setdefault(rt.key, {}).setdefault(ns, {})
        name = obj["metadata"]["name"]
        uid = obj["metadata"]["uid"]
        previous = bucket.get(name)
        if previous is not None:
            for ref in previous["metadata"].get("ownerReferences") or []:
                deps = self._owned.get(ref.get("uid", ""))
                if deps is not None:
                    deps.discard(uid)
                    if not deps:
                        del self._owned[ref.get("uid", "")]
        if type_ == "DELETED":
            bucket.pop(name, None)
            if not bucket:
                self._objects[rt.key].pop(ns, None)
            self._by_uid.pop(uid, None)
        else:
            bucket[name] = obj
            self._by_uid[uid] = (rt.key, ns, name)
            for ref in obj["metadata"].get("ownerReferences") or []:
                self._owned.setdefault(ref.get("uid", ""), set()).add(uid)
        change = Change(type_, rt.key, ns, name, self._rv, obj, old)
        if len(self._history) == self._history.maxlen and self._history:
            self._compacted = self._history[0].rv
        self._history.append(change)
        for w in list(self._watchers):
            ev = w.event_for(change)
            if ev:
                w.push(*ev)
        for listener in list(self.listeners):
            listener(change)

    def _remove(self, rt: ResourceType, ns: str, obj: Obj, old: Obj | None) -> None:
        self._commit("DELETED", rt, ns, obj, old)
        uid = obj["metadata"]["uid"]
        self._delete_dependents(uid, "Background")
        if rt.namespaced:
            self._maybe_finish_namespace(ns)
        self._release_foreground_owners(obj)

    def _after_update(self, rt: ResourceType, ns: str, new: Obj, old: Obj) -> None:
        # a pod whose grace period ended and a namespace whose content is gone are finished by their owners
        if rt.kind == "Namespace" and new["metadata"].get("deletionTimestamp"):
            self._maybe_finish_namespace(new["metadata"]["name"])

    def _delete_dependents(self, uid: str, propagation: str) -> None:
        for drt, dep in self.dependents(uid):
            if dep["metadata"].get("deletionTimestamp"):
                continue
            dns = dep["metadata"].get("namespace", "")
            try:
                self.delete(drt, dns, dep["metadata"]["name"], propagation=propagation)
            except ApiError:
                continue

    def _orphan(self, uid: str) -> None:
        for drt, dep in self.dependents(uid):
            new = deep_copy(dep)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self._commit("MODIFIED", drt, dep["metadata"].get("namespace", ""), new, dep)

    def _release_foreground_owners(self, removed: Obj) -> None:
        for ref in removed["metadata"].get("ownerReferences") or []:
            owner = self.by_uid(ref.get("uid", ""))
            if owner is None:
                continue
            ort, odict = owner
            fins = odict["metadata"].get("finalizers") or []
            if "foregroundDeletion" in fins and not self.dependents(odict["metadata"]["uid"]):
                new = deep_copy(odict)
                new["metadata"]["finalizers"] = [f for f in fins if f != "foregroundDeletion"]
                ons = odict["metadata"].get("namespace", "")
                if not new["metadata"]["finalizers"]:
                    new["metadata"].pop("finalizers")
                    self._remove(ort, ons, new, odict)
                else:
                    self._commit("MODIFIED", ort, ons, new, odict)

    def _terminate_namespace(self, ns: str) -> None:
        for rt in self._storage_types():
            if not rt.namespaced:
                continue
            for obj in list(self._objects.get(rt.key, {}).get(ns, {}).values()):
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.delete(rt, ns, obj["metadata"]["name"], grace=0)
                except ApiError:
                    continue

    def _maybe_finish_namespace(self, ns: str) -> None:
        ns_rt = self.registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        space = self.find(ns_rt, "", ns)
        if space is None or not space["metadata"].get("deletionTimestamp"):
            return
        for rt in self._storage_types():
            if rt.namespaced and self._objects.get(rt.key, {}).get(ns):
                return
        new = deep_copy(space)
        new.setdefault("spec", {})["finalizers"] = []
        if new["metadata"].get("finalizers"):
            self._commit("MODIFIED", ns_rt, "", new, space)
            return
        self._remove(ns_rt, "", new, space)

    # -- used when a CRD is deleted --------------------------------------------------------------------------

    def drop_all(self, rt: ResourceType) -> None:
        for ns, objs in list(self._objects.get(rt.key, {}).items()):
            for obj in list(objs.values()):
                self._commit("DELETED", rt, ns, deep_copy(obj), obj)


def _content(obj: Obj, rt: ResourceType) -> Obj:
    """What `generation` tracks: everything but metadata (and status when it is a subresource)."""
    skip = {"metadata", "status"} if rt.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}
