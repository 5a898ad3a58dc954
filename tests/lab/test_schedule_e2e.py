"""End to end in the lab: a scheduled, unattended run on a real host, stopped by `controlroom pause-schedule`.

The schedule runs the scenario as `run --headless --yes` does, on a lab host over SSH. While its fault is in
(an nft table on h1), another terminal pauses the schedule: the run must go through the one rollback path
(an emergency stop by the kill switch, the fault reverted and verified), the host must be clean, and no next
run may start while the schedule is paused (the loop keeps its cadence and says each due run was not started).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import journal_events, lab_env, lab_scenario, needs_lab, wait_for_event

pytestmark = [pytest.mark.root, needs_lab]

STEPS = """\
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
    """The events of the newest journal the schedule wrote under the data dir (it names its own journals)."""
    journals = sorted((data / "controlroom" / "journals").glob("*lab-scheduled*.jsonl"))
    return journal_events(journals[-1]) if journals else []


def test_pause_schedule_stops_a_running_scheduled_run_through_the_rollback_and_no_next_run_starts(
        lab: Lab, tmp_path: Path) -> None:
    scenario = lab_scenario(lab, tmp_path, "lab-scheduled",
                            "the front keeps answering while h1 carries a marker table", ["h1"], STEPS,
                            tail="stop_when:\n  conditions: [front.success_rate < 1%]\n")
    env = lab_env(lab, tmp_path)
    env.pop("CHAOS_ENABLED", None)
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "schedule", str(scenario), "--every", "3s",
                             "--max-runs", "3", "--env", "lab"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_event(lambda: _journal_events(tmp_path), "fault-injected", 60, proc, every=0.2)
        assert _has_table(lab)
        paused = subprocess.run([sys.executable, "-m", "controlroom", "pause-schedule"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert paused.returncode == 0, paused.stdout + paused.stderr
        wait_for_event(lambda: _journal_events(tmp_path), "session-ended", 60, proc, every=0.2)  # the paused run
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
