"""kr8s (the product's Kubernetes client) against the stand-in, through a real kubeconfig file."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlroom.lab.kube import MARK, SimulatedCluster

GROUP_VERSION = "chaos-mesh.org/v1alpha1"


def podchaos(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": GROUP_VERSION, "kind": "PodChaos", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"action": "pod-failure", "mode": "fixed", "value": "1", "duration": "1h",
                     "selector": {"labelSelectors": {"app": "checkout"}}, **spec}}


async def chaos_class(api: Any, kind: str) -> Any:
    """A kr8s class for a Chaos Mesh kind, plural from discovery: kr8s' own guess (kind + "s") is wrong for these."""
    from kr8s.asyncio.objects import new_class

    _, plural, namespaced = await api.lookup_kind(f"{kind}.chaos-mesh.org")
    return new_class(kind, GROUP_VERSION, namespaced=namespaced, plural=plural)


def test_the_kubeconfig_is_a_real_one_marked_simulated(kube_cluster: SimulatedCluster, kubeconfig: Path) -> None:
    text = kubeconfig.read_text()
    assert text.splitlines()[0] == MARK and "SIMULATED" in MARK
    doc = yaml.safe_load(text)
    assert doc["current-context"] == "controlroom-sim"
    assert doc["clusters"][0]["cluster"]["server"] == kube_cluster.url and kube_cluster.url.startswith("https://")
    assert kube_cluster.tls is not None
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]) == kube_cluster.tls.ca_pem
    assert doc["users"][0]["user"]["token"] == kube_cluster.token
    assert kubeconfig.stat().st_mode & 0o777 == 0o600  # it holds a bearer token


async def test_kr8s_lists_pods_by_label_selector(kube_sample: SimulatedCluster, kr8s_api: Any) -> None:
    version = await kr8s_api.version()
    assert version["gitVersion"].endswith("-controlroom-sim")
    pods = [p async for p in kr8s_api.get("pods", namespace="shop", label_selector="app=checkout")]
    assert sorted(p.name for p in pods) == sorted(p["metadata"]["name"] for p in kube_sample.pods("shop"))
    assert all([await p.ready() for p in pods])
    assert [p async for p in kr8s_api.get("pods", namespace="shop", label_selector={"app": "nothing"})] == []
    from kr8s.asyncio.objects import Deployment

    dep = await Deployment.get("checkout", namespace="shop", api=kr8s_api)
    assert await dep.ready()


async def test_kr8s_creates_watches_and_deletes_chaos_objects(kube_sample: SimulatedCluster, kr8s_api: Any) -> None:
    from kr8s._exceptions import NotFoundError
    from kr8s.asyncio.objects import object_from_spec

    PodChaos = await chaos_class(kr8s_api, "PodChaos")
    pc = PodChaos(podchaos("via-new-class"), api=kr8s_api)
    await pc.create()
    assert pc.raw["metadata"]["uid"] and pc.spec.selector.namespaces == ["shop"]  # the webhook's default
    await pc.wait("condition=AllInjected", timeout=5)
    assert pc.status.experiment.desiredPhase == "Run"
    assert "chaos-mesh/records" in pc.metadata.finalizers

    other = object_from_spec(podchaos("via-spec", action="pod-kill", duration=None), api=kr8s_api,
                             allow_unknown_type=True)
    assert other.endpoint == "podchaos"
    await other.create()
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(5):
        async for kind, obj in kr8s_api.watch("podchaos.chaos-mesh.org", namespace="shop"):
            seen.append((kind, obj.name))
            if len(seen) == 2:
                await pc.annotate({"experiment.chaos-mesh.org/pause": "true"})  # a change the watch must carry
            if ("MODIFIED", "via-new-class") in seen:
                break
    assert seen[:2] == [("ADDED", "via-new-class"), ("ADDED", "via-spec")]
    await pc.wait("condition=Paused", timeout=5)

    await pc.delete()
    await pc.wait("delete", timeout=5)  # the finalizer went once every record was recovered
    with pytest.raises(NotFoundError):
        await pc.refresh()
    await other.delete()
    await kube_sample.wait_gone("podchaos", "shop", "via-spec", "chaos-mesh.org")


async def test_an_invalid_custom_resource_surfaces_as_a_server_error_with_the_message(
        kube_sample: SimulatedCluster, kr8s_api: Any) -> None:
    from kr8s._exceptions import ServerError

    bad = (await chaos_class(kr8s_api, "PodChaos"))(podchaos("bad", mode="half"), api=kr8s_api)
    with pytest.raises(ServerError) as err:
        await bad.create()
    assert err.value.response is not None and err.value.response.status_code == 422
    assert str(err.value) == ('PodChaos.chaos-mesh.org "bad" is invalid: spec.mode: Unsupported value: "half": '
                              'supported values: "one", "all", "fixed", "fixed-percent", "random-max-percent"')
    assert isinstance(err.value.status, dict)
    assert err.value.status["details"]["causes"][0]["field"] == "spec.mode"


async def test_kr8s_access_review_and_forbidden(kube_sample: SimulatedCluster, kr8s_api: Any) -> None:
    from kr8s._exceptions import ServerError
    from kr8s.asyncio.objects import Pod

    kube_sample.rbac.deny("delete", "pods", namespaces="shop")
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": "shop", "verb": "delete", "resource": "pods"}}}
    async with kr8s_api.call_api("POST", version="authorization.k8s.io/v1", url="selfsubjectaccessreviews",
                                 content=json.dumps(review)) as r:
        assert r.json()["status"]["allowed"] is False
    pod = await Pod.get(kube_sample.pods("shop")[0]["metadata"]["name"], namespace="shop", api=kr8s_api)
    with pytest.raises(ServerError) as err:
        await pod.delete()
    assert err.value.response is not None and err.value.response.status_code == 403


async def test_a_wrong_token_is_refused(kube_cluster: SimulatedCluster, tmp_path: Path) -> None:
    import kr8s.asyncio
    from kr8s._exceptions import ServerError

    path = tmp_path / "wrong"
    path.write_text(kube_cluster.write_kubeconfig(tmp_path / "right").read_text().replace(kube_cluster.token, "nope"))
    with pytest.raises(ServerError) as err:
        await kr8s.asyncio.api(kubeconfig=str(path))
    assert err.value.response is not None and err.value.response.status_code == 401
