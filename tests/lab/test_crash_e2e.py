"""End to end in the lab: `controlroom run --headless --yes` killed with SIGKILL mid-fault.

Nothing may outlive the leash: every host is clean within the heartbeat window
(10 s by default) after the kill, checked by listing nft tables and qdiscs on
each host. `recover JOURNAL`
cleans up at once, and running it again changes nothing. A host whose SSH link
is cut mid-step is reported unconfirmed, and confirmed by the session itself
once the link is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import assert_clean, host_state, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: lab-crash
hypothesis: the lab hosts are clean after the control room dies
environment: lab
targets:
  h1: {{ssh: h1}}
  h2: {{ssh: h2}}
observe:
  every: 1s
  metrics:
    front: {{probe: "http://{front}:8080/", timeout: 3s}}
steady_state:
  window: 1s
  require: [front.success_rate >= 50%]
blast_radius:
  max_targets: 2
  max_duration: 2m
  allowed_environments: [lab]
steps:
  - id: cut
    title: partition h1 from h3 and throttle h2
    faults:
      - {{type: partition, target: h1, peers: [{h3}]}}
      - {{type: bandwidth, target: h2, rate: 1mbit}}
    duration: {duration}
    confirm: false
"""


def start_and_kill_once_injected(lab: Lab, tmp_path: Path, duration: str) -> Path:
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(SCENARIO.format(front=lab.host("h1").ip, h3=lab.host("h3").ip, duration=duration))
    journal = tmp_path / "crash.jsonl"
    env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                             str(journal), str(scenario)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            lines = journal.read_text().splitlines() if journal.exists() else []
            injected = [json.loads(x) for x in lines if '"fault-injected"' in x]
            if len(injected) == 2:
                break
            time.sleep(0.1)
        else:
            out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
            pytest.fail(f"the session did not inject both faults: {out}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    assert "table inet controlroom" in host_state(lab, "h1") and "c0de" in host_state(lab, "h2")
    return journal


@pytest.mark.slow
def test_sigkill_mid_fault_leaves_every_host_clean_within_the_leash(lab: Lab, tmp_path: Path) -> None:
    journal = start_and_kill_once_injected(lab, tmp_path, "2s")
    killed = time.monotonic()
    # The leash is the 10 s heartbeat window; allow the guard's 1 s polling and some slack.
    deadline = killed + 10 + 3
    while time.monotonic() < deadline:
        if "inet controlroom" not in host_state(lab, "h1") and "c0de" not in host_state(lab, "h2"):
            break
        time.sleep(0.5)
    for h in lab.hosts:
        assert_clean(lab, h.name)
    assert lab.exec("h3", f"nc -z -w 1 {lab.host('h1').ip} 22").returncode == 0
    # The dead room's host claims outlive its leashes a little; recover (its reverts are idempotent) releases them.
    env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config)}
    subprocess.run([sys.executable, "-m", "controlroom", "recover", str(journal)], env=env, capture_output=True,
                   timeout=60, check=True)


def test_recover_after_sigkill_reverts_at_once_and_is_idempotent(lab: Lab, tmp_path: Path) -> None:
    journal = start_and_kill_once_injected(lab, tmp_path, "60s")
    env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config)}
    for _ in range(2):
        started = time.monotonic()
        rec = subprocess.run([sys.executable, "-m", "controlroom", "recover", str(journal)], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert time.monotonic() - started < 10
        for h in lab.hosts:
            assert_clean(lab, h.name)


CUT_SCENARIO = """\
version: 1
name: lab-cut-link
hypothesis: a host whose SSH link is cut mid-step is reported, not silently assumed clean
environment: lab
targets:
  h2: {{ssh: h2}}
observe:
  every: 1s
  metrics:
    front: {{probe: "http://{front}:8080/", timeout: 3s}}
blast_radius:
  max_targets: 1
  max_duration: 2m
  allowed_environments: [lab]
steps:
  - id: slow
    title: throttle h2
    fault: {{type: bandwidth, target: h2, rate: 1mbit}}
    duration: 3s
    confirm: false
unobserved: true
"""

CUT = ("nft add table inet crtestcut; "
       "nft add chain inet crtestcut input '{ type filter hook input priority -20; policy accept; }'; "
       "nft add rule inet crtestcut input tcp dport 22 reject with tcp reset")


class CutRun:
    """`controlroom run --headless --yes` of CUT_SCENARIO in a subprocess, and a way to wait on its journal."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        scenario = tmp_path / "cut.yaml"
        scenario.write_text(CUT_SCENARIO.format(front=lab.host("h1").ip))
        self.journal = tmp_path / "cut.jsonl"
        self.env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config),
                    "XDG_DATA_HOME": str(tmp_path)}
        self.proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                                      str(self.journal), str(scenario)], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_for(self, needle: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while needle not in (self.journal.read_text() if self.journal.exists() else ""):
            assert time.monotonic() < deadline and self.proc.poll() is None, f"never saw {needle}"
            time.sleep(0.1)

    def finish(self, seconds: float) -> str:
        out, _ = self.proc.communicate(timeout=seconds)
        return out.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.journal.read_text().splitlines()[1:]]


def test_a_cut_ssh_link_is_reported_unconfirmed_then_recover_confirms_it(lab: Lab, tmp_path: Path) -> None:
    run = CutRun(lab, tmp_path)
    try:
        run.wait_for('"fault-injected"', 30)
        assert lab.exec("h2", CUT).returncode == 0
        out = run.finish(90)
    finally:
        run.kill()
        lab.exec("h2", "nft delete table inet crtestcut")
    events = run.events()
    ended = [e for e in events if e["type"] == "session-ended"][-1]
    assert run.proc.returncode != 0 and "h2" in ended["unconfirmed"], out  # type: ignore[operator]
    assert any(e["type"] == "fault-revert-failed" and e["target"] == "h2" for e in events)
    # The link is back: recover reverts what the session could not confirm, and says it is clean.
    rec = subprocess.run([sys.executable, "-m", "controlroom", "recover", str(run.journal)], env=run.env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert_clean(lab, "h2")


def test_a_cut_ssh_link_is_confirmed_by_the_session_once_the_link_is_back(lab: Lab, tmp_path: Path) -> None:
    run = CutRun(lab, tmp_path)
    try:
        run.wait_for('"fault-injected"', 30)
        assert lab.exec("h2", CUT).returncode == 0
        run.wait_for('"fault-revert-failed"', 60)  # the session says it cannot confirm h2...
        lab.exec("h2", "nft delete table inet crtestcut")  # ...the link comes back...
        out = run.finish(60)
    finally:
        run.kill()
        lab.exec("h2", "nft delete table inet crtestcut")
    events = run.events()
    reconfirmed = [e for e in events if e["type"] == "fault-reverted" and e.get("reconfirmed")]
    assert reconfirmed and reconfirmed[0]["target"] == "h2", out  # ...and the session confirms it
    assert [e for e in events if e["type"] == "session-ended"][-1]["unconfirmed"] == []
    assert_clean(lab, "h2")
