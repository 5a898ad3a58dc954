"""End to end in the lab: a stop that lands while an injection is still running on the host.

The inject of a `command` fault sleeps before it adds its nft table. A stop half a
second after `fault-injecting` (SIGTERM to a headless run, or SIGKILL then
`recover`) must leave the host clean when it returns, and still clean seconds
later — when the inject, had it not been stopped, would have landed.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import HeadlessRun, assert_clean, lab_scenario, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

STEPS = """\
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


def start_and_wait_injecting(lab: Lab, tmp_path: Path) -> HeadlessRun:
    """The run, half a second after its `fault-injecting`: the inject is sleeping on h1 (3 s) when it returns."""
    scenario = lab_scenario(lab, tmp_path, "lab-inflight", "a stop mid-injection leaves nothing behind", ["h1"],
                            STEPS)
    run = HeadlessRun(lab, tmp_path, scenario)
    try:
        run.wait_for("fault-injecting", 30)
    except BaseException:
        run.kill()
        raise
    time.sleep(0.5)
    return run


@pytest.fixture
def cleanup(lab: Lab):  # type: ignore[no-untyped-def]
    yield
    lab.exec("h1", "nft delete table inet crtest 2>/dev/null; rm -rf /run/controlroom/run-*; true")


def test_sigterm_mid_injection_stops_the_inject_and_leaves_the_host_clean(lab: Lab, tmp_path: Path,
                                                                           cleanup: None) -> None:
    run = start_and_wait_injecting(lab, tmp_path)
    try:
        run.proc.send_signal(signal.SIGTERM)
        out = run.finish(30)
    finally:
        run.kill()
    assert not _has_table(lab), out
    time.sleep(5)  # the inject would have landed 3 s after it started
    assert not _has_table(lab), out
    assert_clean(lab, "h1")
    events = run.events()
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
    run = start_and_wait_injecting(lab, tmp_path)
    try:
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait()
    finally:
        run.kill()
    rec = run.recover("--yes")  # asserts it exits 0
    assert "stopped the injection still running" in rec.stdout, rec.stdout
    assert not _has_table(lab)
    time.sleep(5)
    assert not _has_table(lab), rec.stdout
    assert_clean(lab, "h1")
