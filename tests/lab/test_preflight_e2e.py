"""End to end in the lab: a kernel without netem stops `controlroom run` in pre-flight with the exact one-line
reason, unless the step's fault is marked optional, in which case it is skipped and nothing is injected."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.deps import not_applicable
from tests.lab.fixtures import HeadlessRun, assert_clean, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: lab-netem
hypothesis: latency on h1 is survivable
environment: lab
targets:
  h1: {{ssh: h1}}
blast_radius:
  max_targets: 1
  max_duration: 1m
  allowed_environments: [lab]
steps:
  - id: slow
    title: 300 ms on h1
    fault: {{type: latency, target: h1, delay: 300ms, optional: {optional}}}
    duration: 1s
    confirm: false
unobserved: true
"""
MESSAGE = "h1: kernel has no sch_netem; latency cannot be injected"


def has_netem() -> bool:
    probe = ["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def run(lab: Lab, tmp_path: Path, optional: str) -> tuple[int, str, list[dict[str, object]]]:
    """The run to its end: its exit code, what it printed (stdout and stderr) and its journal's events."""
    scenario = tmp_path / f"netem-{optional}.yaml"
    scenario.write_text(SCENARIO.format(optional=optional))
    room = HeadlessRun(lab, tmp_path, scenario)
    try:
        out = room.finish(60)
    finally:
        room.kill()
    assert room.journal.exists(), out
    return room.proc.returncode, out, room.events()


@pytest.mark.skipif(has_netem(), reason=not_applicable("this kernel has sch_netem"))
def test_missing_netem_refuses_the_run_with_the_exact_message(lab: Lab, tmp_path: Path) -> None:
    code, out, events = run(lab, tmp_path, "false")
    assert code == 2, out
    netem = [e for e in events if e["type"] == "preflight-check" and e["check"] == "qdisc:netem"]
    assert [(e["ok"], e["detail"]) for e in netem] == [(False, MESSAGE)]
    assert not any(e["type"] == "fault-injecting" for e in events)
    assert_clean(lab, "h1")


@pytest.mark.skipif(has_netem(), reason=not_applicable("this kernel has sch_netem"))
def test_missing_netem_skips_an_optional_fault_and_the_run_goes_on(lab: Lab, tmp_path: Path) -> None:
    code, out, events = run(lab, tmp_path, "true")
    assert code == 0, out
    assert any(e["type"] == "warning" and MESSAGE in str(e["message"]) for e in events)
    assert not any(e["type"] == "fault-injecting" for e in events)
    assert_clean(lab, "h1")
