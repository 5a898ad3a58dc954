"""The Litmus stand-in: a pod-delete ChaosEngine runs, completes or is stopped, with its ChaosResult."""

from __future__ import annotations

import asyncio
import copy
from importlib import resources
from typing import Any

import httpx
import yaml

from controlroom.lab.kube import SimulatedCluster

GROUP = "litmuschaos.io"
EXAMPLES = resources.files("controlroom.lab.kube") / "data" / "litmus" / "examples"


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in yaml.safe_load_all((EXAMPLES / name).read_text(encoding="utf-8")) if d))


def engine(name: str = "checkout-chaos", **env: str) -> dict[str, Any]:
    doc = load("engine-chaos-interval.yaml")  # upstream: appinfo app=nginx in default, CHAOS_INTERVAL, DURATION
    doc["metadata"] = {"name": name, "namespace": "shop"}
    doc["spec"]["appinfo"] = {"appns": "shop", "applabel": "app=checkout", "appkind": "deployment"}
    settings = {"TOTAL_CHAOS_DURATION": "2", "CHAOS_INTERVAL": "1", "PODS_AFFECTED_PERC": "40", "FORCE": "true", **env}
    doc["spec"]["experiments"][0]["spec"]["components"]["env"] = [{"name": k, "value": v} for k, v in settings.items()]
    return doc


async def ready_for_litmus(cluster: SimulatedCluster) -> None:
    experiment = load("pod-delete-experiment.yaml")
    experiment["metadata"]["namespace"] = "shop"
    cluster.create(experiment)


def status(cluster: SimulatedCluster, name: str = "checkout-chaos") -> dict[str, Any]:
    return (cluster.get("chaosengines", "shop", name, GROUP) or {}).get("status") or {}


def deleted_pods(cluster: SimulatedCluster, before: set[str]) -> set[str]:
    return before - {p["metadata"]["name"] for p in cluster.pods("shop", include_terminating=True)}


async def test_pod_delete_runs_for_its_duration_and_completes_with_a_result(kube_sample: SimulatedCluster) -> None:
    await ready_for_litmus(kube_sample)
    before = {p["metadata"]["name"] for p in kube_sample.pods("shop")}
    kube_sample.create(engine())  # 2 s at the tests' litmus_scale 0.1: kills at 0 and 0.1 s
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "initialized", what="initialized")
    eng = kube_sample.get("chaosengines", "shop", "checkout-chaos", GROUP) or {}
    assert eng["metadata"]["finalizers"] == ["chaosengine.litmuschaos.io/finalizer"]
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "completed", what="completed")
    eng = kube_sample.get("chaosengines", "shop", "checkout-chaos", GROUP) or {}
    assert eng["spec"]["engineState"] == "stop" and "finalizers" not in eng["metadata"]
    (exp,) = eng["status"]["experiments"]
    assert exp["name"] == "pod-delete" and exp["status"] == "Completed" and exp["verdict"] == "Pass"
    assert exp["runner"] == "checkout-chaos-runner" and exp["experimentPod"].startswith("pod-delete-")
    result = kube_sample.get("chaosresults", "shop", "checkout-chaos-pod-delete", GROUP) or {}
    targets = {t["name"] for t in result["status"]["history"]["targets"]}
    assert len(targets) == 4  # two rounds of max(1, round(40 % of 5)) = 2 pods; round two may hit a replacement
    assert 2 <= len(deleted_pods(kube_sample, before)) and deleted_pods(kube_sample, before) <= targets
    assert not targets & {p["metadata"]["name"] for p in kube_sample.pods("shop", include_terminating=True)}
    assert result["spec"] == {"engine": "checkout-chaos", "experiment": "pod-delete"}
    assert result["status"]["experimentStatus"]["phase"] == "Completed"
    assert result["status"]["experimentStatus"]["verdict"] == "Pass"
    assert result["status"]["history"]["passedRuns"] == 1
    assert result["metadata"]["labels"]["chaosUID"] == eng["metadata"]["uid"]
    await kube_sample.wait_ready("shop", "checkout")
    reasons = {e["reason"] for e in kube_sample.objects("events", "shop")}
    assert {"ChaosEngineInitialized", "ChaosEngineCompleted"} <= reasons


