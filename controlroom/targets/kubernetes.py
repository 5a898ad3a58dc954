"""The Kubernetes executor: runs `KubeCall` actions for `kubernetes` targets through kr8s.

kr8s is imported here only, and only when a Kubernetes target is first used (`make_executor` imports this
module lazily), so `controlroom --help` and host-only scenarios never load it.

Why the calls are safe:
* Selection (`select`, `render`) is read-only and answers with a `record` the engine journals
  (`fault-selected`) *before* the next action (`pod-kill`, `apply`) acts on it; that action uses exactly
  the pods / manifest journaled, never a fresh selection.
* Everything created carries the labels `controlroom.io/session` and `controlroom.io/fault`, and every
  revert finds its objects by those labels, not by a handle kept in memory: it works after a crash
  (`recover`) and is idempotent (nothing left = nothing to do).
* A deletion is confirmed only by the object being gone (404 / absent from a list): Chaos Mesh holds its
  finalizer until every record is recovered, so "gone" implies recovered. A deletion that does not finish
  within its wait is reported as such ("fault may persist: finalizer held"), never as clean.
* kr8s quirks (docs/kubernetes.md): plurals come from the CRDs, not kr8s' guess; selection uses raw
  `call_api` (no python-box); creates send `fieldValidation=Strict` so a typo is refused, not dropped.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from controlroom.errors import Problem, TargetError
from controlroom.scenario.model import KubernetesRef, Scenario, Target
from controlroom.targets.base import Action, ActionResult, KubeCall

SESSION_LABEL = "controlroom.io/session"
STEP_LABEL = "controlroom.io/step"
FAULT_LABEL = "controlroom.io/fault"
FINALIZER_HELD = "fault may persist: finalizer held"
FORCE_ANNOTATION = "chaos-mesh.chaos-mesh.org/cleanFinalizer"  # "forced": Chaos Mesh drops its finalizer unrecovered
POLL = 0.05  # seconds between polls while waiting for a deletion or readiness


def fault_label(fault_id: str) -> str:
    """A label value for a fault id ("step/0@target" has characters labels cannot hold): a short stable hash."""
    return hashlib.sha256(fault_id.encode()).hexdigest()[:16]


def label_value(text: str) -> str:
    """`text` as a label value (letters, digits, - _ .; at most 63; starting and ending alphanumeric)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:63].strip("-_.")
    return cleaned or "x"


