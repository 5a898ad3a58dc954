"""The Kubernetes REST API of the simulated cluster: authentication, RBAC, discovery, CRUD, PATCH, watch.

Paths, verbs, status codes, `Status` bodies and headers follow kube-apiserver: `/version`, `/api`,
`/apis`, `/api/v1`, `/apis/{group}/{version}` for discovery; `/api/v1/namespaces/{ns}/pods/{name}`
and `/apis/{group}/{version}/...` for resources, with `status` subresources where the type has one;
`?watch=true` streams `{"type": ..., "object": ...}` lines over chunked HTTP; `?labelSelector=`,
`?fieldSelector=`, `?limit=`/`?continue=`, `?dryRun=All`, `?fieldValidation=Strict`. Every JSON reply
is `Content-Type: application/json` exactly. A request without the bearer token is 401.

Where it differs from a real server: no protobuf, no Table output (`kubectl get` prints names only),
no server-side apply (415), no aggregated discovery (the legacy documents are served; clients fall
back to them), `?continue=` pages over the current state rather than a snapshot, and watch
bookmarks are never sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import platform
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import yaml

from controlroom.lab.kube import status as st
from controlroom.lab.kube._util import deep_copy, dumps, loads, rfc3339
from controlroom.lab.kube.config import Rbac, StandinConfig
from controlroom.lab.kube.http import Request, Response, StreamResponse
from controlroom.lab.kube.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from controlroom.lab.kube.resources import Registry, ResourceType
from controlroom.lab.kube.selectors import parse_field_selector, parse_label_selector
from controlroom.lab.kube.status import ApiError
from controlroom.lab.kube.store import Store

Obj = dict[str, Any]

JSON = "application/json"
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "": "amd64"}
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _status_response(err: ApiError) -> Response:
    return Response(err.code, dumps(err.status()), JSON)


def _plain_404() -> Response:
    # what the real server's mux answers for a path outside every API group
    return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")


class KubeApi:
    """Turns HTTP requests into store operations, as kube-apiserver's handler chain does."""

    def __init__(self, config: StandinConfig, registry: Registry, store: Store, rbac: Rbac,
                 on_crd_change: Callable[[], None]):
        self.config = config
        self.registry = registry
        self.store = store
        self.rbac = rbac
        self._on_crd_change = on_crd_change
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=2000)  # (method, target, status) for tests
        self.closing = asyncio.Event()

    async def handle(self, req: Request) -> Response | StreamResponse:
        try:
            resp = await self._handle(req)
        except ApiError as err:
            resp = _status_response(err)
        except Exception as err:  # a bug in the stand-in must read as a server error, not hang the client
            resp = _status_response(st.internal(f"{type(err).__name__}: {err}"))
        self.requests.append((req.method, req.target, resp.status))
        return resp

    # -- routing -------------------------------------------------------------------------------------------

    async def _handle(self, req: Request) -> Response | StreamResponse:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() != self.config.token:
            raise st.unauthorized()
        path = req.path
        trimmed = path.rstrip("/") or "/"
        if trimmed == "/version":
            return self._json(200, self._version())
        if trimmed in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if trimmed == "/api":
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.config.host}:{req.headers.get('host', '')}"}]})
        if trimmed == "/apis":
            return self._json(200, self._group_list())
        if trimmed.startswith("/openapi/v3"):
            return self._openapi(trimmed[len("/openapi/v3"):].strip("/"))
        parts = [p for p in path.split("/") if p != ""]
        if not parts or parts[0] not in ("api", "apis"):
            return _plain_404()
        if parts[0] == "api":
            if len(parts) < 2:
                return _plain_404()
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 2:
                return self._group(parts[1])
            if len(parts) < 3:
                return _plain_404()
            group, version, rest = parts[1], parts[2], parts[3:]
        if version not in self.registry.group_versions().get(group, []):
            return _plain_404()
        if not rest:
            if req.method != "GET":
                raise st.method_not_allowed()
            return self._json(200, self._resource_list(group, version))
        return await self._resource(req, group, version, rest)

    async def _resource(self, req: Request, group: str, version: str, rest: list[str]) -> Response | StreamResponse:
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise st.no_such_resource()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        rt = self.registry.get(group, version, plural)
        if rt is None or (ns is not None and not rt.namespaced) or (rt.namespaced and ns is None and name):
            raise st.no_such_resource()
        if sub and not (sub == "status" and rt.status_subresource) and not (sub == "finalize" and rt.kind == "Namespace"):
            raise st.no_such_resource()
        watching = req.param("watch", "") in ("true", "1")
        verb = {
            "GET": "watch" if watching else ("get" if name else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection",
        }.get(req.method)
        if verb is None or (req.method == "POST" and name) or (req.method in ("PUT", "PATCH") and not name):
            raise st.method_not_allowed()
        if verb not in rt.verbs and not (sub and verb in ("get", "update", "patch")):
            raise st.method_not_allowed()
        resource = f"{plural}/{sub}" if sub else plural
        if not self.rbac.allowed(verb, group, resource, ns or ""):
            scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            raise st.forbidden(resource, group, name, f'User "{self.config.user}" cannot {verb} resource '
                               f'"{resource}" in API group "{group}" {scope}')
        space = ns or ""
        if verb == "list":
            return self._list(req, rt, ns)
        if verb == "watch":
            return self._watch(req, rt, ns)
        if verb == "get":
            assert name is not None
            return self._json(200, self.store.get(rt, space, name, copy=False))
        if verb == "create":
            return self._create(req, rt, space)
        if verb == "update":
            assert name is not None
            return self._update(req, rt, space, name, sub)
        if verb == "patch":
            assert name is not None
            return self._patch(req, rt, space, name, sub)
        if verb == "delete":
            assert name is not None
            return self._delete(req, rt, space, name)
        return self._delete_collection(req, rt, ns)

    # -- discovery -----------------------------------------------------------------------------------------

    def _version(self) -> Obj:
        major, minor, patch = self.config.kubernetes_version
        return {"major": str(major), "minor": str(minor), "emulationMajor": str(major), "emulationMinor": str(minor),
                "gitVersion": f"v{major}.{minor}.{patch}-controlroom-sim", "gitCommit": "0" * 40,
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4",
                "compiler": "gc", "platform": f"linux/{_GO_ARCH.get(platform.machine(), platform.machine())}"}

    def _group_entry(self, group: str, versions: list[str]) -> Obj:
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def _group_list(self) -> Obj:
        groups = [self._group_entry(g, vs) for g, vs in self.registry.group_versions().items() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _group(self, group: str) -> Response:
        versions = self.registry.group_versions().get(group)
        if not versions or not group:
            return _plain_404()
        return self._json(200, {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group, versions)})

    def _resource_list(self, group: str, version: str) -> Obj:
        resources = [entry for rt in self.registry.in_group_version(group, version) for entry in rt.discovery()]
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _openapi(self, gv_path: str) -> Response:
        """Just enough OpenAPI v3 for kubectl to see that every resource takes `?fieldValidation=` (so it
        validates on the server, against the CRD schemas here): operations, no schemas."""
        gvs = {(f"api/{v}" if not g else f"apis/{g}/{v}"): (g, v)
               for g, versions in self.registry.group_versions().items() for v in versions}
        if not gv_path:
            return self._json(200, {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={len(gvs)}"}
                                              for p in gvs}})
        if gv_path not in gvs:
            return _plain_404()
        group, version = gvs[gv_path]
        param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        paths: Obj = {}
        for rt in self.registry.in_group_version(group, version):
            gvk = {"group": group, "version": version, "kind": rt.kind}
            base = f"/{gv_path}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"/{gv_path}/{rt.plural}"
            ops = {verb: {"parameters": [param], "x-kubernetes-group-version-kind": gvk,
                          "x-kubernetes-action": action}
                   for verb, action in (("put", "put"), ("patch", "patch"))}
            paths[f"{base}/{{name}}"] = ops
            paths[base] = {"post": {"parameters": [param], "x-kubernetes-group-version-kind": gvk,
                                    "x-kubernetes-action": "post"}}
        return self._json(200, {"openapi": "3.0.0", "info": {"title": "Kubernetes (controlroom simulated cluster)",
                                                              "version": self._version()["gitVersion"]},
                                "paths": paths, "components": {"schemas": {}}})

    # -- reads ---------------------------------------------------------------------------------------------

    def _selectors(self, req: Request, rt: ResourceType) -> tuple[Any, Any]:
        labels = parse_label_selector(req.param("labelSelector"))
        fields = parse_field_selector(req.param("fieldSelector"), rt.field_labels, rt.plural, rt.custom)
        return labels, fields

    def _list(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        labels, fields = self._selectors(req, rt)
        rv = self.store.resource_version
        items = self.store.query(rt, ns, labels, fields)
        start = req.param("continue")
        meta: Obj = {"resourceVersion": str(rv)}
        if start:
            key = _decode_continue(start)
            items = [o for o in items if _sort_key(o) > key]
        limit_text = req.param("limit")
        if limit_text:
            try:
                limit = int(limit_text)
            except ValueError:
                raise st.bad_request(f'limit: Invalid value: "{limit_text}": must be an integer') from None
            if 0 < limit < len(items):
                meta["continue"] = _encode_continue(rv, _sort_key(items[limit - 1]))
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
        if not rt.custom:  # built-in list items carry no apiVersion/kind, as the real server's JSON
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        body = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}
        return self._json(200, body)

    def _watch(self, req: Request, rt: ResourceType, ns: str | None) -> StreamResponse:
        labels, fields = self._selectors(req, rt)
        rv_text = req.param("resourceVersion", "") or ""
        since: int | None = None
        if rv_text not in ("", "0"):
            try:
                since = int(rv_text)
            except ValueError:
                raise st.bad_request(f'resourceVersion: Invalid value: "{rv_text}": must be an integer') from None
        timeout_text = req.param("timeoutSeconds")
        timeout = float(timeout_text) if timeout_text else None
        queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()
        try:
            watcher = self.store.watch(rt, ns, labels, fields, since, lambda t, o: queue.put_nowait((t, o)))
        except ApiError as err:
            if err.code != 410:
                raise
            return StreamResponse(200, _one(dumps({"type": "ERROR", "object": err.status()}) + b"\n"))

        async def events() -> AsyncIterator[bytes]:
            deadline = time.monotonic() + timeout if timeout else None
            closing = asyncio.ensure_future(self.closing.wait())
            getter: asyncio.Future[tuple[str, Obj]] | None = None
            try:
                while True:
                    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                    getter = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait({getter, closing}, timeout=wait,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        return
                    kind, obj = getter.result()
                    yield dumps({"type": kind, "object": obj}) + b"\n"
            finally:
                for pending in (getter, closing):
                    if pending is not None and not pending.done():
                        pending.cancel()
                self.store.unwatch(watcher)

        return StreamResponse(200, events())

    # -- writes --------------------------------------------------------------------------------------------

    def _body(self, req: Request, patch: bool = False) -> Any:
        ctype = req.headers.get("content-type", JSON).split(";")[0].strip().lower() or JSON
        if patch:
            return ctype, self._decode(req.body, "json")
        if ctype in ("application/yaml", "application/x-yaml"):
            return self._decode(req.body, "yaml")
        if ctype not in (JSON, "*/*", "text/plain"):
            raise st.unsupported_media_type(ctype, [JSON, "application/yaml", "application/vnd.kubernetes.protobuf"])
        return self._decode(req.body, "json")

    @staticmethod
    def _decode(body: bytes, fmt: str) -> Any:
        if not body.strip():
            return None
        try:
            return loads(body) if fmt == "json" else yaml.safe_load(body)
        except (ValueError, yaml.YAMLError) as err:
            raise st.bad_request(f"Object 'Kind' is missing in '{body[:80]!r}': {err}") from None

    @staticmethod
    def _flags(req: Request) -> tuple[bool, bool]:
        dry = req.param("dryRun", "") == "All"
        strict = (req.param("fieldValidation", "") or "").lower() == "strict"
        return dry, strict

    def _create(self, req: Request, rt: ResourceType, ns: str) -> Response:
        body = self._body(req)
        if not isinstance(body, dict):
            raise st.bad_request(f"Object 'Kind' is missing in '{req.body[:80]!r}'")
        dry, strict = self._flags(req)
        if rt.kind == "SelfSubjectAccessReview":
            return self._json(201, self._access_review(body))
        if rt.kind == "CustomResourceDefinition":
            from controlroom.lab.kube.schema import crd_error

            err = crd_error(body)
            if err is not None:
                raise err
        obj, warnings = self.store.create(rt, ns, body, dry_run=dry, strict=strict)
        if rt.kind == "CustomResourceDefinition" and not dry:
            self._on_crd_change()
            obj = self.store.get(rt, "", obj["metadata"]["name"], copy=False)
        return self._json(201, obj, warnings)

    def _update(self, req: Request, rt: ResourceType, ns: str, name: str, sub: str) -> Response:
        body = self._body(req)
        if not isinstance(body, dict):
            raise st.bad_request(f"Object 'Kind' is missing in '{req.body[:80]!r}'")
        dry, strict = self._flags(req)
        if sub == "finalize":
            sub = ""
        obj, warnings = self.store.update(rt, ns, name, body, subresource=sub, dry_run=dry, strict=strict)
        return self._json(200, obj, warnings)

    def _patch(self, req: Request, rt: ResourceType, ns: str, name: str, sub: str) -> Response:
        ctype, patch = self._body(req, patch=True)
        if ctype not in PATCH_TYPES or ctype == "application/apply-patch+yaml" or (
                rt.custom and ctype == "application/strategic-merge-patch+json"):
            accepted = list(PATCH_TYPES[:2]) + (["application/strategic-merge-patch+json"] if not rt.custom else [])
            raise st.unsupported_media_type(ctype, [*accepted, "application/apply-patch+yaml"])
        current = self.store.get(rt, ns, name)
        try:
            if ctype == "application/json-patch+json":
                patched = json_patch(current, patch)
            elif ctype == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise st.bad_request("error decoding patch: a merge patch must be a JSON object")
                patched = merge_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise st.bad_request("error decoding patch: a strategic merge patch must be a JSON object")
                patched = strategic_merge_patch(current, patch)
        except PatchError as err:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {err}",
                           {"causes": [{"message": str(err)}]}) from None
        if not isinstance(patched, dict):
            raise st.bad_request("the patched object is not a JSON object")
        dry, strict = self._flags(req)
        obj, warnings = self.store.update(rt, ns, name, patched, subresource=sub if sub == "status" else "",
                                          dry_run=dry, strict=strict)
        return self._json(200, obj, warnings)

    def _delete_options(self, req: Request) -> Obj:
        body = self._decode(req.body, "json") if req.body.strip() else None
        opts: Obj = dict(body) if isinstance(body, dict) else {}
        if req.param("gracePeriodSeconds") is not None:
            opts["gracePeriodSeconds"] = int(req.param("gracePeriodSeconds") or 0)
        if req.param("propagationPolicy"):
            opts["propagationPolicy"] = req.param("propagationPolicy")
        if req.param("dryRun") == "All":
            opts["dryRun"] = ["All"]
        if opts.get("orphanDependents") is True:
            opts.setdefault("propagationPolicy", "Orphan")
        return opts

    def _delete(self, req: Request, rt: ResourceType, ns: str, name: str) -> Response:
        opts = self._delete_options(req)
        dry = "All" in (opts.get("dryRun") or [])
        obj = self.store.delete(rt, ns, name, grace=opts.get("gracePeriodSeconds"),
                                propagation=opts.get("propagationPolicy"), preconditions=opts.get("preconditions"),
                                dry_run=dry)
        still_there = self.store.find(rt, ns, name) is not None
        if still_there or rt.return_deleted_object:
            return self._json(200, obj)
        details = {"name": name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
        if not rt.group:
            del details["group"]
        return self._json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "details": details})

    def _delete_collection(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        labels, fields = self._selectors(req, rt)
        opts = self._delete_options(req)
        dry = "All" in (opts.get("dryRun") or [])
        deleted = []
        for obj in list(self.store.query(rt, ns, labels, fields)):
            meta = obj["metadata"]
            with contextlib.suppress(ApiError):
                deleted.append(self.store.delete(rt, meta.get("namespace", ""), meta["name"],
                                                 grace=opts.get("gracePeriodSeconds"),
                                                 propagation=opts.get("propagationPolicy"), dry_run=dry))
        return self._json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                                "metadata": {"resourceVersion": str(self.store.resource_version)},
                                "items": deleted})

    # -- SelfSubjectAccessReview ---------------------------------------------------------------------------

    def _access_review(self, body: Obj) -> Obj:
        spec = body.get("spec") or {}
        res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if bool(res) == bool(nonres):
            raise st.invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [st.Cause(
                "spec.resourceAttributes", "FieldValueInvalid",
                "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be "
                "specified")])
        if res:
            verb = res.get("verb", "")
            resource = res.get("resource", "")
            if res.get("subresource"):
                resource = f"{resource}/{res['subresource']}"
            allowed = bool(verb) and self.rbac.allowed(verb, res.get("group", ""), resource, res.get("namespace", ""))
        else:
            assert isinstance(nonres, dict)
            allowed = self.rbac.allowed(nonres.get("verb", ""), "", nonres.get("path", ""), "")
        out = deep_copy(body)
        out["apiVersion"], out["kind"] = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
        out["metadata"] = {"creationTimestamp": None}
        out["status"] = {"allowed": allowed}
        if allowed:
            out["status"]["reason"] = (f'RBAC: allowed by ClusterRoleBinding "controlroom-sim" of ClusterRole '
                                       f'"controlroom-sim" to User "{self.config.user}"')
        return out

    # -- output --------------------------------------------------------------------------------------------

    @staticmethod
    def _json(code: int, obj: Any, warnings: list[str] | None = None) -> Response:
        headers = [("Warning", "299 - " + json.dumps(w)) for w in warnings or []]
        headers.append(("Audit-Id", rfc3339().replace(":", "")))
        return Response(code, dumps(obj), JSON, headers)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _sort_key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return str(data["start"]).rstrip("\x00")
    except (ValueError, KeyError, TypeError):
        raise st.bad_request(f"continue key is not valid: {token}") from None
