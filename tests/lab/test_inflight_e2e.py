"""End to end in the lab: a stop that lands while an injection is still running on the host.

The inject of a `command` fault sleeps before it adds its nft table. A stop half a
second after `fault-injecting` (SIGTERM to a headless run, or SIGKILL then
`recover`) must leave the host clean when it returns, and still clean seconds
later — when the inject, had it not been stopped, would have landed.
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
from tests.lab.fixtures import assert_clean, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: lab-inflight
hypothesis: a stop mid-injection leaves nothing behind
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
blast_radius:
  max_targets: 1
  max_duration: 2m
  allowed_environments: [lab]
steps:
  - id: slow
    title: an inject that takes its time
    fault:
      type: command
      target: h1
      inject: "sleep 3; nft add table inet crtest"
      revert: "nft delete table inet crtest 2>/dev/null; true"
      verify: "! nft list table inet crtest >/dev/null 2>&1"
    duration: 30s
    confirm: false
"""


def _has_table(lab: Lab) -> bool:
    return lab.exec("h1", "nft list table inet crtest >/dev/null 2>&1").returncode == 0


def _events(journal: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in journal.read_text().splitlines()[1:] if x.strip()]


class Run:
    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        scenario = tmp_path / "inflight.yaml"
        scenario.write_text(SCENARIO.format(front=lab.host("h1").ip))
        self.journal = tmp_path / "inflight.jsonl"
        self.env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config),
                    "XDG_DATA_HOME": str(tmp_path), "CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]}
        self.proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                                      str(self.journal), str(scenario)], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_injecting(self) -> None:
        deadline = time.monotonic() + 30
        while '"fault-injecting"' not in (self.journal.read_text() if self.journal.exists() else ""):
            assert time.monotonic() < deadline and self.proc.poll() is None, "never saw fault-injecting"
            time.sleep(0.05)
        time.sleep(0.5)

    def finish(self, seconds: float) -> str:
        out, _ = self.proc.communicate(timeout=seconds)
        return out.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def cleanup(lab: Lab):  # type: ignore[no-untyped-def]
    yield
    lab.exec("h1", "nft delete table inet crtest 2>/dev/null; rm -rf /run/controlroom/run-*; true")


def test_sigterm_mid_injection_stops_the_inject_and_leaves_the_host_clean(lab: Lab, tmp_path: Path,
                                                                           cleanup: None) -> None:
    run = Run(lab, tmp_path)
    try:
        run.wait_injecting()
        run.proc.send_signal(signal.SIGTERM)
        out = run.finish(30)
    finally:
        run.kill()
    assert not _has_table(lab), out
    time.sleep(5)  # the inject would have landed 3 s after it started
    assert not _has_table(lab), out
    assert_clean(lab, "h1")
    events = _events(run.journal)
    rollback = next(e for e in events if e["type"] == "rollback-started")
    assert rollback["faults"] == ["slow/0@h1"]
    stopped = [e for e in events if e["type"] == "fault-inject-stopped"]
    assert [(e["fault"], e["how"]) for e in stopped] == [("slow/0@h1", "killed")], out
    reverted = [e for e in events if e["type"] == "fault-reverted"]
    assert reverted and reverted[-1]["verified"] is True
    assert events[-1]["type"] == "session-ended" and events[-1]["outcome"] == "aborted"
    assert run.proc.returncode == 1
    assert "fault-injected" not in [e["type"] for e in events]


def test_recover_after_sigkill_mid_injection_stops_the_inject_first(lab: Lab, tmp_path: Path,
                                                                     cleanup: None) -> None:
    run = Run(lab, tmp_path)
    try:
        run.wait_injecting()
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait()
    finally:
        run.kill()
    rec = subprocess.run([sys.executable, "-m", "controlroom", "recover", "--yes", str(run.journal)], env=run.env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert "stopped the injection still running" in rec.stdout, rec.stdout
    assert not _has_table(lab)
    time.sleep(5)
    assert not _has_table(lab), rec.stdout
    assert_clean(lab, "h1")
