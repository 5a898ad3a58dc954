"""`controlroom lab kube`: the simulated cluster with the sample and the Litmus experiment, saying it is simulated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.kube.fixtures import sync_client_from_kubeconfig


def test_lab_kube_serves_the_sample_writes_a_kubeconfig_and_says_simulated(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "lab", "kube", "--fast", "--kubeconfig",
                             str(kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while not lines or "ready" not in lines[-1]:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
            assert time.monotonic() < deadline
        assert all(line.startswith("simulated cluster: ") for line in lines)
        assert any("sample: Litmus ChaosExperiment pod-delete in shop" in line for line in lines)
        with sync_client_from_kubeconfig(kubeconfig) as http:
            assert http.get("/apis/litmuschaos.io/v1alpha1/namespaces/shop/chaosexperiments/pod-delete").status_code == 200
            assert http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").status_code == 200
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and out.strip().splitlines()[-1] == "simulated cluster: stopped"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
