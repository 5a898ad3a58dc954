"""Custom resources are checked against their CRD's schema (422 with the field path) and Chaos Mesh's webhooks."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import httpx
import pytest
import yaml

from controlroom.lab.kube import SimulatedCluster
from tests.kube.fixtures import http_client

DATA = resources.files("controlroom.lab.kube") / "data"
PLURALS = {"PodChaos": "podchaos", "NetworkChaos": "networkchaos", "StressChaos": "stresschaos",
           "ChaosEngine": "chaosengines", "ChaosExperiment": "chaosexperiments"}


def examples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for project in ("chaos-mesh", "litmus"):
        for item in sorted((DATA / project / "examples").iterdir(), key=lambda p: p.name):
            for doc in yaml.safe_load_all(item.read_text(encoding="utf-8")):
                if doc:
                    out.append((item.name, doc))
    return out


def path_for(doc: dict[str, Any], namespace: str = "default") -> str:
    return f"/apis/{doc['apiVersion']}/namespaces/{namespace}/{PLURALS[doc['kind']]}"


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(next(doc for file, doc in examples() if file == name))


async def post(http: httpx.AsyncClient, doc: dict[str, Any], **params: str) -> httpx.Response:
    return await http.post(path_for(doc), json=doc, params=params)


def test_every_bundled_example_is_found() -> None:
    assert len(examples()) == 10


@pytest.mark.parametrize(("file", "doc"), examples(), ids=[f for f, _ in examples()])
async def test_the_upstream_examples_are_accepted(kube_http: httpx.AsyncClient, file: str, doc: dict[str, Any]) -> None:
    r = await post(kube_http, doc)
    assert r.status_code == 201, r.text
    assert "warning" not in r.headers, r.headers.get("warning")  # nothing pruned: the examples fit the schema


@pytest.mark.parametrize(("file", "edit", "field", "reason", "message"), [
    ("pod-kill-example.yaml", lambda d: d["spec"].update(mode="half"), "spec.mode", "FieldValueNotSupported",
     'Unsupported value: "half": supported values: "one", "all", "fixed", "fixed-percent", "random-max-percent"'),
    ("pod-kill-example.yaml", lambda d: d["spec"].pop("selector"), "spec.selector", "FieldValueRequired",
     "Required value"),
    ("pod-failure-example.yaml", lambda d: d["spec"].update(duration=30), "spec.duration", "FieldValueTypeInvalid",
     'Invalid value: "integer": spec.duration in body must be of type string: "integer"'),
    ("network-delay-example.yaml", lambda d: d["spec"]["delay"].update(latency=90), "spec.delay.latency",
     "FieldValueTypeInvalid", 'Invalid value: "integer": spec.delay.latency in body must be of type string: "integer"'),
    ("burn-cpu.yaml", lambda d: d["spec"]["stressors"]["cpu"].update(workers="one"), "spec.stressors.cpu.workers",
     "FieldValueTypeInvalid", 'Invalid value: "string": spec.stressors.cpu.workers in body must be of type integer: '
     '"string"'),
    ("pod-delete-engine.yaml", lambda d: d["spec"].update(engineState="go"), "spec.engineState", "FieldValueInvalid",
     "Invalid value: \"go\": spec.engineState in body should match '^(active|stop)$'"),
])
async def test_a_broken_example_is_refused_with_the_located_cause(kube_http: httpx.AsyncClient, file: str, edit: Any,
                                                                  field: str, reason: str, message: str) -> None:
    doc = example(file)
    edit(doc)
    r = await post(kube_http, doc)
    assert r.status_code == 422 and r.headers["content-type"] == "application/json", r.text
    body = r.json()
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"] == [{"reason": reason, "message": message, "field": field}]
    assert body["message"] == f'{doc["kind"]}.{doc["apiVersion"].split("/")[0]} "{doc["metadata"]["name"]}" is ' \
                              f"invalid: {field}: {message}"
    assert (await kube_http.get(f"{path_for(doc)}/{doc['metadata']['name']}")).status_code == 404


async def test_several_problems_are_reported_together(kube_http: httpx.AsyncClient) -> None:
    doc = example("pod-kill-example.yaml")
    doc["spec"].update(mode="half", action="explode")
    body = (await post(kube_http, doc)).json()
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.action", "spec.mode"]
    assert ": [spec.action: Unsupported value" in body["message"]


async def test_unknown_fields_are_pruned_with_a_warning_or_refused_when_strict(kube_http: httpx.AsyncClient) -> None:
    doc = example("pod-failure-example.yaml")
    doc["spec"]["bogus"] = 1
    strict = await post(kube_http, doc, fieldValidation="Strict")
    assert strict.status_code == 400 and strict.json()["reason"] == "BadRequest"
    assert strict.json()["message"] == ('PodChaos in version "v1alpha1" cannot be handled as a PodChaos: strict '
                                        'decoding error: unknown field "spec.bogus"')
    r = await post(kube_http, doc)
    assert r.status_code == 201 and r.headers["warning"] == '299 - "unknown field \\"spec.bogus\\""'
    assert "bogus" not in r.json()["spec"]


async def test_chaos_mesh_webhooks_default_the_namespace_and_check_what_the_schema_cannot(
        kube_http: httpx.AsyncClient) -> None:
    doc = example("pod-kill-example.yaml")
    created = (await post(kube_http, doc)).json()
    assert created["spec"]["selector"]["namespaces"] == ["default"]
    for spec, message in (({"mode": "fixed", "value": "abc"},
                           'spec.value: Invalid value: "abc": parse value field error:strconv.Atoi: parsing "abc": '
                           "invalid syntax"),
                          ({"mode": "fixed-percent", "value": "150"},
                           'spec.value: Invalid value: "150": value of 150 is invalid, Must be (0,100] with '
                           "mode:fixed-percent"),
                          ({"duration": "10 minutes"},
                           'spec.duration: Invalid value: "10 minutes": parse duration field error: time: unknown '
                           'unit " minutes" in duration "10 minutes"')):
        bad = example("pod-failure-example.yaml")
        bad["metadata"]["name"] = "bad"
        bad["spec"].update(spec)
        r = await post(kube_http, bad)
        assert r.status_code == 403 and r.json()["reason"] == "Forbidden", r.text
        assert r.json()["message"] == f'admission webhook "vpodchaos.kb.io" denied the request: {message}'
    r = await kube_http.patch(f"{path_for(doc)}/{doc['metadata']['name']}", json={"spec": {"mode": "all"}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 403
    assert r.json()["message"] == 'admission webhook "vpodchaos.kb.io" denied the request: Cannot update chaos spec'


async def test_without_the_chaos_mesh_controller_there_is_no_webhook(kube_factory: Any) -> None:
    cluster: SimulatedCluster = await kube_factory(chaos_mesh_controller=False)
    assert cluster.get("deployments", "chaos-mesh", "chaos-controller-manager") is None
    async with http_client(cluster) as http:
        doc = example("pod-failure-example.yaml")
        doc["spec"].update(mode="fixed", value="abc")  # only the webhook refuses this; the schema lets it through
        r = await post(http, doc)
        assert r.status_code == 201
        assert r.json()["spec"]["selector"] == {"labelSelectors": {"app.kubernetes.io/component": "tikv"}}


async def test_a_crd_created_through_the_api_is_served_validated_and_removed_with_its_objects(
        kube_http: httpx.AsyncClient) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
                            "size": {"type": "integer", "minimum": 1, "default": 3},
                            "colour": {"type": "string", "enum": ["red", "blue"]}}}}}}}]}}
    r = await kube_http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert r.status_code == 201, r.text
    path = "/apis/example.com/v1/namespaces/default/widgets"
    ok = await kube_http.post(path, json={"apiVersion": "example.com/v1", "kind": "Widget",
                                          "metadata": {"name": "w"}, "spec": {"colour": "red"}})
    assert ok.status_code == 201 and ok.json()["spec"]["size"] == 3  # the schema's default was applied
    bad = await kube_http.post(path, json={"apiVersion": "example.com/v1", "kind": "Widget",
                                           "metadata": {"name": "w2"}, "spec": {"size": 0}})
    assert bad.status_code == 422
    assert bad.json()["details"]["causes"][0] == {
        "reason": "FieldValueInvalid", "field": "spec.size",
        "message": "Invalid value: 0: spec.size in body should be greater than or equal to 1"}
    misnamed = dict(crd, metadata={"name": "gadgets.example.com"})
    r = await kube_http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=misnamed)
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"
    r = await kube_http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert r.status_code == 200
    gone = await kube_http.get(f"{path}/w")
    assert gone.status_code == 404


async def test_null_in_a_field_that_is_not_nullable_is_dropped_not_refused(kube_http: httpx.AsyncClient) -> None:
    doc = example("pod-failure-example.yaml")
    doc["spec"]["duration"] = None  # what a client serialising an unset optional field sends
    r = await post(kube_http, doc)
    assert r.status_code == 201, r.text
    assert "duration" not in r.json()["spec"]
