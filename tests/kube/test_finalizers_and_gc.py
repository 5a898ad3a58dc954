"""Deletion as the API does it: finalizers hold an object (only marked), namespaces terminate, owners cascade."""

from __future__ import annotations

import httpx

from controlroom.lab.kube import SimulatedCluster

CM_PATH = "/apis/litmuschaos.io/v1alpha1/namespaces/default/chaosexperiments"
EXPERIMENT = {"apiVersion": "litmuschaos.io/v1alpha1", "kind": "ChaosExperiment",
              "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
              "spec": {"definition": {"scope": "Namespaced", "image": "x:1"}}}


async def test_an_object_with_finalizers_is_only_marked_until_the_last_finalizer_goes(
        kube_cluster: SimulatedCluster, kube_http: httpx.AsyncClient) -> None:
    assert (await kube_http.post(CM_PATH, json=EXPERIMENT)).status_code == 201
    r = await kube_http.delete(f"{CM_PATH}/held")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    marked = r.json()
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["finalizers"] == ["example.com/hold"]
    got = await kube_http.get(f"{CM_PATH}/held")
    assert got.status_code == 200 and got.json()["metadata"]["deletionTimestamp"]
    again = await kube_http.delete(f"{CM_PATH}/held")  # a second delete changes nothing
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == got.json()["metadata"]["resourceVersion"]
    # no new finalizer may be added to an object being deleted
    r = await kube_http.patch(f"{CM_PATH}/held", json={"metadata": {"finalizers": ["example.com/hold", "x.io/more"]}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 422 and "no new finalizers can be added" in r.json()["message"]
    r = await kube_http.patch(f"{CM_PATH}/held", json=[{"op": "remove", "path": "/metadata/finalizers"}],
                              headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 200
    assert (await kube_http.get(f"{CM_PATH}/held")).status_code == 404


async def test_a_namespace_terminates_its_content_and_waits_for_held_objects(
        kube_cluster: SimulatedCluster, kube_http: httpx.AsyncClient) -> None:
    kube_cluster.add_namespace("tmp")
    kube_cluster.add_deployment("tmp", "web", replicas=2)
    await kube_cluster.wait_ready("tmp", "web")
    exp = {**EXPERIMENT, "metadata": {**EXPERIMENT["metadata"], "namespace": "tmp"}}
    kube_cluster.create(exp)
    r = await kube_http.delete("/api/v1/namespaces/tmp")
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Terminating"
    await kube_cluster.wait_for(lambda: not kube_cluster.pods("tmp", include_terminating=True), what="pods gone")
    assert kube_cluster.get("deployments", "tmp", "web") is None
    ns = kube_cluster.get("namespaces", "", "tmp")
    assert ns is not None and ns["status"]["phase"] == "Terminating"  # held by the finalizer of `held`
    r = await kube_http.post("/api/v1/namespaces/tmp/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    assert "because it is being terminated" in r.json()["message"]
    kube_cluster.change("chaosexperiments", "tmp", "held", lambda o: o["metadata"].pop("finalizers"))
    assert kube_cluster.get("namespaces", "", "tmp") is None


async def test_deleting_a_deployment_deletes_its_replicasets_and_pods(kube_sample: SimulatedCluster,
                                                                     kube_http: httpx.AsyncClient) -> None:
    rs = kube_sample.objects("replicasets", "shop")
    assert len(rs) == 1 and rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    r = await kube_http.delete("/apis/apps/v1/namespaces/shop/deployments/checkout")
    assert r.status_code == 200 and r.json()["kind"] == "Status" and r.json()["status"] == "Success"
    await kube_sample.wait_for(lambda: not kube_sample.pods("shop", include_terminating=True), what="pods gone")
    assert kube_sample.objects("replicasets", "shop") == []


async def test_orphan_propagation_keeps_the_dependents(kube_sample: SimulatedCluster,
                                                       kube_http: httpx.AsyncClient) -> None:
    r = await kube_http.request("DELETE", "/apis/apps/v1/namespaces/shop/deployments/checkout",
                                json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200
    rs = kube_sample.objects("replicasets", "shop")
    assert len(rs) == 1 and "ownerReferences" not in rs[0]["metadata"]
    assert len(kube_sample.pods("shop")) == 5


async def test_foreground_propagation_removes_the_owner_after_its_dependents(kube_sample: SimulatedCluster,
                                                                             kube_http: httpx.AsyncClient) -> None:
    rs = kube_sample.objects("replicasets", "shop")[0]
    pod_uids = [p["metadata"]["uid"] for p in kube_sample.pods("shop")]
    r = await kube_http.request("DELETE", f"/apis/apps/v1/namespaces/shop/replicasets/{rs['metadata']['name']}",
                                json={"propagationPolicy": "Foreground"})
    assert r.status_code == 200
    marked = r.json()
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"] and marked["metadata"]["deletionTimestamp"]
    await kube_sample.wait_for(lambda: kube_sample.store.by_uid(rs["metadata"]["uid"]) is None, what="owner gone")
    assert all(kube_sample.store.by_uid(uid) is None for uid in pod_uids)
    await kube_sample.wait_ready("shop", "checkout")  # the Deployment makes a new ReplicaSet


async def test_delete_preconditions_are_checked(kube_cluster: SimulatedCluster, kube_http: httpx.AsyncClient) -> None:
    await kube_http.post(CM_PATH, json={**EXPERIMENT, "metadata": {"name": "plain"}})
    r = await kube_http.request("DELETE", f"{CM_PATH}/plain", json={"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert "Precondition failed: UID in precondition: not-the-uid" in r.json()["message"]
    r = await kube_http.delete(f"{CM_PATH}/plain")
    assert r.status_code == 200 and r.json()["kind"] == "ChaosExperiment"  # custom resources answer the object
    assert (await kube_http.get(f"{CM_PATH}/plain")).status_code == 404


async def test_delete_collection_deletes_only_what_the_selector_matches(kube_sample: SimulatedCluster,
                                                                      kube_http: httpx.AsyncClient) -> None:
    kube_sample.add_deployment("shop", "db", replicas=2)
    await kube_sample.wait_ready("shop", "db")
    db_pods = {p["metadata"]["name"] for p in kube_sample.pods("shop", "app=db")}
    r = await kube_http.delete("/api/v1/namespaces/shop/pods", params={"labelSelector": "app=db"})
    assert r.status_code == 200 and r.json()["kind"] == "PodList"
    assert {p["metadata"]["name"] for p in r.json()["items"]} == db_pods
    assert {p["metadata"]["name"] for p in kube_sample.pods("shop", "app=checkout")} and \
        not db_pods & {p["metadata"]["name"] for p in kube_sample.pods("shop", include_terminating=True)}


async def test_the_system_namespaces_cannot_be_deleted(kube_http: httpx.AsyncClient) -> None:
    for name in ("default", "kube-system", "kube-public"):
        r = await kube_http.delete(f"/api/v1/namespaces/{name}")
        assert r.status_code == 403 and r.json()["message"] == (f'namespaces "{name}" is forbidden: this namespace '
                                                                "may not be deleted")
