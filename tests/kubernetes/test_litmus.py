"""A Litmus pod-delete ChaosEngine as a step: the journaled pods deleted, stopped with engineState: stop,
deleted, and verified by the workload's health."""

from __future__ import annotations

import asyncio
import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from controlroom.lab.kube import SimulatedCluster
from tests.kubernetes.kit import events, run, scenario, session, target_yaml

EXAMPLES = resources.files("controlroom.lab.kube") / "data" / "litmus" / "examples"
STEP = """\
- id: delete
  title: delete
  confirm: false
  duration: 2s
  fault: {type: litmus-pod-delete, target: checkout, interval: 1s, recovery_wait: 10s, revert_wait: 5s}
"""


def install_experiment(cluster: SimulatedCluster, namespace: str = "shop") -> None:
    text = (EXAMPLES / "pod-delete-experiment.yaml").read_text(encoding="utf-8")
    doc = copy.deepcopy(next(d for d in yaml.safe_load_all(text) if d))
    doc["metadata"]["namespace"] = namespace
    cluster.create(doc)


async def test_litmus_pod_delete_runs_on_the_journaled_pods_is_stopped_and_verified_by_workload_health(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    install_experiment(kube_sample)
    before = {p["metadata"]["name"] for p in kube_sample.pods("shop")}
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed, value: '2'"), STEP)
    s = session(sc, tmp_path)
    seen: dict[str, Any] = {}

    async def watch() -> None:
        while True:
            for eng in kube_sample.objects("chaosengines", "shop", group="litmuschaos.io"):
                if (eng.get("status") or {}).get("engineStatus") == "initialized":
                    seen["engine"] = eng
            await asyncio.sleep(0.02)

    watcher = asyncio.ensure_future(watch())
    outcome = await run(s)
    watcher.cancel()
    assert outcome.exit_code == 0, outcome
    evs = events(tmp_path)
    selected = next(e.data for e in evs if e.type == "fault-selected")
    chosen = {p["name"] for p in selected["pods"]}
    assert len(chosen) == 2
    env = {e["name"]: e["value"] for e in selected["manifest"]["spec"]["experiments"][0]["spec"]["components"]["env"]}
    assert env["TARGET_PODS"] == ",".join(sorted(chosen)) and env["TOTAL_CHAOS_DURATION"] == "7"
    assert seen["engine"]["metadata"]["labels"]["controlroom.io/session"] == s.session_id
    gone = before - {p["metadata"]["name"] for p in kube_sample.pods("shop", include_terminating=True)}
    assert gone and gone <= chosen  # Litmus deleted only journaled pods
    reverted = next(e.data for e in evs if e.type == "fault-reverted")
    assert reverted["verified"] is True
    assert kube_sample.objects("chaosengines", "shop", group="litmuschaos.io") == []
    assert len(kube_sample.ready_pods("shop")) >= 5


async def test_a_missing_chaos_experiment_is_a_preflight_message(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig), STEP)
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert "ChaosExperiment shop/pod-delete not found" in outcome.message
