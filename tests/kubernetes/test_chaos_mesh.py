"""Chaos Mesh steps on the simulated cluster: each kind injected (the controller reports it injected on the
journaled pods), reverted (deleted and gone), verified; a held finalizer is unconfirmed, never clean."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controlroom.lab.kube import SimulatedCluster
from controlroom.scenario import load_scenario
from tests.kubernetes.kit import events, run, scenario, session, target_yaml

KINDS = [
    ("chaos-pod-failure", "", "podchaos"),
    ("chaos-container-kill", ", containers: [checkout]", "podchaos"),
    ("chaos-network-delay", ", latency: 200ms, jitter: 20ms", "networkchaos"),
    ("chaos-network-loss", ", loss: 25%", "networkchaos"),
    ("chaos-network-partition", ", direction: both", "networkchaos"),
    ("chaos-network-bandwidth", ", rate: 1mbit", "networkchaos"),
    ("chaos-stress-cpu", ", workers: 2, load: 80%", "stresschaos"),
    ("chaos-stress-memory", ", size: 256MB", "stresschaos"),
    ("chaos-io-latency", ", volume_path: /var/lib/data, delay: 100ms", "iochaos"),
    ("chaos-http-delay", ", port: 8080, delay: 300ms", "httpchaos"),
    ("chaos-dns-error", ", patterns: ['*.payments.internal']", "dnschaos"),
    ("chaos-time-offset", ", offset: -10m", "timechaos"),
    ("chaos-mesh", ", cr: {kind: NetworkChaos, spec: {action: loss, loss: {loss: '50'}, direction: to}}",
     "networkchaos"),
]


def _step(fault: str, extra: str, duration: str = "1s", revert_wait: str = "5s") -> str:
    return (f"- id: chaos\n  title: chaos\n  confirm: false\n  duration: {duration}\n"
            f"  fault: {{type: {fault}, target: checkout, revert_wait: {revert_wait}{extra}}}\n")


async def _watch_injected(cluster: SimulatedCluster, plural: str, seen: dict[str, Any]) -> None:
    while True:
        for obj in cluster.objects(plural, "shop", group="chaos-mesh.org"):
            conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
            if conds.get("AllInjected") == "True":
                seen["obj"] = obj
                return
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(("fault", "extra", "plural"), KINDS, ids=[k[0] for k in KINDS])
async def test_every_chaos_mesh_kind_is_injected_observed_reverted_and_verified(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path, fault: str, extra: str, plural: str) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed, value: '2'"), _step(fault, extra))
    s = session(sc, tmp_path)
    seen: dict[str, Any] = {}
    watcher = asyncio.ensure_future(_watch_injected(kube_sample, plural, seen))
    outcome = await run(s)
    watcher.cancel()
    assert outcome.exit_code == 0, outcome
    evs = events(tmp_path)
    selected = next(e.data for e in evs if e.type == "fault-selected")
    manifest = selected["manifest"]
    labels = manifest["metadata"]["labels"]
    assert labels["controlroom.io/session"] == s.session_id and labels["controlroom.io/step"] == "chaos"
    assert manifest["spec"]["duration"] == "6s"  # the step (1s) + the leash window (5s): the cluster-side leash
    # Observed: the controller injected exactly the journaled pods.
    obj = seen["obj"]
    assert obj["metadata"]["name"] == manifest["metadata"]["name"]
    records = obj["status"]["experiment"]["containerRecords"]
    hit = {r["id"].split("/")[1] for r in records}
    if fault != "chaos-mesh" or "selector" not in str(manifest["spec"].get("selector")):
        assert hit == {p["name"] for p in selected["pods"]} and len(hit) == 2
    # Reverted and verified: gone from the cluster, journaled verified.
    reverted = next(e.data for e in evs if e.type == "fault-reverted")
    assert reverted["verified"] is True
    assert kube_sample.objects(plural, "shop", group="chaos-mesh.org") == []


async def test_a_held_finalizer_is_reported_unconfirmed_never_clean(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    kube_sample.chaos_mesh.stuck = True  # recovery fails: Chaos Mesh keeps its finalizer
    sc = scenario(tmp_path, target_yaml(kubeconfig), _step("chaos-network-delay", ", latency: 100ms",
                                                           revert_wait="500ms"))
    s = session(sc, tmp_path, reconfirm_for=0.5)
    outcome = await run(s)
    assert outcome.exit_code != 0 and outcome.unconfirmed == ("checkout",)
    evs = events(tmp_path)
    failed = next(e.data for e in evs if e.type == "fault-revert-failed")
    assert "fault may persist: finalizer held" in failed["error"]
    assert not any(e.type == "fault-reverted" and e.data.get("verified") for e in evs)
    left = kube_sample.objects("networkchaos", "shop", group="chaos-mesh.org")
    assert left and left[0]["metadata"].get("deletionTimestamp")


async def test_a_missing_crd_is_a_preflight_message(kube_factory: Any, tmp_path: Path) -> None:
    cluster = await kube_factory(chaos_mesh_crds=False)
    cluster.add_sample()
    await cluster.wait_ready("shop", "checkout", timeout=10)
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    sc = scenario(tmp_path, target_yaml(kubeconfig), _step("chaos-network-delay", ", latency: 100ms"))
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert "CRD networkchaos.chaos-mesh.org not installed" in outcome.message


async def test_a_stopped_controller_is_a_preflight_message(kube_factory: Any, tmp_path: Path) -> None:
    cluster = await kube_factory(chaos_mesh_controller=False)
    cluster.add_sample()
    await cluster.wait_ready("shop", "checkout", timeout=10)
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    sc = scenario(tmp_path, target_yaml(kubeconfig), _step("chaos-network-delay", ", latency: 100ms"))
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert "chaos-mesh/chaos-controller-manager" in outcome.message


@pytest.mark.parametrize(("cr", "message"), [
    ("{kind: PodChaos, spec: {action: half-kill}}",
     'spec.action: Unsupported value: "half-kill": supported values: "pod-kill", "pod-failure", "container-kill"'),
    ("{kind: NetworkChaos, spec: {action: delay, delay: {latency: 10ms, typo: 1}}}",
     'strict decoding error: unknown field "spec.delay.typo"'),
    ("{kind: PodKaos, spec: {}}", "kind 'PodKaos' is not a Chaos Mesh kind"),
])
def test_an_invalid_cr_is_a_located_validation_error(tmp_path: Path, cr: str, message: str) -> None:
    from controlroom.errors import ScenarioError

    with pytest.raises(ScenarioError) as err:
        scenario(tmp_path, target_yaml(tmp_path / "kc"), _step("chaos-mesh", f", cr: {cr}"))
    text = str(err.value.problems[0])
    assert message in text
    assert text.startswith(f"{tmp_path / 's.yaml'}:14:")  # the line of the fault


def test_the_examples_validate() -> None:
    for path in sorted(Path("scenarios").glob("k8s-*.yaml")):
        load_scenario(path)


def test_plan_prints_the_manifest_and_the_leash_of_each_fault() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "controlroom", "plan", "-v", "scenarios/k8s-stress.yaml"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "leash: spec.duration 15s (Chaos Mesh ends it if the room dies)" in out.stdout  # 5s step + 10s window
    assert "kind: StressChaos" in out.stdout and "mode: fixed-percent" in out.stdout
    assert "revert  kubernetes delete-labelled(" in out.stdout and "verify  kubernetes gone(" in out.stdout


async def test_another_chaos_object_on_the_same_pods_is_a_clobber_preflight_failure(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    other = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
             "metadata": {"name": "someone-elses", "namespace": "shop"},
             "spec": {"action": "pod-failure", "mode": "one", "duration": "10m",
                      "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "checkout"}}}}
    kube_sample.create(other)
    sc = scenario(tmp_path, target_yaml(kubeconfig), _step("chaos-network-delay", ", latency: 100ms"))
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert "PodChaos shop/someone-elses already targets shop/checkout-" in outcome.message
    assert kube_sample.objects("networkchaos", "shop", group="chaos-mesh.org") == []  # nothing injected
