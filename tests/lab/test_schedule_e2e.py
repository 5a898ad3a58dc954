"""End to end in the lab: a scheduled, unattended run on a real host, stopped by `controlroom pause-schedule`.

The schedule runs the scenario as `run --headless --yes` does, on a lab host over SSH. While its fault is in
(an nft table on h1), another terminal pauses the schedule: the run must go through the one rollback path
(an emergency stop by the kill switch, the fault reverted and verified), the host must be clean, and no next
run may start while the schedule is paused (the loop keeps its cadence and says each due run was not started).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import needs_lab

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: lab-scheduled
hypothesis: the front keeps answering while h1 carries a marker table
environment: lab
targets:
  h1: {{ssh: h1}}
observe:
  every: 1s
  metrics:
    front: {{probe: "http://{front}:8080/", timeout: 3s}}
steady_state:
  window: 1s
  require: [front.success_rate >= 50%]
stop_when:
  conditions: [front.success_rate < 1%]
blast_radius:
  max_targets: 1
  max_duration: 2m
  allowed_environments: [lab]
steps:
  - id: mark
    title: a marker table on h1
    fault:
      type: command
      target: h1
      inject: "nft add table inet crsched"
      revert: "nft delete table inet crsched 2>/dev/null; true"
      verify: "! nft list table inet crsched >/dev/null 2>&1"
    duration: 60s
    confirm: false
"""


def _has_table(lab: Lab) -> bool:
    return lab.exec("h1", "nft list table inet crsched >/dev/null 2>&1").returncode == 0


def _journal_events(data: Path) -> list[dict[str, object]]:
    journals = sorted((data / "controlroom" / "journals").glob("*lab-scheduled*.jsonl"))
    if not journals:
        return []
    return [json.loads(x) for x in journals[-1].read_text().splitlines()[1:] if x.strip().endswith("}")]


def test_pause_schedule_stops_a_running_scheduled_run_through_the_rollback_and_no_next_run_starts(
        lab: Lab, tmp_path: Path) -> None:
    scenario = tmp_path / "scheduled.yaml"
    scenario.write_text(SCENARIO.format(front=lab.host("h1").ip))
    env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": str(tmp_path),
           "CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]}
    env.pop("CHAOS_ENABLED", None)
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "schedule", str(scenario), "--every", "3s",
                             "--max-runs", "3", "--env", "lab"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(e["type"] == "fault-injected" for e in _journal_events(tmp_path)):
            assert proc.poll() is None, f"the schedule ended before injecting: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, "the scheduled run never injected"
            time.sleep(0.2)
        assert _has_table(lab)
        paused = subprocess.run([sys.executable, "-m", "controlroom", "pause-schedule"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert paused.returncode == 0, paused.stdout + paused.stderr
        deadline = time.monotonic() + 60
        while not any(e["type"] == "session-ended" for e in _journal_events(tmp_path)):
            assert time.monotonic() < deadline, "the paused run never ended"
            time.sleep(0.2)
        time.sleep(7)  # two more due times (every 3 s) pass while paused: neither may start a run
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _has_table(lab), out
    events = _journal_events(tmp_path)
    types = [e["type"] for e in events]
    stop = next(e for e in events if e["type"] == "emergency-stop")
    assert "schedule" in str(stop.get("by", "")) + str(stop.get("reason", "")), stop
    reverted = next(e for e in events if e["type"] == "fault-reverted")
    assert reverted["verified"] is True
    assert types.index("emergency-stop") < types.index("fault-reverted") < types.index("session-ended")
    assert len(list((tmp_path / "controlroom" / "journals").glob("*lab-scheduled*.jsonl"))) == 1, out
    assert "not started" in out, out
