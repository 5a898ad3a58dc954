"""The resource types the simulated cluster serves: built-ins, and one per served version of every CRD.

A `ResourceType` is what discovery advertises (name, singularName, kind, namespaced, verbs, shortNames)
and what the store needs to handle it (field selectors it supports, status subresource, how it is
checked). Built-in checks cover the rules a chaos tool can trip over — names, labels, pods without
containers, a Deployment whose selector does not match its template, pod specs that cannot change —
not the whole of Kubernetes validation (see `docs/kubernetes.md`, "Where it differs").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from controlroom.lab.kube.schema import VersionSchema
from controlroom.lab.kube.selectors import label_value_error, qualified_name_error, selector_from_dict
from controlroom.lab.kube.status import Cause, Causes, go_value

Obj = dict[str, Any]
Validator = Callable[[Obj, "Obj | None", Causes], None]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

# used with fullmatch only: a `$` anchor would also accept the same text plus a trailing newline
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    field_labels: frozenset[str] = META_FIELDS
    custom: bool = False
    schema: VersionSchema | None = None
    validate: Validator | None = None
    defaults: Callable[[Obj], None] | None = None
    name_is_label: bool = False  # namespaces: an RFC 1123 label, not a subdomain
    unconditional_update: bool = True  # PUT without resourceVersion: allowed for built-ins, refused for CRs
    stored: bool = True  # SelfSubjectAccessReview is create-only and never stored
    return_deleted_object: bool = True  # DELETE answers the object; deployments/replicasets/events a Status
    subresources: tuple[str, ...] = field(default=())

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> str:
        """Storage key, shared by every version of a resource (objects are stored once, as in etcd)."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def discovery(self) -> list[Obj]:
        entry: Obj = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                      "kind": self.kind, "verbs": list(self.verbs)}
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        out = [entry]
        if self.status_subresource:
            out.append({"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": ["get", "patch", "update"]})
        return out


