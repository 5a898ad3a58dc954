"""`python -m controlroom.lab.kube serve`: a process that says it is simulated, writes its kubeconfig, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from controlroom.lab.kube import MARK
from tests.kube.fixtures import serve_process, sync_client_from_kubeconfig


def test_serve_writes_a_kubeconfig_serves_the_sample_and_says_it_is_simulated(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--sample", "--fast", "--replicas", "3") as (proc, kubeconfig):
        doc = yaml.safe_load(kubeconfig.read_text())
        assert kubeconfig.read_text().startswith(MARK + "\n")
        assert doc["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
        assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
        with sync_client_from_kubeconfig(kubeconfig) as http:
            assert http.get("/version").json()["gitVersion"].endswith("-controlroom-sim")
            deadline = time.monotonic() + 10
            while True:
                dep = http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").json()
                if dep.get("status", {}).get("readyReplicas") == 3:
                    break
                assert time.monotonic() < deadline, dep
                time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if line]
    assert lines and all(line.startswith("simulated cluster: ") for line in lines)
    assert lines[-1] == "simulated cluster: stopped"


def test_serve_never_overwrites_a_kubeconfig_it_did_not_write(tmp_path: Path) -> None:
    real = tmp_path / "config"
    real.write_text("apiVersion: v1\nkind: Config\ncurrent-context: production\n")
    proc = subprocess.run([sys.executable, "-m", "controlroom.lab.kube", "serve", "--kubeconfig", str(real)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"simulated cluster: {real}: exists and was not written by the simulated cluster; pass another "
        f"--kubeconfig path (a real kubeconfig is never overwritten)"]
    assert real.read_text().endswith("current-context: production\n")


def test_serve_binds_loopback_only(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "controlroom.lab.kube", "serve", "--kubeconfig",
                           str(tmp_path / "k"), "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "binds loopback only" in proc.stderr
    assert not (tmp_path / "k").exists()
