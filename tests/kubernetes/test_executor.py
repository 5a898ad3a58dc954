"""KubeExecutor rules that keep a revert honest, against the simulated cluster through a kubeconfig file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controlroom.lab.kube import SimulatedCluster
from controlroom.scenario.model import KubernetesRef, Target
from controlroom.targets.base import KubeCall
from controlroom.targets.kubernetes import KubeExecutor, mode_count

WHERE = (("namespaces", ["shop"]), ("plural", "networkchaos"), ("version", "chaos-mesh.org/v1alpha1"))


def _executor(kubeconfig: Path, context: str = "controlroom-sim") -> KubeExecutor:
    return KubeExecutor(Target("checkout", "kubernetes", kubernetes=KubernetesRef(
        context=context, namespace="shop", selector="app=checkout", kubeconfig=str(kubeconfig))))


async def test_without_a_session_id_a_revert_refuses_rather_than_find_nothing_and_call_it_gone(
        kube_sample: SimulatedCluster, kubeconfig: Path) -> None:
    ex = _executor(kubeconfig)
    try:
        result = await ex.run(KubeCall("gone", args=WHERE, fault="s/0@checkout"))
        assert not result.ok
        assert "no session id bound" in result.stderr
        ex.bind_session("abc123")
        assert (await ex.run(KubeCall("gone", args=WHERE, fault="s/0@checkout"))).ok
    finally:
        await ex.close()


async def test_a_wrong_context_is_one_line_naming_the_contexts_there(kube_sample: SimulatedCluster,
                                                                     kubeconfig: Path) -> None:
    ex = _executor(kubeconfig, context="prod")
    result = await ex.run(KubeCall("version"))
    assert not result.ok
    assert result.error == (f"target 'checkout': context 'prod' is not in the kubeconfig ({kubeconfig}; "
                            "contexts: controlroom-sim); fix kubernetes.context")


async def test_version_says_simulated_cluster(kube_sample: SimulatedCluster, kubeconfig: Path) -> None:
    ex = _executor(kubeconfig)
    try:
        result = await ex.run(KubeCall("version"))
        assert result.ok and "SIMULATED cluster" in result.stdout
    finally:
        await ex.close()


@pytest.mark.parametrize(("total", "mode", "value", "want"), [
    (5, "one", "", 1), (5, "all", "", 5), (5, "fixed", "2", 2), (5, "fixed", "9", 5),
    (5, "fixed-percent", "40%", 2), (5, "fixed-percent", "41%", 3), (1000, "fixed-percent", "20%", 200),
    (3, "fixed-percent", "1%", 1), (0, "all", "", 0),
])
def test_modes_choose_as_chaos_mesh_does(total: int, mode: str, value: str, want: int) -> None:
    assert mode_count(total, mode, value, random.Random(0)) == want


def test_random_max_percent_never_exceeds_its_percentage() -> None:
    rng = random.Random(3)
    counts = {mode_count(10, "random-max-percent", "30%", rng) for _ in range(200)}
    assert counts <= {0, 1, 2, 3} and max(counts) == 3