def kubeconfig_paths(ref: KubernetesRef) -> list[Path]:
    """The kubeconfig files kubectl would read: the target's `kubeconfig:`, else $KUBECONFIG, else ~/.kube/config."""
    if ref.kubeconfig:
        return [Path(ref.kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def check_context(target: Target) -> str | None:
    """None when the target's context exists in its kubeconfig; else a one-line message saying what to change.

    Read the way kubectl merges files: the first file that names a context wins, `current-context` from the
    first that sets it. In a pod (a service account, no kubeconfig) a target without `context:` is fine.
    """
    ref = target.kubernetes
    assert ref is not None
    contexts: list[str] = []
    current = None
    paths = kubeconfig_paths(ref)
    readable = [p for p in paths if p.is_file()]
    if not readable:
        if ref.context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return None  # in-cluster service account
        return (f"target {target.name!r}: no kubeconfig at {', '.join(map(str, paths))}; set KUBECONFIG or "
                f"the target's kubeconfig:")
    for path in readable:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            return f"target {target.name!r}: kubeconfig {path} cannot be read: {str(err).splitlines()[0]}"
        contexts += [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict)]
        current = current or doc.get("current-context")
    wanted = ref.context or current
    if wanted is None:
        return f"target {target.name!r}: the kubeconfig sets no current-context; name one with context:"
    if wanted not in contexts:
        known = ", ".join(sorted(str(c) for c in contexts)) or "none"
        return (f"target {target.name!r}: context {wanted!r} is not in the kubeconfig "
                f"({', '.join(map(str, readable))}; contexts: {known}); fix kubernetes.context")
    return None


def context_problems(scenario: Scenario) -> list[Problem]:
    """`run`, before anything starts: every kubernetes target's context exists in its kubeconfig, as a located
    problem (the line of the target's `context:` or, without one, of the target) when it does not."""
    lines = scenario.source_text.splitlines()
    problems = []
    for target in scenario.targets.values():
        if target.kind != "kubernetes" or target.kubernetes is None:
            continue
        message = check_context(target)
        if message is None:
            continue
        line = col = 1
        for needle in ([f"context: {target.kubernetes.context}"] if target.kubernetes.context else []) + [
                f"{target.name}:"]:
            found = next((i for i, text in enumerate(lines) if needle in text), None)
            if found is not None:
                line, col = found + 1, lines[found].index(needle) + 1
                break
        problems.append(Problem(scenario.source_path, line, col, message))
    return problems


# -------------------------------------------------------------------------------------------------------------
# Selection: Chaos Mesh's arithmetic for modes, so "20 %" means what it means to Chaos Mesh.


def mode_count(total: int, mode: str, value: str, rng: random.Random) -> int:
    """How many of `total` matched pods a mode chooses (Chaos Mesh: fixed-percent rounds up, at least 1 if any)."""
    if total == 0:
        return 0
    text = value.rstrip("%").strip() or "0"
    if mode == "one":
        return 1
    if mode == "all":
        return total
    if mode == "fixed":
        return min(total, int(text))
    percent = int(text)
    if mode == "random-max-percent":
        percent = rng.randint(0, percent)
    count = -(-total * percent // 100)  # ceil
    return max(0 if mode == "random-max-percent" else 1, min(total, count))


def choose(pods: list[dict[str, Any]], mode: str, value: str, rng: random.Random) -> list[dict[str, Any]]:
    return rng.sample(pods, mode_count(len(pods), mode, value, rng))


def _ready(pod: dict[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _ident(pod: dict[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    return {"namespace": str(meta.get("namespace", "")), "name": str(meta.get("name", "")),
            "uid": str(meta.get("uid", ""))}


def _status_message(status: int, body: str) -> str:
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("message"):
            return f"{status}: {doc['message']}"
    except ValueError:
        pass
    return f"{status}: {body.strip()[:200]}"


class KubeExecutor:
    """Runs `KubeCall`s on one `kubernetes` target, with one kr8s API client (built on first use)."""

    def __init__(self, target: Target, *, rng: random.Random | None = None) -> None:
        if target.kubernetes is None:
            raise TargetError(f"target {target.name!r} has no kubernetes: section")
        self.target = target.name
        self.ref = target.kubernetes
        self._target = target
        self._api: Any = None
        self._api_lock = asyncio.Lock()
        self.session_id = ""
        self.rng = rng or random.Random()
        self._selected: dict[str, list[dict[str, str]]] = {}  # fault -> the pods journaled for it
        self._baseline: dict[str, int] = {}  # fault -> ready pods matched before the fault
        self._manifests: dict[str, dict[str, Any]] = {}  # fault -> the manifest journaled for it
        self._killed_at: dict[str, float] = {}  # fault -> when its pods were deleted (monotonic)
        self._lists: dict[tuple[str, str, str, str], tuple[float, asyncio.Future[tuple[int, Any]]]] = {}
        self._deletes: dict[tuple[str, str, str], tuple[set[str], asyncio.Future[str]]] = {}

    def bind_session(self, session_id: str) -> None:
        """What this room creates carries this session id; what it reverts is found by it (recover binds the
        crashed session's id)."""
        self.session_id = session_id

    # ---- transport ------------------------------------------------------------------------------------------

    async def api(self) -> Any:
        async with self._api_lock:
            if self._api is None:
                problem = check_context(self._target)
                if problem:
                    raise TargetError(problem)
                import kr8s.asyncio  # lazily: only a Kubernetes target pays for it

                paths = kubeconfig_paths(self.ref)
                kubeconfig = os.pathsep.join(str(p) for p in paths if p.is_file()) or None
                self._api = await kr8s.asyncio.api(kubeconfig=kubeconfig, context=self.ref.context)
        return self._api

    async def request(self, method: str, version: str, url: str, *, namespace: str | None = None,
                      params: dict[str, Any] | None = None, body: Any = None,
                      headers: dict[str, str] | None = None, timeout: float = 15.0) -> tuple[int, str]:
        api = await self.api()
        kwargs: dict[str, Any] = {"params": params or {}, "timeout": timeout}
        if body is not None:
            kwargs["content"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        async with api.call_api(method, version=version, url=url, namespace=namespace, raise_for_status=False,
                                **kwargs) as response:
            return response.status_code, response.text

    async def get_json(self, version: str, url: str, *, namespace: str | None = None,
                       params: dict[str, Any] | None = None) -> tuple[int, Any]:
        status, text = await self.request("GET", version, url, namespace=namespace, params=params)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, {"message": text}

    async def list_pods(self, namespaces: Iterable[str], selector: str, field_selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": selector}
        if field_selector:
            params["fieldSelector"] = field_selector

        async def one(ns: str) -> list[dict[str, Any]]:
            status, doc = await self.get_json("v1", "pods", namespace=ns, params=params)
            if status != 200:
                raise _Refused(f"listing pods in {ns} by {selector!r}: {_status_message(status, json.dumps(doc))}")
            return list(doc.get("items") or [])

        groups = await asyncio.gather(*(one(ns) for ns in namespaces))
        return [p for g in groups for p in g]

    async def list_objects(self, version: str, plural: str, namespaces: Iterable[str], selector: str) -> list[dict[str, Any]]:
        asked = time.monotonic()

        async def one(ns: str) -> list[dict[str, Any]]:
            status, doc = await self._shared_get(asked, version, plural, ns, selector)
            if status == 404:
                return []  # the kind is not served (CRD missing): nothing of it can exist
            if status != 200:
                raise _Refused(f"listing {plural} in {ns}: {_status_message(status, json.dumps(doc))}")
            return list(doc.get("items") or [])

        groups = await asyncio.gather(*(one(ns) for ns in namespaces))
        return [o for g in groups for o in g]

    async def _shared_get(self, asked: float, version: str, plural: str, ns: str, selector: str) -> tuple[int, Any]:
        """One list request shared by every caller asking for the same list at the same time (an e-stop of
        many faults polls the same namespace): a caller joins a request only if it was *sent after the caller
        asked*, so the answer never predates the caller's question (an object created or deleted just
        before is seen as it is now, never as it was)."""
        key = (version, plural, ns, selector)
        running = self._lists.get(key)
        if running is not None and running[0] >= asked and not running[1].done():
            return await asyncio.shield(running[1])
        sent = time.monotonic()
        future = asyncio.ensure_future(self.get_json(version, plural, namespace=ns, params={"labelSelector": selector}))
        self._lists[key] = (sent, future)
        try:
            return await asyncio.shield(future)
        finally:
            if self._lists.get(key, (0.0, None))[1] is future:
                del self._lists[key]

    async def fault_objects(self, call: KubeCall, version: str, plural: str,
                            namespaces: Iterable[str]) -> list[dict[str, Any]]:
        """The objects this fault created: a list by the session label (shared by the session's faults), then
        the fault's own label."""
        mine = fault_label(call.fault) if call.fault else None
        objs = await self.list_objects(version, plural, namespaces, self._fault_selector(call, session_only=True))
        return [o for o in objs if mine is None or ((o.get("metadata") or {}).get("labels") or {}).get(FAULT_LABEL) == mine]

    # ---- the executor protocol ------------------------------------------------------------------------------

    async def run(self, action: Action) -> ActionResult:
        if not isinstance(action, KubeCall):
            return ActionResult(ok=False, error=f"kubernetes target {self.target!r} cannot run "
                                                f"{type(action).__name__} actions ({action.describe()})")
        handler = getattr(self, "op_" + action.op.replace("-", "_"), None)
        if handler is None:
            return ActionResult(ok=False, error=f"unknown Kubernetes operation {action.op!r}")
        started = time.monotonic()
        try:
            async with asyncio.timeout(action.timeout):
                result: ActionResult = await handler(action)
        except TimeoutError:
            return ActionResult(ok=False, elapsed=time.monotonic() - started, timed_out=True,
                                error=f"timed out after {action.timeout:g}s: {action.describe()}")
        except _Refused as err:
            return ActionResult(ok=False, status=1, stderr=str(err), elapsed=time.monotonic() - started)
        except TargetError as err:
            return ActionResult(ok=False, error=str(err), elapsed=time.monotonic() - started)
        except Exception as err:  # a transport failure (refused, TLS, DNS) is a result, never a crash mid-fault
            return ActionResult(ok=False, elapsed=time.monotonic() - started,
                                error=f"{self.target}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        return ActionResult(ok=result.ok, status=result.status, stdout=result.stdout, stderr=result.stderr,
                            elapsed=time.monotonic() - started, record=result.record)

    async def close(self) -> None:
        api, self._api = self._api, None
        session = getattr(api, "_session", None)
        if session is not None:
            await session.aclose()

    # ---- operations -----------------------------------------------------------------------------------------

    async def op_version(self, call: KubeCall) -> ActionResult:
        api = await self.api()
        info = await api.version()
        version = str(info.get("gitVersion", "?"))
        sim = " (SIMULATED cluster: controlroom.lab.kube)" if "controlroom-sim" in version else ""
        return _ok(f"Kubernetes {version}{sim}")

    async def op_can_i(self, call: KubeCall) -> ActionResult:
        """SelfSubjectAccessReview for every (verb, resource, group, namespace) the plan needs."""
        checks = [tuple(c) for c in call.arg("checks", [])]

        async def review(verb: str, resource: str, group: str, ns: str) -> str | None:
            body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "resource": resource,
                                                    "group": group}}}
            status, text = await self.request("POST", "authorization.k8s.io/v1", "selfsubjectaccessreviews", body=body)
            if status not in (200, 201):
                return f"{verb} {resource} in {ns}: review refused ({_status_message(status, text)})"
            allowed = bool((json.loads(text).get("status") or {}).get("allowed"))
            return None if allowed else f"{verb} {resource}{'.' + group if group else ''} in {ns}"

        denied = [d for d in await asyncio.gather(*(review(*c) for c in checks)) if d]
        if denied:
            return _fail(f"{self.target}: RBAC does not allow: {'; '.join(denied)}; grant them to the kubeconfig's user")
        return _ok(f"{len(checks)} permissions allowed")

    async def op_crd(self, call: KubeCall) -> ActionResult:
        missing = []
        for name in call.arg("names", []):
            status, _ = await self.get_json("apiextensions.k8s.io/v1", f"customresourcedefinitions/{name}")
            if status == 404:
                missing.append(name)
            elif status != 200:
                return _fail(f"{self.target}: cannot read CRD {name} (HTTP {status})")
        if missing:
            return _fail(f"{self.target}: CRD {', '.join(missing)} not installed; install {call.arg('tool', 'the tool')} "
                         "in the cluster or drop the step")
        return _ok("ok")

    async def op_controller(self, call: KubeCall) -> ActionResult:
        ns, name = call.arg("namespace"), call.arg("name")
        status, doc = await self.get_json("apps/v1", f"deployments/{name}", namespace=ns)
        if status == 404:
            return _fail(f"{self.target}: controller deployment {ns}/{name} not found; is {call.arg('tool')} installed?")
        if status != 200:
            return _fail(f"{self.target}: cannot read deployment {ns}/{name} (HTTP {status})")
        ready = int((doc.get("status") or {}).get("readyReplicas") or 0)
        if ready < 1:
            return _fail(f"{self.target}: {call.arg('tool')} controller {ns}/{name} has no ready replica; "
                         "nothing would inject or recover")
        return _ok(f"{ready} ready")

    async def op_matches(self, call: KubeCall) -> ActionResult:
        pods = await self.list_pods(self.ref.all_namespaces, self.ref.selector, self.ref.field_selector)
        pods = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not pods:
            return _fail(f"{self.target}: selector {self.ref.selector!r} matches no pod in "
                         f"{', '.join(self.ref.all_namespaces)}")
        # random-max-percent: the most it could choose is its percentage of the matches.
        mode = "fixed-percent" if self.ref.mode == "random-max-percent" else self.ref.mode
        chosen = mode_count(len(pods), mode, self.ref.value, random.Random(0))
        namespaces = sorted({_ident(p)["namespace"] for p in pods})
        limit = call.arg("max_pods")
        if limit is not None and chosen > limit:
            return _fail(self._over_limit(chosen, len(pods), limit))
        return _ok(f"{chosen} of {len(pods)} pods in {len(namespaces)} namespace(s): {', '.join(namespaces)}")

    def _over_limit(self, chosen: int, matched: int, limit: int) -> str:
        return (f"{self.target}: blast radius: {chosen} of {matched} pods would be hit ({self._mode_text()} of "
                f"{self.ref.selector!r}), over blast_radius.max_pods {limit}; narrow the selector or the mode")

    async def _select(self, call: KubeCall) -> tuple[list[dict[str, str]], int]:
        pods = [p for p in await self.list_pods(self.ref.all_namespaces, self.ref.selector, self.ref.field_selector)
                if not (p.get("metadata") or {}).get("deletionTimestamp")]
        pods.sort(key=lambda p: (_ident(p)["namespace"], _ident(p)["name"]))
        chosen = [_ident(p) for p in choose(pods, self.ref.mode, self.ref.value, self.rng)]
        limit = call.arg("max_pods")
        if limit is not None and len(chosen) > limit:  # checked again at injection: pods come and go
            raise _Refused(self._over_limit(len(chosen), len(pods), limit))
        if not chosen:
            raise _Refused(f"{self.target}: selector {self.ref.selector!r} matches no pod to fault "
                           f"(mode {self.ref.mode} {self.ref.value})".rstrip())
        self._selected[call.fault] = chosen
        self._baseline[call.fault] = sum(1 for p in pods if _ready(p))
        return chosen, len(pods)

    async def op_select(self, call: KubeCall) -> ActionResult:
        """Resolve the target's selector and mode now; the record is journaled before anything acts on it."""
        chosen, matched = await self._select(call)
        return _ok(f"{len(chosen)} of {matched} pods",
                   record={"pods": chosen, "matched": matched, "mode": self._mode_text()})

    def _mode_text(self) -> str:
        return f"{self.ref.mode} {self.ref.value}".strip()

    async def op_pod_kill(self, call: KubeCall) -> ActionResult:
        """Delete exactly the pods journaled by `select` for this fault (never a fresh selection)."""
        pods = self._selected.get(call.fault)
        if not pods:
            return _fail(f"{self.target}: no journaled selection for {call.fault}; nothing deleted")
        grace = call.arg("grace_period")
        params = {} if grace is None else {"gracePeriodSeconds": int(grace)}

        async def kill(pod: dict[str, str]) -> str | None:
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": pod["uid"]},
                    **({"gracePeriodSeconds": int(grace)} if grace is not None else {})}
            status, text = await self.request("DELETE", "v1", f"pods/{pod['name']}", namespace=pod["namespace"],
                                              params=params, body=body)
            if status in (200, 202, 404, 409):  # 404/409: already gone or replaced — the pod we chose is not there
                return None
            return f"{pod['namespace']}/{pod['name']}: {_status_message(status, text)}"

        self._killed_at[call.fault] = time.monotonic()
        errors = [e for e in await asyncio.gather(*(kill(p) for p in pods)) if e]
        if errors:
            return _fail(f"{self.target}: could not delete {len(errors)} pod(s): {'; '.join(errors)}")
        return _ok(f"deleted {len(pods)} pod(s)")

    async def op_workload_ready(self, call: KubeCall) -> ActionResult:
        """The workload is back: as many ready pods match the selector as before the fault (the baseline the
        selection saw; without one, every matched pod), none terminating, and — for a kill — none of the
        killed pods (by uid) among them. Polls for up to `wait` seconds; the record says how long after the
        kill the workload was back (the recovery measured)."""
        deadline = time.monotonic() + float(call.arg("wait", 0.0))
        while True:
            problem = await self._workload_problem(call)
            if problem is None:
                break
            if time.monotonic() >= deadline:
                return _fail(problem)
            await asyncio.sleep(POLL)
        killed_at = self._killed_at.get(call.fault)
        record = {"recovered_s": round(time.monotonic() - killed_at, 3)} if killed_at is not None else None
        return _ok("workload ready", record=record)

    async def _workload_problem(self, call: KubeCall) -> str | None:
        pods = await self.list_pods(self.ref.all_namespaces, self.ref.selector, self.ref.field_selector)
        ready = sum(1 for p in pods if _ready(p))
        want = self._baseline.get(call.fault, len(pods))
        if call.arg("replaced"):
            killed = {p["uid"] for p in self._selected.get(call.fault, [])}
            left = [f"{_ident(p)['namespace']}/{_ident(p)['name']}" for p in pods if _ident(p)["uid"] in killed]
            if left:
                return f"{self.target}: killed pod(s) still there: {', '.join(left)}"
        if ready < want or ready == 0:
            return f"{self.target}: {ready} of {want} pods ready for {self.ref.selector!r}"
        return None

    async def op_render(self, call: KubeCall) -> ActionResult:
        """Make the manifest this fault will apply — labelled with the session, pinned to the pods chosen now
        when the fault selects by the target — and answer it as the record the journal keeps first."""
        manifest = copy.deepcopy(call.arg("manifest"))
        meta = manifest.setdefault("metadata", {})
        labels = meta.setdefault("labels", {})
        labels.update({SESSION_LABEL: label_value(self.session_id or "none"),
                       STEP_LABEL: label_value(call.arg("step", "")), FAULT_LABEL: fault_label(call.fault)})
        meta["name"] = f"controlroom-{fault_label(call.fault)[:10]}-{label_value(self.session_id or 'none')[:12]}".lower()
        record: dict[str, Any] = {"pods": [], "manifest": manifest}
        pin = call.arg("pin")
        if pin:
            chosen, matched = await self._select(call)
            by_ns: dict[str, list[str]] = {}
            for p in sorted(chosen, key=lambda p: (p["namespace"], p["name"])):
                by_ns.setdefault(p["namespace"], []).append(p["name"])
            spec = manifest.setdefault("spec", {})
            if pin == "litmus":
                # Litmus targets one namespace: TARGET_PODS names exactly the journaled pods, all of them hit.
                ns = next(iter(by_ns))
                spec["appinfo"] = {**(spec.get("appinfo") or {}), "appns": ns, "applabel": self.ref.selector}
                for exp in spec.get("experiments") or []:
                    env = exp.setdefault("spec", {}).setdefault("components", {}).setdefault("env", [])
                    env[:] = [e for e in env if e.get("name") not in ("TARGET_PODS", "PODS_AFFECTED_PERC")]
                    env += [{"name": "TARGET_PODS", "value": ",".join(by_ns[ns])},
                            {"name": "PODS_AFFECTED_PERC", "value": "100"}]
            else:  # Chaos Mesh: an explicit pod list, mode all
                spec["selector"] = {"namespaces": sorted(by_ns), "pods": by_ns}
                spec["mode"] = "all"
                spec.pop("value", None)
            record.update(pods=chosen, matched=matched, mode=self._mode_text())
        self._manifests[call.fault] = manifest
        return _ok(f"{manifest.get('kind')} {meta['namespace']}/{meta['name']}", record=record)

    async def op_exists(self, call: KubeCall) -> ActionResult:
        version, plural, ns, name = call.arg("version"), call.arg("plural"), call.arg("namespace"), call.arg("name")
        status, _ = await self.get_json(version, f"{plural}/{name}", namespace=ns)
        if status == 404:
            return _fail(f"{self.target}: {call.arg('what', plural)} {ns}/{name} not found; {call.arg('hint', '')}".rstrip("; "))
        if status != 200:
            return _fail(f"{self.target}: cannot read {plural} {ns}/{name} (HTTP {status})")
        return _ok("ok")

    async def op_apply(self, call: KubeCall) -> ActionResult:
        """Create the manifest `render` journaled, strictly (an unknown field is refused, not pruned)."""
        manifest = self._manifests.get(call.fault)
        if manifest is None:
            return _fail(f"{self.target}: no journaled manifest for {call.fault}; nothing applied")
        version, plural = manifest["apiVersion"], call.arg("plural")
        ns = manifest["metadata"]["namespace"]
        status, text = await self.request("POST", version, plural, namespace=ns,
                                          params={"fieldValidation": "Strict"}, body=manifest)
        if status == 409:
            return _fail(f"{self.target}: {manifest['kind']} {ns}/{manifest['metadata']['name']} already exists; "
                         "run `controlroom recover` on the session that left it")
        if status not in (200, 201):
            return _fail(f"{self.target}: {manifest['kind']} refused: {_status_message(status, text)}")
        return _ok(f"created {manifest['kind']} {ns}/{manifest['metadata']['name']}")

    def _fault_selector(self, call: KubeCall, *, session_only: bool = False) -> str:
        raw = call.arg("session") or self.session_id
        if not raw:
            # Never search with a made-up id: finding nothing would read as "gone", i.e. a false clean.
            raise _Refused(f"{self.target}: no session id bound; cannot find what this fault created")
        sid = label_value(raw)
        selector = f"{SESSION_LABEL}={sid}"
        if call.fault and not session_only:
            selector += f",{FAULT_LABEL}={fault_label(call.fault)}"
        return selector

    async def op_patch_labelled(self, call: KubeCall) -> ActionResult:
        """Merge-patch every object of this fault (Litmus: `engineState: stop`); none left is fine."""
        version, plural = call.arg("version"), call.arg("plural")
        objs = await self.fault_objects(call, version, plural, call.arg("namespaces"))
        errors = []
        for obj in objs:
            meta = obj["metadata"]
            status, text = await self.request("PATCH", version, f"{plural}/{meta['name']}", namespace=meta["namespace"],
                                              body=call.arg("patch"),
                                              headers={"Content-Type": "application/merge-patch+json"})
            if status not in (200, 404):
                errors.append(f"{meta['namespace']}/{meta['name']}: {_status_message(status, text)}")
        return _fail("; ".join(errors)) if errors else _ok(f"patched {len(objs)}")

    async def op_wait_labelled(self, call: KubeCall) -> ActionResult:
        """Wait until every object of this fault has `status.<field>` in the wanted values (Litmus: stopped)."""
        version, plural = call.arg("version"), call.arg("plural")
        field, wanted = call.arg("field"), set(call.arg("values"))
        deadline = time.monotonic() + float(call.arg("wait", 10.0))
        while True:
            objs = await self.fault_objects(call, version, plural, call.arg("namespaces"))
            pending = [o["metadata"]["name"] for o in objs if (o.get("status") or {}).get(field) not in wanted]
            if not pending:
                return _ok("ok")
            if time.monotonic() > deadline:
                return _fail(f"{self.target}: {', '.join(pending)} not {'/'.join(sorted(wanted))} yet")
            await asyncio.sleep(POLL)

    async def op_delete_labelled(self, call: KubeCall) -> ActionResult:
        """Delete every object of this fault (by session and fault label), then wait until each is gone.

        Gone is the only confirmation: Chaos Mesh removes its finalizer once every record is recovered, so
        an object still there after `wait` seconds may still be injecting — reported, never called clean.
        """
        version, plural = call.arg("version"), call.arg("plural")
        namespaces = call.arg("namespaces")
        fault = fault_label(call.fault)
        self._fault_selector(call)  # refuses before anything is sent when no session id is bound
        answers = await asyncio.gather(*(self._batched_delete(version, plural, ns, fault) for ns in namespaces))
        errors = [e for e in answers if e]
        deadline = time.monotonic() + float(call.arg("wait", 10.0))
        left: list[dict[str, Any]] = [{}]  # not known yet: listed at once below
        while left:
            left = await self.fault_objects(call, version, plural, namespaces)
            if not left or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL)
        if left:
            return _fail(_persisting(self.target, left) + (f"; delete said: {'; '.join(errors)}" if errors else ""))
        if errors:
            return _fail(f"{self.target}: {'; '.join(errors)}")
        return _ok("deleted, gone")

    async def _batched_delete(self, version: str, plural: str, ns: str, fault: str) -> str:
        """Delete this fault's objects in `ns` with one deletecollection shared by every fault of the session
        deleting in that namespace in the same instant (the e-stop): selected by the session label and
        `controlroom.io/fault in (...)` — exactly the faults that asked, never another's. '' when accepted."""
        key = (version, plural, ns)
        batch = self._deletes.get(key)
        if batch is None:
            batch = ({fault}, asyncio.get_running_loop().create_future())
            self._deletes[key] = batch
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._flush_deletes(key)))
        else:
            batch[0].add(fault)
        return await asyncio.shield(batch[1])

    async def _flush_deletes(self, key: tuple[str, str, str]) -> None:
        faults, future = self._deletes.pop(key)
        version, plural, ns = key
        selector = f"{SESSION_LABEL}={label_value(self.session_id)},{FAULT_LABEL} in ({','.join(sorted(faults))})"
        try:
            status, text = await self.request("DELETE", version, plural, namespace=ns, params={"labelSelector": selector})
            answer = "" if status in (200, 202, 404) else f"{plural} in {ns}: {_status_message(status, text)}"
        except Exception as err:  # delivered to every waiter as its own failure, never lost
            answer = f"{plural} in {ns}: {type(err).__name__}: {err}"
        if not future.done():
            future.set_result(answer)

    async def op_force_clean(self, call: KubeCall) -> ActionResult:
        """Only from `recover --force-finalizers` (the facilitator's explicit action): Chaos Mesh's forced-clean
        annotation drops its finalizer WITHOUT recovering the pods. Answers whether the objects went; the
        caller never calls the result clean."""
        version, plural, namespaces = call.arg("version"), call.arg("plural"), call.arg("namespaces")
        objs = await self.fault_objects(call, version, plural, namespaces)
        patch = {"metadata": {"annotations": {FORCE_ANNOTATION: "forced"}}}
        for obj in objs:
            meta = obj["metadata"]
            status, text = await self.request("PATCH", version, f"{plural}/{meta['name']}", namespace=meta["namespace"],
                                              body=patch, headers={"Content-Type": "application/merge-patch+json"})
            if status not in (200, 404):
                return _fail(f"{meta['namespace']}/{meta['name']}: {_status_message(status, text)}")
        deadline = time.monotonic() + float(call.arg("wait", 10.0))
        while objs and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
            objs = await self.fault_objects(call, version, plural, namespaces)
        return _fail(_persisting(self.target, objs)) if objs else _ok("objects removed, pods NOT recovered")

    async def op_gone(self, call: KubeCall) -> ActionResult:
        """Verify: no object of this fault is left (a finished or recovering one still counts as present)."""
        left = await self.fault_objects(call, call.arg("version"), call.arg("plural"), call.arg("namespaces"))
        return _fail(_persisting(self.target, left)) if left else _ok("gone")

    async def op_clobber(self, call: KubeCall) -> ActionResult:
        """Succeeds when no chaos object (not ours, not finished) already targets one of the selected pods."""
        pods = await self.list_pods(self.ref.all_namespaces, self.ref.selector, self.ref.field_selector)
        ours = {(_ident(p)["namespace"], _ident(p)["name"]): p for p in pods}
        clashes = []
        for version, plural in call.arg("kinds", []):
            for obj in await self.list_objects(version, plural, self.ref.all_namespaces, ""):
                meta = obj.get("metadata") or {}
                labels = meta.get("labels") or {}
                if self.session_id and labels.get(SESSION_LABEL) == label_value(self.session_id):
                    continue
                if _finished(obj):
                    continue
                hit = _targets(obj, ours)
                if hit:
                    clashes.append(f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')} already targets "
                                   f"{', '.join(sorted(hit)[:3])}")
        if clashes:
            return _fail(f"{self.target}: {'; '.join(clashes)}; two experiments on one pod cannot be judged "
                         "(run `controlroom recover` if a previous session left it)")
        return _ok("ok")

    async def op_ready_ratio(self, call: KubeCall) -> ActionResult:
        """The steady-state metric: ready pods / matched pods and their container restarts, as JSON."""
        pods = await self.list_pods(self.ref.all_namespaces, self.ref.selector, self.ref.field_selector)
        ready = sum(1 for p in pods if _ready(p))
        restarts = sum(int(c.get("restartCount") or 0) for p in pods
                       for c in (p.get("status") or {}).get("containerStatuses") or [])
        ratio = ready / len(pods) if pods else 0.0
        return _ok(json.dumps({"ready_ratio": ratio, "ready": ready, "pods": len(pods), "restarts": restarts}))


class _Refused(Exception):
    """The API answered, and said no: an operation's failure (stderr), not a transport error."""


def _ok(stdout: str = "", record: dict[str, Any] | None = None) -> ActionResult:
    return ActionResult(ok=True, status=0, stdout=stdout, record=record)


def _fail(stderr: str) -> ActionResult:
    return ActionResult(ok=False, status=1, stderr=stderr)


def _persisting(target: str, objs: list[dict[str, Any]]) -> str:
    parts = []
    for o in objs[:5]:
        meta = o.get("metadata") or {}
        held = meta.get("finalizers") or []
        state = f"deleting, finalizers {held}" if meta.get("deletionTimestamp") else "not deleted"
        parts.append(f"{o.get('kind')} {meta.get('namespace')}/{meta.get('name')} ({state})")
    more = f" and {len(objs) - 5} more" if len(objs) > 5 else ""
    return f"{target}: {FINALIZER_HELD}: {', '.join(parts)}{more}"


def _finished(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if (status.get("experiment") or {}).get("desiredPhase") == "Stop" or meta.get("deletionTimestamp"):
        # Stopped or being deleted: it no longer injects, but a deleting one may still hold effects —
        # counted as finished only when every record says so.
        records = (status.get("experiment") or {}).get("containerRecords") or []
        return all(r.get("phase") != "Injected" for r in records)
    return obj.get("kind") == "ChaosEngine" and (obj.get("spec") or {}).get("engineState") == "stop"


def _targets(obj: dict[str, Any], pods: dict[tuple[str, str], dict[str, Any]]) -> set[str]:
    """The pods among `pods` a chaos object would touch (its explicit `pods`, or its label selectors)."""
    spec = obj.get("spec") or {}
    ns = (obj.get("metadata") or {}).get("namespace", "")
    if obj.get("kind") == "ChaosEngine":
        app = spec.get("appinfo") or {}
        labels = dict(p.split("=", 1) for p in str(app.get("applabel", "")).split(",") if "=" in p)
        namespaces = [app.get("appns") or ns]
        explicit: dict[str, list[str]] = {}
    else:
        sel = spec.get("selector") or {}
        labels = sel.get("labelSelectors") or {}
        namespaces = sel.get("namespaces") or [ns]
        explicit = sel.get("pods") or {}
    hit = set()
    for (pns, name), pod in pods.items():
        if explicit:
            if name in (explicit.get(pns) or []):
                hit.add(f"{pns}/{name}")
            continue
        if pns in namespaces and labels:
            have = (pod.get("metadata") or {}).get("labels") or {}
            if all(have.get(k) == v for k, v in labels.items()):
                hit.add(f"{pns}/{name}")
    return hit
