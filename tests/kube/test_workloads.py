"""The Deployment stand-in: pods with the template's labels and owners, replaced after a delay, readiness reported."""

from __future__ import annotations

import time
from typing import Any

import httpx

from controlroom.lab.kube import SimulatedCluster, Timings
from controlroom.lab.kube.controllers.base import condition


def ready(pod: dict[str, Any]) -> bool:
    return (condition(pod, "Ready") or {}).get("status") == "True"


async def test_a_deployment_keeps_its_replicas_with_labels_and_owners(kube_sample: SimulatedCluster) -> None:
    rs = kube_sample.objects("replicasets", "shop")
    assert len(rs) == 1
    pods = kube_sample.pods("shop", "app=checkout")
    assert len(pods) == 5 and all(ready(p) for p in pods)
    for pod in pods:
        meta = pod["metadata"]
        assert meta["labels"]["app"] == "checkout" and meta["labels"]["pod-template-hash"]
        assert meta["name"].startswith(rs[0]["metadata"]["name"] + "-")
        owner = meta["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["uid"] == rs[0]["metadata"]["uid"] and owner["controller"]
        assert pod["spec"]["nodeName"].startswith("sim-node-") and pod["status"]["podIP"]
        assert pod["status"]["containerStatuses"][0]["ready"] is True
    dep = kube_sample.get("deployments", "shop", "checkout")
    assert dep is not None
    status = dep["status"]
    assert status["readyReplicas"] == status["availableReplicas"] == status["replicas"] == 5
    assert status["observedGeneration"] == dep["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Available": "True", "Progressing": "True"}


async def test_a_deleted_pod_is_replaced_after_the_delay_and_becomes_ready(kube_factory: Any) -> None:
    timings = Timings(recreate_delay=0.4, start_delay=0.2, ready_delay=0.2)
    cluster: SimulatedCluster = await kube_factory(timings=timings)
    cluster.add_sample(replicas=3)
    await cluster.wait_ready("shop", "checkout", timeout=5)
    victim = cluster.pods("shop")[0]["metadata"]["name"]
    t0 = time.monotonic()
    cluster.delete("pods", "shop", victim)
    await cluster.wait_for(lambda: cluster.deployment_ready("shop", "checkout") == (2, 3), what="2 of 3 ready")
    await cluster.wait_for(lambda: len(cluster.pods("shop")) == 3, timeout=3, what="a replacement pod")
    appeared = time.monotonic() - t0
    assert appeared >= 0.35, f"replaced after {appeared:.2f}s, before the 0.4 s recreate delay"
    new = next(p for p in cluster.pods("shop") if p["metadata"]["name"] != victim and not ready(p))
    assert new["status"]["phase"] == "Pending"
    await cluster.wait_for(lambda: (cluster.get("pods", "shop", new["metadata"]["name"]) or {}).get(
        "status", {}).get("phase") == "Running", what="the new pod running")
    assert not ready(cluster.get("pods", "shop", new["metadata"]["name"]) or {})
    await cluster.wait_ready("shop", "checkout", timeout=3)
    assert time.monotonic() - t0 >= 0.75  # recreate + start + ready delays


async def test_graceful_termination_is_capped_and_the_pod_is_not_ready_meanwhile(kube_factory: Any) -> None:
    cluster: SimulatedCluster = await kube_factory(timings=Timings(0.05, 0.05, 0.05, termination=0.5))
    cluster.add_sample(replicas=2)
    await cluster.wait_ready("shop", "checkout")
    victim = cluster.pods("shop")[0]["metadata"]["name"]
    cluster.delete("pods", "shop", victim)
    marked = cluster.get("pods", "shop", victim)
    assert marked is not None and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    await cluster.wait_for(lambda: not ready(cluster.get("pods", "shop", victim) or {"status": {}}), what="not ready")
    await cluster.wait_for(lambda: cluster.get("pods", "shop", victim) is None, timeout=3, what="termination")
    cluster.delete("pods", "shop", cluster.pods("shop")[0]["metadata"]["name"], grace=0)  # grace 0: gone at once
    await cluster.wait_ready("shop", "checkout")


async def test_scaling_and_a_new_template_through_patches(kube_sample: SimulatedCluster,
                                                          kube_http: httpx.AsyncClient) -> None:
    path = "/apis/apps/v1/namespaces/shop/deployments/checkout"
    r = await kube_http.patch(path, json={"spec": {"replicas": 2}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["generation"] == 2
    await kube_sample.wait_for(lambda: len(kube_sample.pods("shop")) == 2, what="scaled to 2")
    # strategic merge: the container list is merged by name, not replaced
    r = await kube_http.patch(path, json={"spec": {"template": {"spec": {"containers": [
        {"name": "checkout", "image": "registry.example/sim/app:2.0"}]}}}},
        headers={"content-type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200
    container = r.json()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":2.0") and container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    await kube_sample.wait_for(lambda: len(kube_sample.objects("replicasets", "shop")) == 2, what="a new ReplicaSet")
    await kube_sample.wait_for(lambda: all(p["spec"]["containers"][0]["image"].endswith(":2.0")
                                           for p in kube_sample.pods("shop")) and len(kube_sample.pods("shop")) == 2,
                               what="pods of the new template")
    await kube_sample.wait_ready("shop", "checkout")
    r = await kube_http.patch(path, json={"spec": {"selector": {"matchLabels": {"app": "other"}}}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] in ("spec.selector",
                                                                                  "spec.template.metadata.labels")


async def test_a_deployment_whose_selector_misses_its_template_is_refused(kube_http: httpx.AsyncClient) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    r = await kube_http.post("/apis/apps/v1/namespaces/default/deployments", json=body)
    assert r.status_code == 422
    cause = r.json()["details"]["causes"][0]
    assert cause["field"] == "spec.template.metadata.labels"
    assert cause["message"].endswith("`selector` does not match template `labels`")


async def test_a_pod_spec_cannot_change_but_its_image_can(kube_sample: SimulatedCluster,
                                                          kube_http: httpx.AsyncClient) -> None:
    name = kube_sample.pods("shop")[0]["metadata"]["name"]
    path = f"/api/v1/namespaces/shop/pods/{name}"
    r = await kube_http.patch(path, json={"spec": {"restartPolicy": "Never"}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 422 and "pod updates may not change fields" in r.json()["message"]
    r = await kube_http.patch(path, json={"spec": {"containers": [{"name": "checkout", "image": "x:9"}]}},
                              headers={"content-type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200
    # status is a subresource: a write to the pod leaves it, a write to /status sets it
    r = await kube_http.patch(path, json={"status": {"phase": "Failed"}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Running"
