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


def test_run_with_a_context_missing_from_the_kubeconfig_is_one_located_line_exit_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n"
                          "- name: dev\n  context: {cluster: c, user: u}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("version: 1\nname: t\nhypothesis: h\nenvironment: sim\nunobserved: true\n"
                        "blast_radius: {max_targets: 1, max_duration: 5m, allowed_environments: [sim]}\n"
                        "targets:\n  checkout:\n    kubernetes: {context: prod-eu, namespace: shop, selector: app=x}\n"
                        "steps:\n  - {id: k, title: k, confirm: false, fault: {type: pod-kill, target: checkout}}\n")
    out = subprocess.run([sys.executable, "-m", "controlroom", "run", str(scenario), "--headless", "--yes"],
                         env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"{scenario}:9:18: target 'checkout': context 'prod-eu' is not in the kubeconfig "
                                  f"({kubeconfig}; contexts: dev); fix kubernetes.context")
    assert "Traceback" not in out.stderr + out.stdout
