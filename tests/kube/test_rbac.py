"""RBAC: SelfSubjectAccessReview answers from the table, and a denied request is a 403 with the real wording."""

from __future__ import annotations

import httpx

from controlroom.lab.kube import SimulatedCluster

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def review(verb: str, resource: str, namespace: str = "", group: str = "") -> dict:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": namespace, "verb": verb, "group": group,
                                            "resource": resource}}}


async def allowed(http: httpx.AsyncClient, *args: str) -> bool:
    r = await http.post(SSAR, json=review(*args))
    assert r.status_code == 201 and r.json()["kind"] == "SelfSubjectAccessReview"
    return r.json()["status"]["allowed"]


async def test_access_reviews_follow_the_table(kube_cluster: SimulatedCluster, kube_http: httpx.AsyncClient) -> None:
    assert await allowed(kube_http, "delete", "pods", "shop")
    kube_cluster.rbac.deny("delete", "pods", namespaces="shop")
    kube_cluster.rbac.deny(("create", "delete"), "podchaos", groups="chaos-mesh.org")
    assert not await allowed(kube_http, "delete", "pods", "shop")
    assert await allowed(kube_http, "delete", "pods", "other")
    assert await allowed(kube_http, "list", "pods", "shop")
    assert not await allowed(kube_http, "create", "podchaos", "shop", "chaos-mesh.org")
    assert await allowed(kube_http, "create", "networkchaos", "shop", "chaos-mesh.org")
    r = await kube_http.post(SSAR, json=review("get", "pods", "shop"))
    assert r.json()["status"]["reason"].startswith("RBAC: allowed by")
    r = await kube_http.post(SSAR, json=review("delete", "pods", "shop"))
    assert r.json()["status"] == {"allowed": False}  # RBAC never explains a denial


async def test_an_allow_list_denies_everything_else(kube_cluster: SimulatedCluster,
                                                   kube_http: httpx.AsyncClient) -> None:
    kube_cluster.rbac.default_allow = False
    kube_cluster.rbac.allow(("get", "list", "watch"), ("pods", "deployments"))
    kube_cluster.rbac.allow("create", "selfsubjectaccessreviews")
    assert await allowed(kube_http, "watch", "deployments", "shop", "apps")
    assert not await allowed(kube_http, "delete", "pods", "shop")


async def test_a_denied_request_is_forbidden_with_the_real_message(kube_cluster: SimulatedCluster,
                                                                   kube_http: httpx.AsyncClient) -> None:
    kube_cluster.rbac.deny("delete", "pods", namespaces="default")
    kube_cluster.rbac.deny("list", "namespaces")
    r = await kube_http.delete("/api/v1/namespaces/default/pods/anything")
    assert r.status_code == 403 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == ('pods "anything" is forbidden: User "controlroom-sim-user" cannot delete resource '
                               '"pods" in API group "" in the namespace "default"')
    r = await kube_http.get("/api/v1/namespaces")
    assert r.json()["message"] == ('namespaces is forbidden: User "controlroom-sim-user" cannot list resource '
                                   '"namespaces" in API group "" at the cluster scope')


async def test_a_review_needs_exactly_one_kind_of_attributes(kube_http: httpx.AsyncClient) -> None:
    r = await kube_http.post(SSAR, json={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                         "spec": {}})
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    assert "exactly one of nonResourceAttributes or resourceAttributes" in r.json()["message"]
    r = await kube_http.get(SSAR)
    assert r.status_code == 405
