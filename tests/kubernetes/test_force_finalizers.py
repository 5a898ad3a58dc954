"""A Chaos Mesh object whose deletion never completes stays unconfirmed through `recover`; only the
facilitator's explicit `--force-finalizers` removes it, with a warning, and even then nothing is called clean."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlroom.engine.recover import recover
from controlroom.lab.kube import ClusterThread
from tests.kube.fixtures import fast_config
from tests.kubernetes.kit import scenario, session, target_yaml

STEP = """\
- id: slow
  title: slow
  confirm: false
  duration: 1s
  fault: {type: chaos-network-delay, target: checkout, latency: 100ms, revert_wait: 500ms}
"""


def test_recover_never_forces_a_finalizer_unless_asked_and_then_warns_and_never_says_clean(tmp_path: Path) -> None:
    with ClusterThread(fast_config(), sample=True) as ct:
        cluster = ct.cluster
        assert cluster is not None
        ct.run(lambda: cluster.wait_ready("shop", "checkout", timeout=10))
        ct.call(lambda: setattr(cluster.chaos_mesh, "stuck", True))
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        sc = scenario(tmp_path, target_yaml(kubeconfig), STEP)
        outcome = asyncio.run(session(sc, tmp_path, reconfirm_for=0.5).run())
        assert outcome.unconfirmed == ("checkout",)

        def left() -> list[object]:
            return ct.call(lambda: cluster.objects("networkchaos", "shop", group="chaos-mesh.org"))

        said: list[str] = []
        assert recover(str(tmp_path / "j.jsonl"), printer=said.append, yes=True) == 1
        assert any("fault may persist: finalizer held" in line for line in said)
        assert len(left()) == 1  # not forced: still there, still reported

        said.clear()
        assert recover(str(tmp_path / "j.jsonl"), printer=said.append, yes=True, force_finalizers=True) == 1
        text = "\n".join(said)
        assert "WARNING: forcing Chaos Mesh finalizers off" in text
        assert "finalizer forced off (objects removed, pods NOT recovered); fault may persist — NOT clean" in text
        assert "NOT confirmed clean: checkout" in text and "all clean" not in text
        assert left() == []
