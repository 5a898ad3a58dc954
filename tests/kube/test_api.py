"""The API's answers: discovery, Status bodies with the exact content type, conflicts, names, namespaces, auth."""

from __future__ import annotations

import httpx
import pytest

from controlroom.lab.kube import SimulatedCluster
from tests.kube.fixtures import http_client

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
       "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
PODCHAOS = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "metadata": {"name": "pc"},
            "spec": {"action": "pod-failure", "mode": "one", "duration": "1h",
                     "selector": {"labelSelectors": {"app": "none"}}}}


def assert_status(r: httpx.Response, code: int, reason: str) -> dict:
    assert r.status_code == code, r.text
    assert r.headers["content-type"] == "application/json"  # exactly: clients parse a Status only then
    body = r.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    return body


async def test_discovery_lists_core_apps_authorization_apiextensions_and_every_crd(kube_http: httpx.AsyncClient) -> None:
    version = (await kube_http.get("/version/")).json()  # kr8s asks with the trailing slash
    assert version["gitVersion"].startswith("v1.31.") and version["major"] == "1"
    assert (await kube_http.get("/api")).json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in (await kube_http.get("/apis")).json()["groups"]}
    assert {"apps", "authorization.k8s.io", "apiextensions.k8s.io", "chaos-mesh.org", "litmuschaos.io"} <= set(groups)
    assert groups["chaos-mesh.org"]["preferredVersion"]["groupVersion"] == "chaos-mesh.org/v1alpha1"
    core = {r["name"]: r for r in (await kube_http.get("/api/v1")).json()["resources"]}
    assert core["pods"]["kind"] == "Pod" and core["pods"]["namespaced"] and core["pods"]["singularName"] == "pod"
    assert "watch" in core["pods"]["verbs"] and "pods/status" in core and not core["namespaces"]["namespaced"]
    apps = {r["name"] for r in (await kube_http.get("/apis/apps/v1")).json()["resources"]}
    assert {"deployments", "replicasets"} <= apps
    authz = (await kube_http.get("/apis/authorization.k8s.io/v1")).json()["resources"]
    assert authz == [{"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
                      "namespaced": False, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}]
    chaos = {r["kind"] for r in (await kube_http.get("/apis/chaos-mesh.org/v1alpha1")).json()["resources"]}
    assert chaos == {"PodChaos", "NetworkChaos", "StressChaos", "IOChaos", "HTTPChaos", "DNSChaos", "TimeChaos"}
    litmus = {r["kind"] for r in (await kube_http.get("/apis/litmuschaos.io/v1alpha1")).json()["resources"]}
    assert litmus == {"ChaosEngine", "ChaosExperiment", "ChaosResult"}
    crd = (await kube_http.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/podchaos.chaos-mesh.org")).json()
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True"


async def test_unknown_paths_answer_like_the_real_server(kube_http: httpx.AsyncClient) -> None:
    r = await kube_http.get("/apis/nope.example.com/v1/things")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")  # outside every group
    body = assert_status(await kube_http.get("/api/v1/namespaces/default/widgets"), 404, "NotFound")
    assert body["message"] == "the server could not find the requested resource"
    # kr8s' new_class guesses the plural by adding "s": the real server refuses it, so must the stand-in
    assert_status(await kube_http.get("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaoss"), 404, "NotFound")
    # namespaces have no deletecollection verb in the real API either
    assert_status(await kube_http.delete("/api/v1/namespaces"), 405, "MethodNotAllowed")


async def test_not_found_already_exists_and_conflict_are_status_bodies(kube_cluster: SimulatedCluster,
                                                                      kube_http: httpx.AsyncClient) -> None:
    body = assert_status(await kube_http.get("/api/v1/namespaces/default/pods/ghost"), 404, "NotFound")
    assert body["message"] == 'pods "ghost" not found' and body["details"] == {"name": "ghost", "kind": "pods"}
    r = await kube_http.post("/api/v1/namespaces/default/pods", json=POD)
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    created = r.json()
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and int(meta["resourceVersion"]) > 0
    body = assert_status(await kube_http.post("/api/v1/namespaces/default/pods", json=POD), 409, "AlreadyExists")
    assert body["message"] == 'pods "p1" already exists'
    # (pods are written by the kubelet meanwhile; a namespace is left alone, so its resourceVersion holds still)
    ns = (await kube_http.post("/api/v1/namespaces", json={"metadata": {"name": "conf"}})).json()
    stale = dict(ns, metadata=dict(ns["metadata"], labels={"x": "1"}))
    r = await kube_http.put("/api/v1/namespaces/conf", json=stale)
    assert r.status_code == 200 and r.json()["metadata"]["resourceVersion"] != ns["metadata"]["resourceVersion"]
    body = assert_status(await kube_http.put("/api/v1/namespaces/conf", json=stale), 409, "Conflict")
    assert body["message"] == ('Operation cannot be fulfilled on namespaces "conf": the object has been modified; '
                               'please apply your changes to the latest version and try again')
    r = await kube_http.post("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaos", json=PODCHAOS)
    assert r.status_code == 201
    body = assert_status(await kube_http.get("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaos/other"),
                         404, "NotFound")
    assert body["message"] == 'podchaos.chaos-mesh.org "other" not found'
    assert body["details"] == {"name": "other", "group": "chaos-mesh.org", "kind": "podchaos"}


async def test_names_generate_name_and_namespaces_are_checked(kube_http: httpx.AsyncClient) -> None:
    r = await kube_http.post("/api/v1/namespaces/default/pods",
                             json={**POD, "metadata": {"generateName": "worker-"}})
    assert r.status_code == 201
    name = r.json()["metadata"]["name"]
    assert name.startswith("worker-") and len(name) == len("worker-") + 5
    body = assert_status(await kube_http.post("/api/v1/namespaces/default/pods",
                                              json={**POD, "metadata": {}}), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert "name or generateName is required" in body["message"]
    body = assert_status(await kube_http.post("/api/v1/namespaces/default/pods",
                                              json={**POD, "metadata": {"name": "Bad_Name"}}), 422, "Invalid")
    assert body["message"].startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')
    body = assert_status(await kube_http.post("/api/v1/namespaces/nowhere/pods", json=POD), 404, "NotFound")
    assert body["message"] == 'namespaces "nowhere" not found'
    r = await kube_http.post("/api/v1/namespaces/default/pods", json={**POD, "metadata": {"name": "p2",
                                                                                          "namespace": "kube-system"}})
    assert_status(r, 400, "BadRequest")
    assert (await kube_http.get("/api/v1/namespaces/kube-system")).json()["status"]["phase"] == "Active"
    body = assert_status(await kube_http.post("/api/v1/namespaces/default/pods",
                                              json={**POD, "metadata": {"name": "p3"}, "spec": {}}), 422, "Invalid")
    assert body["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                          "field": "spec.containers"}]
    r = await kube_http.post("/api/v1/namespaces/default/pods", content=b"{not json",
                             headers={"content-type": "application/json"})
    assert_status(r, 400, "BadRequest")
    r = await kube_http.post("/api/v1/namespaces/default/pods", content=b"x", headers={"content-type": "text/csv"})
    assert_status(r, 415, "UnsupportedMediaType")


async def test_custom_resources_need_a_resource_version_to_be_replaced(kube_http: httpx.AsyncClient) -> None:
    created = (await kube_http.post("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaos", json=PODCHAOS)).json()
    blind = {k: v for k, v in created.items() if k != "metadata"} | {"metadata": {"name": "pc"}}
    body = assert_status(await kube_http.put("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaos/pc",
                                             json=blind), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.resourceVersion"


async def test_requests_without_the_bearer_token_are_unauthorized(kube_cluster: SimulatedCluster) -> None:
    async with http_client(kube_cluster, token="") as anonymous:
        assert_status(await anonymous.get("/api/v1/namespaces/default/pods"), 401, "Unauthorized")
        assert_status(await anonymous.get("/version"), 401, "Unauthorized")
        r = await anonymous.get("/api/v1/pods", headers={"Authorization": "Bearer wrong"})
        assert_status(r, 401, "Unauthorized")


async def test_dry_run_validates_without_storing(kube_http: httpx.AsyncClient) -> None:
    r = await kube_http.post("/api/v1/namespaces/default/pods", params={"dryRun": "All"}, json=POD)
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "p1"
    assert (await kube_http.get("/api/v1/namespaces/default/pods/p1")).status_code == 404
    r = await kube_http.post("/apis/chaos-mesh.org/v1alpha1/namespaces/default/podchaos", params={"dryRun": "All"},
                             json={**PODCHAOS, "spec": {**PODCHAOS["spec"], "mode": "half"}})
    assert_status(r, 422, "Invalid")


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_list_pages_with_limit_and_continue_cover_every_item_once(kube_cluster: SimulatedCluster,
                                                                       kube_http: httpx.AsyncClient, limit: int) -> None:
    for ns in ("a", "a-b", "b"):
        kube_cluster.add_namespace(ns)
        for i in range(2):
            kube_cluster.create({**POD, "metadata": {"name": f"p{i}", "namespace": ns, "labels": {"test": "paging"}}})
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": limit}
    for _ in range(20):
        body = (await kube_http.get("/api/v1/pods", params={**params, "labelSelector": "test=paging"})).json()
        seen += [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in body["items"]]
        assert all("kind" not in p for p in body["items"])  # built-in list items carry no kind, like the real JSON
        token = body["metadata"].get("continue")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] > 0
        params = {"limit": limit, "continue": token}
    # etcd's key order: "a-b/p0" < "a/p0" byte by byte, and pages follow it
    assert seen == ["a-b/p0", "a-b/p1", "a/p0", "a/p1", "b/p0", "b/p1"]


async def test_openapi_v3_tells_kubectl_every_resource_validates_on_the_server(kube_http: httpx.AsyncClient) -> None:
    index = (await kube_http.get("/openapi/v3")).json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/chaos-mesh.org/v1alpha1"} <= set(index)
    doc = (await kube_http.get(index["apis/chaos-mesh.org/v1alpha1"]["serverRelativeURL"])).json()
    patch = doc["paths"]["/apis/chaos-mesh.org/v1alpha1/namespaces/{namespace}/podchaos/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "chaos-mesh.org", "version": "v1alpha1",
                                                        "kind": "PodChaos"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()


@pytest.mark.parametrize("meta", [{"name": "p1\n"}, {"name": "p1", "labels": {"app": "checkout\n"}},
                                  {"name": "p1", "labels": {"app\n": "checkout"}},
                                  {"name": "p1", "annotations": {"example.com\n/x": "1"}}])
async def test_a_trailing_newline_is_not_a_valid_name_or_label(kube_http: httpx.AsyncClient, meta: dict) -> None:
    r = await kube_http.post("/api/v1/namespaces/default/pods", json={**POD, "metadata": meta})
    assert_status(r, 422, "Invalid")
