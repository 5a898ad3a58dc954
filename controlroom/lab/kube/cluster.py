"""A simulated Kubernetes cluster on loopback: the API stand-in and its controllers, as one object.

`SimulatedCluster` serves the Kubernetes API (see `api.py`) on 127.0.0.1 and runs, in the same event
loop, the simulated Deployment/ReplicaSet controllers, scheduler and kubelet (`controllers/workloads.py`),
a Chaos Mesh controller (`controllers/chaosmesh.py`) and a Litmus operator (`controllers/litmus.py`).
It starts with the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease),
the bundled Chaos Mesh and Litmus CRDs, and — unless configured absent — the controllers' marker
Deployments `chaos-mesh/chaos-controller-manager` and `litmus/chaos-operator-ce`.

Tests use it in their own loop (`async with SimulatedCluster(...)`), or in a thread of its own
(`ClusterThread`) when the code under test blocks, or as a process (`python -m controlroom.lab.kube
serve`). The helpers (`create`, `pods`, `wait_for`...) act on the store directly and must be called on
the cluster's loop thread; clients under test go through HTTP and the kubeconfig, like real ones.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from controlroom.lab.kube._util import deep_copy
from controlroom.lab.kube.api import KubeApi
from controlroom.lab.kube.config import SIM_CONTEXT, Rbac, StandinConfig
from controlroom.lab.kube.controllers import chaosmesh, litmus
from controlroom.lab.kube.controllers.base import Controller, condition
from controlroom.lab.kube.controllers.chaosmesh import ChaosMeshController
from controlroom.lab.kube.controllers.litmus import LitmusController
from controlroom.lab.kube.controllers.workloads import Kubelet, WorkloadController
from controlroom.lab.kube.http import HttpServer
from controlroom.lab.kube.kubeconfig import write_kubeconfig
from controlroom.lab.kube.resources import Registry, ResourceType, builtin_types, types_from_crd
from controlroom.lab.kube.schema import bundled_crds
from controlroom.lab.kube.selectors import parse_label_selector
from controlroom.lab.kube.status import ApiError
from controlroom.lab.kube.store import Change, Store
from controlroom.lab.kube.tls import TlsMaterial, make_tls

Obj = dict[str, Any]
T = TypeVar("T")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SAMPLE_NAMESPACE, SAMPLE_DEPLOYMENT, SAMPLE_REPLICAS = "shop", "checkout", 5
CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"


class SimulatedCluster:
    def __init__(self, config: StandinConfig | None = None):
        self.config = config or StandinConfig()
        self.registry = Registry()
        for rt in builtin_types():
            self.registry.add(rt)
        self.store = Store(self.registry, history_limit=self.config.history_limit)
        self.rbac = Rbac()
        self.errors: list[str] = []  # tracebacks of the simulated controllers: a test fails on any
        self.node_names = [f"sim-node-{i + 1}" for i in range(max(1, self.config.nodes))]
        self.api = KubeApi(self.config, self.registry, self.store, self.rbac, self._sync_crds)
        self._http = HttpServer(self.api.handle)
        self.workloads = WorkloadController(self)
        self.kubelet = Kubelet(self)
        self.chaos_mesh = ChaosMeshController(self)
        self.litmus = LitmusController(self)
        self._controllers: list[Controller] = [self.workloads, self.kubelet]
        if self.config.chaos_mesh_crds and self.config.chaos_mesh_controller:
            self._controllers.append(self.chaos_mesh)
        if self.config.litmus_crds and self.config.litmus_operator:
            self._controllers.append(self.litmus)
        self.store.listeners.append(self._on_crd_change)
        self.running = False
        self.tls: TlsMaterial | None = make_tls() if self.config.tls else None
        self._bootstrap()

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            self.add_namespace(ns)
        crds = bundled_crds(chaos_mesh=self.config.chaos_mesh_crds, litmus=self.config.litmus_crds)
        crd_rt = self.rt("customresourcedefinitions")
        for crd in crds:
            self.store.create(crd_rt, "", crd)
        if self.config.chaos_mesh_crds and self.config.chaos_mesh_controller:
            self.store.admission.append(chaosmesh.webhook)
            self.add_namespace(chaosmesh.CONTROLLER_NAMESPACE)
            self.add_deployment(chaosmesh.CONTROLLER_NAMESPACE, chaosmesh.CONTROLLER_DEPLOYMENT, replicas=1,
                                labels={"app.kubernetes.io/component": "controller-manager",
                                        "app.kubernetes.io/instance": "chaos-mesh",
                                        "app.kubernetes.io/name": "chaos-mesh"},
                                image="ghcr.io/chaos-mesh/chaos-mesh:v2.7.2")
        if self.config.litmus_crds and self.config.litmus_operator:
            self.add_namespace(litmus.CONTROLLER_NAMESPACE)
            self.add_deployment(litmus.CONTROLLER_NAMESPACE, litmus.CONTROLLER_DEPLOYMENT, replicas=1,
                                labels={"name": "chaos-operator", "app.kubernetes.io/component": "operator",
                                        "app.kubernetes.io/name": "litmus"},
                                image="litmuschaos.docker.scarf.sh/litmuschaos/chaos-operator:3.16.0")

    async def start(self) -> SimulatedCluster:
        await self._http.start(self.config.host, self.config.port,
                               self.tls.server_context() if self.tls is not None else None)
        for c in self._controllers:
            c.start()
        self.running = True
        return self

    async def stop(self) -> None:
        self.running = False
        self.api.closing.set()
        await self._http.close()
        for c in self._controllers:
            await c.stop()

    async def __aenter__(self) -> SimulatedCluster:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext | bool:
        """What an httpx client should `verify` with: the cluster's CA (or False-free plain HTTP: True)."""
        return self.tls.client_context() if self.tls is not None else True

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """(method, target, status) of the API requests served, oldest first (the last 2,000)."""
        return list(self.api.requests)

    def write_kubeconfig(self, path: str | Path, context: str = SIM_CONTEXT, namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, self.token, context=context, namespace=namespace,
                                ca_pem=self.tls.ca_pem if self.tls is not None else None)

    # -- resource types --------------------------------------------------------------------------------------

    def find_rt(self, plural: str, group: str | None = None) -> ResourceType | None:
        for rt in self.registry:
            if rt.plural == plural and (group is None or rt.group == group):
                return rt
        return None

    def rt(self, plural: str, group: str | None = None) -> ResourceType:
        rt = self.find_rt(plural, group)
        if rt is None:
            raise KeyError(f"the simulated cluster serves no resource {plural!r}" + (f" in {group}" if group else ""))
        return rt

    def node_labels(self, node: str) -> dict[str, str]:
        return {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "sim"} if node in self.node_names else {}

    def _on_crd_change(self, change: Change) -> None:
        if change.rt_key == CRD_KEY:
            self._sync_crds()

    def _sync_crds(self) -> None:
        """Discovery and storage follow the CRD objects: established when created, gone when deleted."""
        crd_rt = self.rt("customresourcedefinitions")
        crds = {c["metadata"]["name"]: c for c in self.store.query(crd_rt)}
        served = {(c["spec"]["group"], c["spec"]["names"]["plural"]) for c in crds.values()
                  if not c["metadata"].get("deletionTimestamp")}
        for rt in list(self.registry):
            if rt.custom and (rt.group, rt.plural) not in served:
                self.registry.remove_group_resource(rt.group, rt.plural)
                self.store.drop_all(rt)
        for crd in crds.values():
            if crd["metadata"].get("deletionTimestamp"):
                continue
            types = types_from_crd(crd)
            for rt in types:
                if self.registry.get(rt.group, rt.version, rt.plural) is None:
                    self.registry.add(rt)
            if condition(crd, "Established") is None:
                new = deep_copy(crd)
                names = crd["spec"]["names"]
                new["status"] = {"conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted"}],
                    "acceptedNames": names, "storedVersions": [v["name"] for v in crd["spec"]["versions"]
                                                               if v.get("storage")]}
                self.store.update(crd_rt, "", crd["metadata"]["name"], new, subresource="status")

    # -- helpers for tests and the sample (call on the cluster's loop thread) --------------------------------

    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise KeyError(f"the simulated cluster serves no {obj.get('apiVersion')} {obj.get('kind')}")
        ns = namespace or (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else "")
        created, _ = self.store.create(rt, ns, obj)
        return deep_copy(created)

    def get(self, plural: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        obj = self.store.find(self.rt(plural, group), namespace, name)
        return deep_copy(obj) if obj is not None else None

    def objects(self, plural: str, namespace: str | None = None, selector: str = "", group: str | None = None) -> list[Obj]:
        return self.store.query(self.rt(plural, group), namespace, parse_label_selector(selector), copy=True)

    def delete(self, plural: str, namespace: str, name: str, group: str | None = None, grace: int | None = None) -> None:
        self.store.delete(self.rt(plural, group), namespace, name, grace=grace)

    def change(self, plural: str, namespace: str, name: str, edit: Callable[[Obj], None],
               group: str | None = None) -> Obj:
        """Read, edit and write back one object (as a client's GET + PUT)."""
        rt = self.rt(plural, group)
        obj = self.store.get(rt, namespace, name)
        edit(obj)
        new, _ = self.store.update(rt, namespace, name, obj)
        return deep_copy(new)

    def pods(self, namespace: str | None, selector: str = "", *, include_terminating: bool = False) -> list[Obj]:
        pods = self.objects("pods", namespace, selector)
        return pods if include_terminating else [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self, namespace: str | None, selector: str = "") -> list[Obj]:
        return [p for p in self.pods(namespace, selector) if (condition(p, "Ready") or {}).get("status") == "True"]

    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> Obj:
        ns_rt = self.rt("namespaces")
        existing = self.store.find(ns_rt, "", name)
        if existing is not None:
            return deep_copy(existing)
        body: Obj = {"metadata": {"name": name}}
        if labels:
            body["metadata"]["labels"] = dict(labels)
        created, _ = self.store.create(ns_rt, "", body)
        return deep_copy(created)

    def add_deployment(self, namespace: str, name: str, replicas: int = SAMPLE_REPLICAS,
                       labels: dict[str, str] | None = None, image: str = "registry.example/sim/app:1.0",
                       containers: list[str] | None = None) -> Obj:
        labels = labels or {"app": name}
        body = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                         "template": {"metadata": {"labels": dict(labels)},
                                      "spec": {"containers": [{"name": c, "image": image, "ports": [
                                          {"containerPort": 8080, "protocol": "TCP"}]}
                                          for c in (containers or [name])]}}}}
        return self.create(body)

    def add_sample(self, namespace: str = SAMPLE_NAMESPACE, name: str = SAMPLE_DEPLOYMENT,
                   replicas: int = SAMPLE_REPLICAS) -> Obj:
        """The sample workload: namespace `shop`, Deployment `checkout` (label app=checkout), 5 replicas."""
        self.add_namespace(namespace)
        return self.add_deployment(namespace, name, replicas=replicas, labels={"app": name})

    def deployment_ready(self, namespace: str, name: str) -> tuple[int, int]:
        """(ready replicas, desired replicas) of a Deployment, as its status reports them."""
        dep = self.get("deployments", namespace, name)
        if dep is None:
            return 0, 0
        return (dep.get("status") or {}).get("readyReplicas", 0), (dep.get("spec") or {}).get("replicas", 1)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition",
                       interval: float = 0.01) -> None:
        """Poll `predicate` (on this loop) until true; TimeoutError naming `what` otherwise. Bounded."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.errors:
                raise AssertionError("a simulated controller failed:\n" + "\n".join(self.errors))
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulated cluster: no {what} within {timeout}s")
            await asyncio.sleep(interval)

    async def wait_ready(self, namespace: str, name: str, timeout: float = 10.0) -> None:
        def ready() -> bool:
            have, want = self.deployment_ready(namespace, name)
            return want > 0 and have == want

        await self.wait_for(ready, timeout, f"ready Deployment {namespace}/{name}")

    async def wait_gone(self, plural: str, namespace: str, name: str, group: str | None = None,
                        timeout: float = 5.0) -> None:
        await self.wait_for(lambda: self.get(plural, namespace, name, group) is None, timeout,
                            f"removal of {plural} {namespace}/{name}")


class ClusterThread:
    """A SimulatedCluster on an event loop of its own, in a daemon thread: for code under test that blocks.

    `call(fn, *args)` runs a function on the cluster's loop and returns its result; `run(coro_fn)` does
    the same for a coroutine function. Both are bounded by `timeout`.
    """

    def __init__(self, config: StandinConfig | None = None, sample: bool = False, timeout: float = 30.0):
        self.config = config or StandinConfig()
        self.sample = sample
        self.timeout = timeout
        self.cluster: SimulatedCluster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> SimulatedCluster:
        self._thread = threading.Thread(target=self._main, name="simulated-cluster", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise TimeoutError("simulated cluster: did not start in time")
        if self._error is not None:
            raise self._error
        assert self.cluster is not None
        return self.cluster

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.cluster = SimulatedCluster(self.config)
            await self.cluster.start()
            if self.sample:
                self.cluster.add_sample()
        except BaseException as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.cluster.stop()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def run() -> T:
            return fn(*args)

        return self.run(run)

    def run(self, coro_fn: Callable[[], Awaitable[T]]) -> T:
        assert self._loop is not None

        async def wrapped() -> T:
            return await coro_fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(wrapped(), self._loop)
        return fut.result(self.timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(self.timeout)

    def __enter__(self) -> ClusterThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ApiError", "ClusterThread", "SimulatedCluster"]
