"""scenarios/fleet-zone-dark-k8s.yaml as shipped (template line and probe swapped for the test), on the simulated
cluster with checkout pods in two zones: the NetworkChaos selects exactly the zone-b pods (journaled before it is
applied), is deleted and verified gone, and zone a is never selected."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.headless import build_sources
from controlroom.lab.kube import SimulatedCluster
from controlroom.scenario import load_scenario_text
from tests.front_server import for_test, front_server
from tests.kubernetes.kit import events, run, session

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "fleet-zone-dark-k8s.yaml"


async def test_the_chaos_mesh_way_partitions_exactly_zone_b(kube_cluster: SimulatedCluster, kubeconfig: Path,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    kube_cluster.add_namespace("shop")
    kube_cluster.add_deployment("shop", "checkout-a", replicas=3, labels={"app": "checkout", "zone": "a"})
    kube_cluster.add_deployment("shop", "checkout-b", replicas=4, labels={"app": "checkout", "zone": "b"})
    for name in ("checkout-a", "checkout-b"):
        await kube_cluster.wait_ready("shop", name, timeout=10)
    with front_server() as url:
        sc = load_scenario_text(for_test(SCENARIO.read_text(), url), "fleet-zone-dark-k8s.yaml")
        outcome = await run(session(sc, tmp_path, sources=build_sources(sc)), timeout=60)
    assert (outcome.outcome, outcome.exit_code) == ("held", 0), outcome
    evs = events(tmp_path)
    [selected] = [e.data for e in evs if e.type == "fault-selected"]
    pods = {p["name"] for p in selected["pods"]}
    assert len(pods) == 4 and all(name.startswith("checkout-b-") for name in pods)
    assert selected["manifest"]["kind"] == "NetworkChaos"
    assert [e.data["verified"] for e in evs if e.type == "fault-reverted"] == [True]
    assert kube_cluster.objects("networkchaos", "shop", group="chaos-mesh.org") == []  # deleted and gone: the finalizer was released