def field_value(obj: Obj, path: str) -> str:
    """The string a field selector compares (Kubernetes prints bools as true/false, absent as "")."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, list):  # status.podIPs
        return str(cur[0].get("ip", "")) if cur and isinstance(cur[0], dict) else ""
    return str(cur)


# -- generic ObjectMeta rules ----------------------------------------------------------------------------------


def check_meta(rt: ResourceType, obj: Obj, causes: Causes) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if not name:
        causes.required("metadata.name", "name or generateName is required")
    elif rt.name_is_label:
        if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
            causes.invalid("metadata.name", name, LABEL_MSG)
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        causes.invalid("metadata.name", name, SUBDOMAIN_MSG)
    for key, value in (meta.get("labels") or {}).items():
        why = qualified_name_error(str(key))
        if why:
            causes.invalid("metadata.labels", key, why)
        if not isinstance(value, str):
            causes.type_invalid(f"metadata.labels.{key}", value, "must be a string")
        else:
            why = label_value_error(value)
            if why:
                causes.invalid("metadata.labels", value, why)
    for key, value in (meta.get("annotations") or {}).items():
        why = qualified_name_error(str(key))
        if why:
            causes.invalid("metadata.annotations", key, why)
        if not isinstance(value, str):
            causes.type_invalid(f"metadata.annotations.{key}", value, "must be a string")
    for i, fin in enumerate(meta.get("finalizers") or []):
        if not isinstance(fin, str) or qualified_name_error(fin):
            causes.invalid(f"metadata.finalizers[{i}]", fin, "name is neither a standard finalizer name nor is it "
                           "fully qualified")


# -- built-in types ---------------------------------------------------------------------------------------------


def _check_containers(spec: Obj, path: str, causes: Causes) -> None:
    containers = spec.get("containers")
    if not containers:
        causes.required(f"{path}.containers")
        return
    seen: set[str] = set()
    for i, c in enumerate(containers):
        name = c.get("name") if isinstance(c, dict) else None
        if not name:
            causes.required(f"{path}.containers[{i}].name")
        elif len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
            causes.invalid(f"{path}.containers[{i}].name", name, LABEL_MSG)
        elif name in seen:
            causes.items.append(_dup(f"{path}.containers[{i}].name", name))
        else:
            seen.add(name)
        if isinstance(c, dict) and not c.get("image"):
            causes.required(f"{path}.containers[{i}].image")


def _dup(path: str, value: Any) -> Cause:
    return Cause(path, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")


def _pod_spec_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            image = str(c.get("image", ""))
            c.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image.split("/")[-1]
                         else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})


def _pod_defaults(obj: Obj) -> None:
    _pod_spec_defaults(obj.setdefault("spec", {}))
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _validate_pod(new: Obj, old: Obj | None, causes: Causes) -> None:
    spec = new.get("spec") or {}
    _check_containers(spec, "spec", causes)
    if old is not None:
        # Pod updates may change only container images (and a few scheduling fields): compare the rest.
        def mutable_free(s: Obj) -> Obj:
            s = {k: v for k, v in (s or {}).items() if k not in ("activeDeadlineSeconds", "tolerations")}
            s["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in s.get("containers") or []]
            return s

        if mutable_free(spec) != mutable_free(old.get("spec") or {}):
            causes.forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`, "
                             "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
                             "`spec.tolerations` (only additions to existing tolerations), "
                             "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
                             "negative)")


def _workload_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if obj.get("kind") == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                                  "maxUnavailable": "25%"}})
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    _pod_spec_defaults(template.setdefault("spec", {}))


def _validate_workload(new: Obj, old: Obj | None, causes: Causes) -> None:
    spec = new.get("spec") or {}
    sel = spec.get("selector")
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.required("spec.selector")
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        causes.type_invalid("spec.replicas", replicas, "must be an integer")
    elif replicas < 0:
        causes.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if sel:
        try:
            selector = selector_from_dict(sel)
        except ValueError as err:
            causes.invalid("spec.selector", "...", str(err))
        else:
            if not labels:
                causes.required("spec.template.metadata.labels")
            elif not selector.matches(labels):
                pairs = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
                causes.invalid("spec.template.metadata.labels", f"map[string]string{{{pairs}}}",
                               "`selector` does not match template `labels`")
    _check_containers(template.get("spec") or {}, "spec.template.spec", causes)
    if old is not None and (old.get("spec") or {}).get("selector") != sel:
        causes.invalid("spec.selector", "...", "field is immutable")


def _validate_event(new: Obj, old: Obj | None, causes: Causes) -> None:
    if not new.get("involvedObject"):
        causes.required("involvedObject")


def _namespace_defaults(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")


POD_FIELDS = META_FIELDS | {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                            "status.nominatedNodeName"}
EVENT_FIELDS = META_FIELDS | {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}


def builtin_types() -> list[ResourceType]:
    return [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", False,
                     verbs=("create", "delete", "get", "list", "patch", "update", "watch"), short_names=("ns",),
                     status_subresource=True, field_labels=frozenset({"metadata.name", "status.phase"}),
                     defaults=_namespace_defaults, name_is_label=True),
        ResourceType("", "v1", "pods", "pod", "Pod", True, short_names=("po",), categories=("all",),
                     status_subresource=True, field_labels=POD_FIELDS, validate=_validate_pod,
                     defaults=_pod_defaults),
        ResourceType("", "v1", "events", "event", "Event", True, short_names=("ev",), field_labels=EVENT_FIELDS,
                     validate=_validate_event, return_deleted_object=False),
        ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, short_names=("deploy",),
                     categories=("all",), status_subresource=True, validate=_validate_workload,
                     defaults=_workload_defaults, return_deleted_object=False),
        ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, short_names=("rs",),
                     categories=("all",), status_subresource=True,
                     field_labels=META_FIELDS | {"status.replicas"}, validate=_validate_workload,
                     defaults=_workload_defaults, return_deleted_object=False),
        ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                     "SelfSubjectAccessReview", False, verbs=("create",), stored=False),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                     "CustomResourceDefinition", False, short_names=("crd", "crds"), categories=("api-extensions",),
                     status_subresource=True),
    ]


def types_from_crd(crd: Obj) -> list[ResourceType]:
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                        "x-kubernetes-preserve-unknown-fields": True}
        subresources = v.get("subresources") or {}
        out.append(ResourceType(
            group=spec["group"], version=v["name"], plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), kind=names["kind"],
            namespaced=spec.get("scope") == "Namespaced", short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), status_subresource="status" in subresources,
            custom=True, schema=VersionSchema(names["kind"], spec["group"], v["name"], schema),
            unconditional_update=False))
    return out


class Registry:
    """Resource types by (group, version, plural), kept in the order discovery lists them."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_group_resource(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return next((rt for rt in self._types.values() if rt.group == group and rt.version == version
                     and rt.kind == kind), None)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> its versions (core group "" included), in registration order."""
        out: dict[str, list[str]] = {}
        for rt in self._types.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.group == group and rt.version == version]
