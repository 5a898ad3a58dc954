"""ClusterThread: the simulated cluster on a loop of its own, for code under test that blocks."""

from __future__ import annotations

import time
from pathlib import Path

from controlroom.lab.kube import ClusterThread
from tests.kube.fixtures import fast_config, sync_client_from_kubeconfig


def test_a_cluster_in_a_thread_serves_blocking_clients(tmp_path: Path) -> None:
    with ClusterThread(fast_config(), sample=True) as thread:
        cluster = thread.cluster
        assert cluster is not None
        kubeconfig = thread.call(cluster.write_kubeconfig, tmp_path / "kubeconfig")
        thread.run(lambda: cluster.wait_ready("shop", "checkout"))
        with sync_client_from_kubeconfig(kubeconfig) as http:
            pods = http.get("/api/v1/namespaces/shop/pods", params={"labelSelector": "app=checkout"}).json()["items"]
            assert len(pods) == 5
            http.delete(f"/api/v1/namespaces/shop/pods/{pods[0]['metadata']['name']}")
        deadline = time.monotonic() + 5
        while thread.call(cluster.deployment_ready, "shop", "checkout") != (5, 5) or \
                pods[0]["metadata"]["name"] in {p["metadata"]["name"] for p in thread.call(cluster.pods, "shop")}:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert not thread._thread or not thread._thread.is_alive()
    assert cluster.errors == []
