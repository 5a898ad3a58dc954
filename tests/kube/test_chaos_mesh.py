"""The Chaos Mesh stand-in: every kind selected, injected, observed on the pods, recovered and let go — or not."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest

from controlroom.lab.kube import SimulatedCluster
from controlroom.lab.kube.controllers.chaosmesh import INJECTED_ANNOTATION, SelectError, filter_by_mode

GROUP = "chaos-mesh.org"
SELECT = {"labelSelectors": {"app": "checkout"}}
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "PodChaos/pod-failure": ("podchaos", {"action": "pod-failure"}),
    "NetworkChaos/delay": ("networkchaos", {"action": "delay", "delay": {"latency": "100ms"}}),
    "StressChaos/stress": ("stresschaos", {"stressors": {"cpu": {"workers": 1, "load": 50}}}),
    "IOChaos/latency": ("iochaos", {"action": "latency", "volumePath": "/data", "delay": "100ms"}),
    "HTTPChaos/http": ("httpchaos", {"target": "Request", "port": 8080, "abort": True}),
    "DNSChaos/error": ("dnschaos", {"action": "error"}),
    "TimeChaos/time-offset": ("timechaos", {"timeOffset": "-1h"}),
}
CONTAINER_LEVEL = {"StressChaos", "IOChaos", "DNSChaos", "TimeChaos"}


def chaos(kind: str, name: str, extra: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body = {"mode": "fixed", "value": "2", "selector": SELECT, "duration": "1h", **extra, **spec}
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": "shop"},
            "spec": {k: v for k, v in body.items() if v is not None}}


def conds(obj: dict[str, Any] | None) -> dict[str, str]:
    return {c["type"]: c["status"] for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def records(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return (((obj or {}).get("status") or {}).get("experiment") or {}).get("containerRecords") or []


def phase(obj: dict[str, Any] | None) -> str | None:
    return (((obj or {}).get("status") or {}).get("experiment") or {}).get("desiredPhase")


def marked(cluster: SimulatedCluster) -> dict[str, list[str]]:
    out = {}
    for pod in cluster.pods("shop"):
        tags = json.loads((pod["metadata"].get("annotations") or {}).get(INJECTED_ANNOTATION, "[]"))
        if tags:
            out[pod["metadata"]["name"]] = tags
    return out


async def until(cluster: SimulatedCluster, plural: str, name: str, check: Any, what: str,
                timeout: float = 5.0) -> dict[str, Any]:
    await cluster.wait_for(lambda: check(cluster.get(plural, "shop", name, GROUP)), timeout, what)
    return cluster.get(plural, "shop", name, GROUP) or {}


def events(cluster: SimulatedCluster, name: str) -> list[str]:
    return [e["reason"] for e in cluster.objects("events", "shop") if e["involvedObject"]["name"] == name]


@pytest.mark.parametrize("key", list(KINDS))
async def test_every_kind_is_injected_observed_recovered_and_released(kube_sample: SimulatedCluster,
                                                                      kube_http: httpx.AsyncClient, key: str) -> None:
    kind, action = key.split("/")
    plural, extra = KINDS[key]
    name = f"t-{plural}"
    r = await kube_http.post(f"/apis/{GROUP}/v1alpha1/namespaces/shop/{plural}", json=chaos(kind, name, extra))
    assert r.status_code == 201, r.text
    obj = await until(kube_sample, plural, name, lambda o: conds(o).get("AllInjected") == "True", "injection")
    assert obj["metadata"]["finalizers"] == ["chaos-mesh/records"]
    assert conds(obj) == {"Selected": "True", "AllInjected": "True", "AllRecovered": "False", "Paused": "False"}
    assert phase(obj) == "Run"
    recs = records(obj)
    assert len(recs) == 2 and all(r["phase"] == "Injected" and r["injectedCount"] == 1 for r in recs)
    parts = 3 if kind in CONTAINER_LEVEL else 2
    assert all(r["id"].startswith("shop/checkout-") and len(r["id"].split("/")) == parts for r in recs)
    hit = marked(kube_sample)
    assert sorted(hit) == sorted(r["id"].split("/")[1] for r in recs)
    assert all(tags == [f"{kind}/{action} shop/{name}"] for tags in hit.values())
    if key == "PodChaos/pod-failure":  # the kubelet, then the ReplicaSet and Deployment statuses, follow
        await kube_sample.wait_for(lambda: kube_sample.deployment_ready("shop", "checkout") == (3, 5),
                                   what="2 of 5 pods NotReady")
    else:
        await asyncio.sleep(0.2)
        assert kube_sample.deployment_ready("shop", "checkout") == (5, 5)

    r = await kube_http.delete(f"/apis/{GROUP}/v1alpha1/namespaces/shop/{plural}/{name}")
    assert r.status_code == 200
    await kube_sample.wait_gone(plural, "shop", name, GROUP)
    assert marked(kube_sample) == {}
    assert {"FinalizerInited", "Started", "Applied", "Deleted", "Recovered", "FinalizerRemoved"} <= set(
        events(kube_sample, name))
    await kube_sample.wait_ready("shop", "checkout")
    if key == "PodChaos/pod-failure":  # the original image came back: those containers restarted once
        restarts = sorted(p["status"]["containerStatuses"][0]["restartCount"] for p in kube_sample.pods("shop"))
        assert restarts == [0, 0, 0, 1, 1]


async def test_every_kind_ends_at_its_duration_and_stays_finished(kube_sample: SimulatedCluster) -> None:
    # all seven at once, so the test waits for one duration, not seven; 2 s because creationTimestamp has
    # one-second precision (the stop comes 1-2 s after creation), as on a real cluster
    for key, (plural, extra) in KINDS.items():
        kube_sample.create(chaos(key.split("/")[0], f"d-{plural}", extra, duration="2s", mode="one", value=None))
    for plural, _ in KINDS.values():
        await until(kube_sample, plural, f"d-{plural}", lambda o: conds(o).get("AllInjected") == "True", "injected")
    for plural, _ in KINDS.values():
        obj = await until(kube_sample, plural, f"d-{plural}", lambda o: conds(o).get("AllRecovered") == "True",
                          f"{plural} ended by its duration", timeout=5)
        assert phase(obj) == "Stop" and obj["metadata"]["finalizers"] == ["chaos-mesh/records"]
        assert [(r["injectedCount"], r["recoveredCount"], r["phase"]) for r in records(obj)] == [(1, 1, "Not Injected")]
    assert marked(kube_sample) == {}
    await kube_sample.wait_ready("shop", "checkout")


async def test_duration_expiry_stops_and_recovers_but_keeps_the_object(kube_sample: SimulatedCluster) -> None:
    kube_sample.create(chaos("NetworkChaos", "brief", KINDS["NetworkChaos/delay"][1], duration="3s", mode="all",
                             value=None))
    obj = await until(kube_sample, "networkchaos", "brief", lambda o: conds(o).get("AllInjected") == "True", "injected")
    assert len(marked(kube_sample)) == 5
    obj = await until(kube_sample, "networkchaos", "brief", lambda o: phase(o) == "Stop", "time up", timeout=8)
    obj = await until(kube_sample, "networkchaos", "brief", lambda o: conds(o).get("AllRecovered") == "True", "recovery")
    assert obj["metadata"]["finalizers"] == ["chaos-mesh/records"] and not obj["metadata"].get("deletionTimestamp")
    assert all(r["phase"] == "Not Injected" and r["recoveredCount"] == 1 for r in records(obj))
    assert marked(kube_sample) == {}
    assert "TimeUp" in events(kube_sample, "brief")
    kube_sample.delete("networkchaos", "shop", "brief", GROUP)
    await kube_sample.wait_gone("networkchaos", "shop", "brief", GROUP)


async def test_the_pause_annotation_recovers_and_resumes(kube_sample: SimulatedCluster,
                                                         kube_http: httpx.AsyncClient) -> None:
    kube_sample.create(chaos("StressChaos", "p", KINDS["StressChaos/stress"][1]))
    await until(kube_sample, "stresschaos", "p", lambda o: conds(o).get("AllInjected") == "True", "injected")
    path = f"/apis/{GROUP}/v1alpha1/namespaces/shop/stresschaos/p"
    merge = {"content-type": "application/merge-patch+json"}
    pause = {"metadata": {"annotations": {"experiment.chaos-mesh.org/pause": "true"}}}
    assert (await kube_http.patch(path, json=pause, headers=merge)).status_code == 200
    obj = await until(kube_sample, "stresschaos", "p", lambda o: conds(o).get("AllRecovered") == "True", "paused")
    assert phase(obj) == "Stop" and conds(obj)["Paused"] == "True" and marked(kube_sample) == {}
    resume = {"metadata": {"annotations": {"experiment.chaos-mesh.org/pause": None}}}
    assert (await kube_http.patch(path, json=resume, headers=merge)).status_code == 200
    obj = await until(kube_sample, "stresschaos", "p", lambda o: conds(o).get("AllInjected") == "True", "resumed")
    assert phase(obj) == "Run" and conds(obj)["Paused"] == "False"
    assert all(r["injectedCount"] == 2 and r["recoveredCount"] == 1 for r in records(obj))
    assert len(marked(kube_sample)) == 2


async def test_a_stuck_recovery_holds_the_finalizer_until_a_forced_clean(kube_sample: SimulatedCluster,
                                                                        kube_http: httpx.AsyncClient) -> None:
    kube_sample.chaos_mesh.stuck = True
    kube_sample.create(chaos("PodChaos", "stuck", KINDS["PodChaos/pod-failure"][1]))
    await until(kube_sample, "podchaos", "stuck", lambda o: conds(o).get("AllInjected") == "True", "injected")
    path = f"/apis/{GROUP}/v1alpha1/namespaces/shop/podchaos/stuck"
    r = await kube_http.delete(path)
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    await asyncio.sleep(0.5)  # the controller tries (and fails) to recover meanwhile
    held = await kube_http.get(path)
    assert held.status_code == 200, "a stuck recovery must keep the object"
    obj = held.json()
    assert obj["metadata"]["finalizers"] == ["chaos-mesh/records"] and phase(obj) == "Stop"
    assert conds(obj)["AllRecovered"] == "False" and all(r["phase"] == "Injected" for r in records(obj))
    assert any(e["type"] == "Failed" and e["operation"] == "Recover" for e in records(obj)[0]["events"])
    assert kube_sample.deployment_ready("shop", "checkout") == (3, 5)
    forced = {"metadata": {"annotations": {"chaos-mesh.chaos-mesh.org/cleanFinalizer": "forced"}}}
    r = await kube_http.patch(path, json=forced, headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200
    await kube_sample.wait_gone("podchaos", "shop", "stuck", GROUP)
    # forced off without recovery: the fault persists on the pods, which is why it is never called clean
    assert len(marked(kube_sample)) == 2
    assert kube_sample.deployment_ready("shop", "checkout") == (3, 5)


async def test_pod_kill_deletes_pods_and_the_deployment_brings_them_back(kube_sample: SimulatedCluster) -> None:
    before = {p["metadata"]["name"] for p in kube_sample.pods("shop")}
    kube_sample.create(chaos("PodChaos", "kill", {"action": "pod-kill"}, mode="fixed-percent", value="40",
                             duration=None))
    obj = await until(kube_sample, "podchaos", "kill", lambda o: conds(o).get("AllInjected") == "True", "kill")
    killed = {r["id"].split("/")[1] for r in records(obj)}
    assert len(killed) == 2 and killed <= before  # ceil(5 * 40 %) = 2
    await kube_sample.wait_for(lambda: not killed & {p["metadata"]["name"] for p in
                                                     kube_sample.pods("shop", include_terminating=True)},
                               what="killed pods gone")
    await kube_sample.wait_ready("shop", "checkout")
    assert len({p["metadata"]["name"] for p in kube_sample.pods("shop")} - before) == 2
    assert phase(kube_sample.get("podchaos", "shop", "kill", GROUP)) == "Run"  # one-shot: it stays Run
    kube_sample.delete("podchaos", "shop", "kill", GROUP)
    await kube_sample.wait_gone("podchaos", "shop", "kill", GROUP)


async def test_container_kill_restarts_the_named_container(kube_sample: SimulatedCluster) -> None:
    kube_sample.create(chaos("PodChaos", "ck", {"action": "container-kill", "containerNames": ["checkout"]},
                             mode="one", value=None, duration=None))
    obj = await until(kube_sample, "podchaos", "ck", lambda o: conds(o).get("AllInjected") == "True", "kill")
    (rec,) = records(obj)
    _, pod_name, container = rec["id"].split("/")
    assert container == "checkout"
    pod = kube_sample.get("pods", "shop", pod_name) or {}
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1
    await kube_sample.wait_ready("shop", "checkout")


async def test_no_matching_pod_leaves_it_unselected_and_deletable(kube_sample: SimulatedCluster) -> None:
    kube_sample.create(chaos("PodChaos", "none", KINDS["PodChaos/pod-failure"][1],
                             selector={"labelSelectors": {"app": "nothing"}}))
    await kube_sample.wait_for(lambda: "Failed" in events(kube_sample, "none"), what="a Failed event")
    obj = kube_sample.get("podchaos", "shop", "none", GROUP) or {}
    assert conds(obj)["Selected"] == "False" and records(obj) == []
    ev = next(e for e in kube_sample.objects("events", "shop") if e["reason"] == "Failed")
    assert ev["message"] == "Failed to select targets: no pod is selected"
    kube_sample.delete("podchaos", "shop", "none", GROUP)
    await kube_sample.wait_gone("podchaos", "shop", "none", GROUP)


async def test_network_chaos_target_adds_target_records(kube_sample: SimulatedCluster) -> None:
    kube_sample.add_deployment("shop", "db", replicas=2)
    await kube_sample.wait_ready("shop", "db")
    kube_sample.create(chaos("NetworkChaos", "cut", {"action": "partition", "direction": "to"}, mode="one", value=None,
                             target={"mode": "all", "selector": {"labelSelectors": {"app": "db"}}}))
    obj = await until(kube_sample, "networkchaos", "cut", lambda o: conds(o).get("AllInjected") == "True", "cut")
    keys = sorted(r["selectorKey"] for r in records(obj))
    assert keys == [".", ".Target", ".Target"]
    assert obj["spec"]["target"]["selector"]["namespaces"] == ["shop"]  # defaulted by the webhook


async def test_configured_actions_take_pods_out_of_readiness(kube_factory: Any) -> None:
    cluster: SimulatedCluster = await kube_factory(unready_actions=frozenset({"NetworkChaos/partition"}))
    cluster.add_sample()
    await cluster.wait_ready("shop", "checkout")
    cluster.create(chaos("NetworkChaos", "cut", {"action": "partition"}, mode="fixed", value="3"))
    await cluster.wait_for(lambda: cluster.deployment_ready("shop", "checkout") == (2, 5), what="3 pods unready")
    cluster.delete("networkchaos", "shop", "cut", GROUP)
    await cluster.wait_ready("shop", "checkout")


async def test_the_controller_only_acts_while_its_deployment_is_ready(kube_sample: SimulatedCluster) -> None:
    kube_sample.change("deployments", "chaos-mesh", "chaos-controller-manager",
                       lambda d: d["spec"].update(replicas=0))
    await kube_sample.wait_for(lambda: kube_sample.deployment_ready("chaos-mesh", "chaos-controller-manager")[0] == 0,
                               what="controller down")
    kube_sample.create(chaos("PodChaos", "waiting", KINDS["PodChaos/pod-failure"][1]))
    await asyncio.sleep(0.3)
    obj = kube_sample.get("podchaos", "shop", "waiting", GROUP) or {}
    assert "finalizers" not in obj["metadata"] and "status" not in obj
    kube_sample.change("deployments", "chaos-mesh", "chaos-controller-manager",
                       lambda d: d["spec"].update(replicas=1))
    await until(kube_sample, "podchaos", "waiting", lambda o: conds(o).get("AllInjected") == "True", "served again")


def test_mode_arithmetic_is_chaos_meshs() -> None:
    rng = random.Random(1)
    items = list(range(10))
    assert len(filter_by_mode(items, "fixed-percent", "20", rng)) == 2
    assert len(filter_by_mode(list(range(1000)), "fixed-percent", "20", rng)) == 200
    assert len(filter_by_mode(items, "fixed-percent", "25", rng)) == 3  # rounds up
    assert len(filter_by_mode(items[:3], "fixed-percent", "1", rng)) == 1  # at least one
    assert filter_by_mode(items[:5], "fixed", "7", rng) == items[:5]
    assert len(filter_by_mode(items, "one", "", rng)) == 1
    assert filter_by_mode(items, "all", "", rng) == items
    for _ in range(50):
        assert len(filter_by_mode(items, "random-max-percent", "30", rng)) <= 3
    for mode, value, message in (("fixed", "0", "cannot select any object as value below or equal 0"),
                                 ("fixed-percent", "101", "fixed percentage value of 101 is invalid, Must be (0,100]"),
                                 ("fixed", "x", 'strconv.Atoi: parsing "x": invalid syntax'),
                                 ("half", "", "mode half not supported")):
        with pytest.raises(SelectError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
            filter_by_mode(items, mode, value, rng)
    with pytest.raises(SelectError, match="cannot generate objects from empty list"):
        filter_by_mode([], "all", "", rng)


async def test_selector_fields_narrow_the_pods_as_chaos_mesh_does(kube_sample: SimulatedCluster) -> None:
    kube_sample.add_namespace("other")
    kube_sample.add_deployment("other", "checkout", replicas=2)
    await kube_sample.wait_ready("other", "checkout")
    pods = kube_sample.pods("shop")
    first, second = pods[0]["metadata"]["name"], pods[1]["metadata"]["name"]
    kube_sample.change("pods", "shop", first, lambda p: p["metadata"].setdefault("annotations", {}).update(tier="gold"))
    select = kube_sample.chaos_mesh.select_pods

    def names(sel: dict[str, Any], ns: str = "shop") -> list[str]:
        return sorted(p["metadata"]["name"] for p in select(sel, ns))

    assert len(names({"labelSelectors": {"app": "checkout"}})) == 5  # the object's namespace by default
    assert len(names({"namespaces": ["shop", "other"], "labelSelectors": {"app": "checkout"}})) == 7
    assert names({"fieldSelectors": {"metadata.name": second}}) == [second]
    assert names({"annotationSelectors": {"tier": "gold"}}) == [first]
    assert names({"pods": {"shop": [first, "gone"], "other": []}}) == [first]
    assert len(names({"expressionSelectors": [{"key": "app", "operator": "In", "values": ["checkout"]}]})) == 5
    assert names({"podPhaseSelectors": ["Pending"]}) == []
    assert len(names({"podPhaseSelectors": ["Running"]})) == 5
    node = pods[2]["spec"]["nodeName"]
    assert names({"nodes": [node]}) == sorted(p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == node)
    assert names({"nodeSelectors": {"kubernetes.io/hostname": node}}) == names({"nodes": [node]})
