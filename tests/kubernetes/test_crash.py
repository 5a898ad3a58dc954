"""kill -9 of the room mid-experiment: Chaos Mesh's spec.duration (the cluster-side leash) ends it by itself,
and `controlroom recover` finds the session's objects by label and deletes them, idempotently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.kube.fixtures import serve_process, sync_client_from_kubeconfig
from tests.kubernetes.kit import target_yaml

SCENARIO = """\
version: 1
name: crash
hypothesis: h
environment: sim
unobserved: true
blast_radius: {{max_targets: 1, max_duration: 5m, allowed_environments: [sim], leash: 5s}}
targets:
{target}steps:
  - id: slow
    title: slow
    confirm: false
    duration: 2s
    fault: {{type: chaos-network-delay, target: checkout, latency: 100ms}}
"""

URL = "/apis/chaos-mesh.org/v1alpha1/namespaces/shop/networkchaos"


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_leaves_the_experiment_to_its_duration_and_recover_deletes_it(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--sample", "--fast") as (_, kubeconfig), \
            sync_client_from_kubeconfig(kubeconfig) as http:
        _wait(lambda: http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").json()
              .get("status", {}).get("readyReplicas") == 5, 10, "the sample")
        scenario = tmp_path / "crash.yaml"
        scenario.write_text(SCENARIO.format(target=target_yaml(kubeconfig)))
        journal = tmp_path / "j.jsonl"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        room = subprocess.Popen([sys.executable, "-m", "controlroom", "run", str(scenario), "--headless", "--yes",
                                 "--journal", str(journal)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait(lambda: journal.exists() and '"type":"fault-injected"' in journal.read_text(), 20, "the injection")
            os.killpg(room.pid, signal.SIGKILL)
            room.wait(5)
        finally:
            if room.poll() is None:
                os.killpg(room.pid, signal.SIGKILL)
                room.wait(5)
        items = http.get(URL).json()["items"]
        assert len(items) == 1 and items[0]["spec"]["duration"] == "7s"  # step 2s + leash 5s
        started = time.monotonic()

        def stopped() -> bool:
            obj = http.get(URL).json()["items"][0]
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions") or []}
            return obj["status"]["experiment"]["desiredPhase"] == "Stop" and conds.get("AllRecovered") == "True"

        _wait(stopped, 12, "Chaos Mesh to end the experiment at its duration")
        assert time.monotonic() - started <= 9
        # recover: found by the session label, deleted, verified gone; a second run has nothing to do.
        out = subprocess.run([sys.executable, "-m", "controlroom", "recover", str(journal), "--yes"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "reverted, verified clean" in out.stdout and "all clean" in out.stdout
        assert http.get(URL).json()["items"] == []
        again = subprocess.run([sys.executable, "-m", "controlroom", "recover", str(journal), "--yes"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stdout
        header = json.loads(journal.read_text().splitlines()[0])
        assert header["session"]
