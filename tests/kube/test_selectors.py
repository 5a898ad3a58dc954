"""Label and field selectors: every operator selects what Kubernetes selects, and what it refuses is a 400."""

from __future__ import annotations

import httpx
import pytest

from controlroom.lab.kube import SimulatedCluster
from controlroom.lab.kube.selectors import parse_field_selector, parse_label_selector, selector_from_dict
from controlroom.lab.kube.status import ApiError

LABELS = {
    "a": {"app": "checkout", "tier": "web", "rev": "3"},
    "b": {"app": "checkout", "tier": "db", "rev": "10"},
    "c": {"app": "payments", "tier": "web"},
    "d": {"app": "payments"},
    "e": {},
}


def names(selector: str) -> list[str]:
    sel = parse_label_selector(selector)
    return sorted(n for n, labels in LABELS.items() if sel.matches(labels))


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=checkout", ["a", "b"]),
    ("app==checkout", ["a", "b"]),
    ("app!=checkout", ["c", "d", "e"]),  # != also matches objects without the key
    ("tier in (web, db)", ["a", "b", "c"]),
    ("tier notin (web)", ["b", "d", "e"]),  # notin also matches objects without the key
    ("tier", ["a", "b", "c"]),
    ("!tier", ["d", "e"]),
    ("app=checkout,tier=web", ["a"]),
    ("app in (checkout),!rev", []),
    ("rev>5", ["b"]),
    ("rev<5", ["a"]),
    ("", ["a", "b", "c", "d", "e"]),
])
def test_label_selector_operators_select_like_kubernetes(selector: str, expected: list[str]) -> None:
    assert names(selector) == expected


@pytest.mark.parametrize("bad", ["app in (a", "app=a,", "=a", "app = (a)", "Bad Key!=x", "app=bad value!", "app notin ()",
                                 "rev>x", "app==", "app in a"])
def test_a_selector_kubernetes_refuses_is_a_bad_request_not_an_empty_match(bad: str) -> None:
    if bad == "app==":  # `k==` (empty value) is valid in Kubernetes and selects the empty value
        assert parse_label_selector(bad).requirements[0].values == ("",)
        return
    with pytest.raises(ApiError) as err:
        parse_label_selector(bad)
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    assert "unable to parse requirement" in err.value.message


def test_match_expressions_of_a_label_selector_object() -> None:
    sel = selector_from_dict({"matchLabels": {"app": "checkout"},
                              "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]},
                                                   {"key": "rev", "operator": "Exists"}]})
    assert sorted(n for n, labels in LABELS.items() if sel.matches(labels)) == ["a"]
    with pytest.raises(ValueError):
        selector_from_dict({"matchExpressions": [{"key": "x", "operator": "Within"}]})


def test_field_selector_parses_equality_and_refuses_other_operators_and_unknown_fields() -> None:
    fields = frozenset({"metadata.name", "status.phase"})
    sel = parse_field_selector("status.phase=Running,metadata.name!=x", fields, "pods", custom=False)
    assert sel.matches(lambda f: {"status.phase": "Running", "metadata.name": "y"}[f])
    assert not sel.matches(lambda f: {"status.phase": "Running", "metadata.name": "x"}[f])
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.foo=1", fields, "pods", custom=False)
    assert err.value.code == 400 and err.value.message == "field label not supported: spec.foo"
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.mode=one", frozenset({"metadata.name", "metadata.namespace"}), "podchaos",
                             custom=True)
    assert err.value.message == ('"spec.mode" is not a known field selector: only "metadata.name", '
                                 '"metadata.namespace"')
    with pytest.raises(ApiError):
        parse_field_selector("status.phase in (Running)", fields, "pods", custom=False)


async def _pods(http: httpx.AsyncClient, **params: str) -> list[str]:
    r = await http.get("/api/v1/namespaces/sel/pods", params=params)
    assert r.status_code == 200, r.text
    return sorted(p["metadata"]["name"] for p in r.json()["items"])


async def test_list_filters_by_label_and_field_selectors_over_http(kube_cluster: SimulatedCluster,
                                                                  kube_http: httpx.AsyncClient) -> None:
    kube_cluster.add_namespace("sel")
    for name, labels in LABELS.items():
        kube_cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "sel",
                                                                           "labels": labels},
                             "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    await kube_cluster.wait_for(lambda: len(kube_cluster.ready_pods("sel")) == 5, what="5 ready pods")
    assert await _pods(kube_http, labelSelector="tier notin (web)") == ["b", "d", "e"]
    assert await _pods(kube_http, labelSelector="app=payments,tier") == ["c"]
    assert await _pods(kube_http, fieldSelector="metadata.name=c") == ["c"]
    assert await _pods(kube_http, fieldSelector="status.phase=Running,metadata.name!=a") == ["b", "c", "d", "e"]
    assert await _pods(kube_http, fieldSelector="status.phase=Pending") == []
    r = await kube_http.get("/api/v1/namespaces/sel/pods", params={"fieldSelector": "spec.containers=x"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["message"] == "field label not supported: spec.containers"
    r = await kube_http.get("/api/v1/namespaces/sel/pods", params={"labelSelector": "app in (a"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    r = await kube_http.get("/apis/chaos-mesh.org/v1alpha1/podchaos", params={"fieldSelector": "spec.mode=one"})
    assert r.status_code == 400 and "is not a known field selector" in r.json()["message"]
