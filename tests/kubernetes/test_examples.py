"""scenarios/k8s-*.yaml validate and run against the simulated cluster, through $KUBECONFIG, with the built-in
Kubernetes metric observing the pods."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.headless import build_sources
from controlroom.lab.kube import SimulatedCluster
from controlroom.scenario import load_scenario
from tests.kubernetes.kit import events, run, session
from tests.kubernetes.test_litmus import install_experiment

EXAMPLES = sorted(Path("scenarios").glob("k8s-*.yaml"))


def test_there_are_the_four_examples() -> None:
    assert [p.name for p in EXAMPLES] == ["k8s-litmus-pod-delete.yaml", "k8s-network-delay.yaml", "k8s-pod-kill.yaml",
                                          "k8s-stress.yaml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_an_example_runs_against_the_simulated_cluster(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path, path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    install_experiment(kube_sample)
    sc = load_scenario(path)
    outcome = await run(session(sc, tmp_path, sources=build_sources(sc)), timeout=60)
    assert (outcome.outcome, outcome.exit_code) == ("held", 0), outcome
    evs = events(tmp_path)
    assert any(e.type == "fault-selected" and e.data["pods"] for e in evs)
    assert all(e.data["verified"] for e in evs if e.type == "fault-reverted")
    samples = [e.data for e in evs if e.type == "metric-sample"]
    assert samples and any("pods.ready_ratio" in str(s) for s in samples)
    recovery = [e.data for e in evs if e.type == "recovery-measured"]
    assert recovery and recovery[-1]["held"] is True