async def test_engine_state_stop_aborts_the_run(kube_sample: SimulatedCluster, kube_http: httpx.AsyncClient) -> None:
    await ready_for_litmus(kube_sample)
    before = {p["metadata"]["name"] for p in kube_sample.pods("shop")}
    kube_sample.create(engine(TOTAL_CHAOS_DURATION="60", CHAOS_INTERVAL="30"))  # 6 s, a round each 3 s
    await kube_sample.wait_for(lambda: len(deleted_pods(kube_sample, before)) == 2, what="the first round")
    r = await kube_http.patch(f"/apis/{GROUP}/v1alpha1/namespaces/shop/chaosengines/checkout-chaos",
                              json={"spec": {"engineState": "stop"}},
                              headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "stopped", what="stopped")
    eng = kube_sample.get("chaosengines", "shop", "checkout-chaos", GROUP) or {}
    (exp,) = eng["status"]["experiments"]
    assert exp["status"] == "Forcefully Aborted" and exp["verdict"] == "Stopped"
    assert "finalizers" not in eng["metadata"]
    result = kube_sample.get("chaosresults", "shop", "checkout-chaos-pod-delete", GROUP) or {}
    assert result["status"]["experimentStatus"]["phase"] == "Stopped"
    assert result["status"]["history"]["stoppedRuns"] == 1
    await kube_sample.wait_ready("shop", "checkout")
    await asyncio.sleep(0.5)
    assert len(deleted_pods(kube_sample, before)) == 2  # nothing more was deleted after the stop


async def test_a_completed_engine_set_active_again_runs_again(kube_sample: SimulatedCluster) -> None:
    await ready_for_litmus(kube_sample)
    kube_sample.create(engine(TOTAL_CHAOS_DURATION="1"))
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "completed", what="completed")
    kube_sample.change("chaosengines", "shop", "checkout-chaos", lambda e: e["spec"].update(engineState="active"),
                       GROUP)
    await kube_sample.wait_for(lambda: (kube_sample.get("chaosresults", "shop", "checkout-chaos-pod-delete", GROUP)
                                        or {}).get("status", {}).get("history", {}).get("passedRuns") == 2,
                               what="a second run")
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "completed", what="completed again")


async def test_a_missing_experiment_is_reported_not_found(kube_sample: SimulatedCluster) -> None:
    kube_sample.create(engine())
    await kube_sample.wait_for(lambda: status(kube_sample).get("engineStatus") == "completed", what="completed")
    (exp,) = status(kube_sample)["experiments"]
    assert exp["status"] == "ChaosExperiment Not Found" and exp["verdict"] == "Fail"
    assert len(kube_sample.pods("shop")) == 5


async def test_incomplete_appinfo_stops_the_engine(kube_sample: SimulatedCluster) -> None:
    await ready_for_litmus(kube_sample)
    doc = engine()
    doc["spec"]["appinfo"] = {"appns": "shop", "applabel": "app=checkout"}  # appkind missing
    kube_sample.create(doc)
    await kube_sample.wait_for(lambda: (kube_sample.get("chaosengines", "shop", "checkout-chaos", GROUP) or {})
                               .get("spec", {}).get("engineState") == "stop", what="stop")
    assert any("incomplete appinfo" in e["message"] for e in kube_sample.objects("events", "shop"))


async def test_without_the_operator_nothing_happens(kube_factory: Any) -> None:
    cluster: SimulatedCluster = await kube_factory(litmus_operator=False)
    assert cluster.get("deployments", "litmus", "chaos-operator-ce") is None
    cluster.add_sample()
    await cluster.wait_ready("shop", "checkout")
    await ready_for_litmus(cluster)
    cluster.create(engine())
    await asyncio.sleep(0.3)
    assert status(cluster) == {} and len(cluster.pods("shop")) == 5
