"""`lab down` (or one host vanishing) in the middle of a fault: the session notices at its next leash renewal,
rolls back through the one path, and ends within a few seconds of its reconfirm window, saying the vanished
hosts' faults are unconfirmed — never clean. Each test brings up its own lab in a spare test slot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.lab.netns import Lab
from controlroom.scenario import load_scenario_text
from controlroom.targets.ssh import SshExecutor
from tests.lab.fixtures import _claim_slot, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

LEASH = 6.0  # blast_radius.leash: the heartbeat renews every 2 s
RECONFIRM_FOR = 4.0
# Renewal interval + revert attempts that fail at once + the reconfirm window + slack for this shared machine.
BOUND = LEASH / 3 + RECONFIRM_FOR + 6.0  # + learning the host is gone, the revert, slack for a loaded machine
# A vanished address may answer nothing at all (its neighbour entry still cached): add one connect timeout.
VANISHED_BOUND = BOUND + SshExecutor("x", "x").connect_timeout + 1.0


@pytest.fixture
def spare_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    config, fd = _claim_slot()
    lab = Lab(config)
    if lab.is_up:
        lab.down()
    lab.up(2, service=False)
    monkeypatch.setenv("CONTROLROOM_SSH_CONFIG", str(config.ssh_config))
    try:
        yield lab
    finally:
        lab.down()
        os.close(fd)


def _vanish(lab: Lab, name: str) -> None:
    """One host disappears as a machine would: its processes die and its network namespace is gone
    (what `lab down` does to every host; here the lab's ssh config and the other host stay)."""
    h = lab.host(name)
    pids = subprocess.run(["ip", "netns", "pids", h.netns], capture_output=True, text=True, check=False).stdout.split()
    for pid in [h.pid, *map(int, pids)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", h.netns], check=True)


async def _session_losing_hosts(lab: Lab, tmp_path: Path, lose: str) -> tuple[list[Event], float]:
    h1, h2 = lab.host("h1").ip, lab.host("h2").ip
    sc = load_scenario_text(f"""
version: 1
name: lab-goes-away
hypothesis: the room notices
environment: lab
targets:
  h1: {{ssh: h1}}
  h2: {{ssh: h2}}
blast_radius: {{max_targets: 2, max_duration: 5m, allowed_environments: [lab], leash: {LEASH:g}s}}
steps:
  - id: cut
    title: cut both ways
    faults:
      - {{type: partition, target: h1, peers: [{h2}]}}
      - {{type: partition, target: h2, peers: [{h1}]}}
    duration: 60s
    confirm: false
unobserved: true
""", "lab-down.yaml")
    session = Session(sc, tmp_path / "j.jsonl", facilitator=AutoFacilitator(), control=False,
                      reconfirm_for=RECONFIRM_FOR)
    observing = asyncio.Event()
    session.subscribe(lambda e: e.type == "state-changed" and e.data["state"] == "observing" and observing.set())
    task = asyncio.ensure_future(session.run())
    await asyncio.wait_for(observing.wait(), timeout=30)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(lab.down if lose == "lab" else lambda: _vanish(lab, "h1"))
    gone_at = time.monotonic()
    await asyncio.wait_for(task, timeout=90)
    return read_journal(tmp_path / "j.jsonl").events, time.monotonic() - gone_at


def _one(events: list[Event], type_: str) -> Event:
    return next(e for e in events if e.type == type_)


async def test_lab_down_mid_fault_ends_the_session_promptly_and_unconfirmed(spare_lab: Lab, tmp_path: Path) -> None:
    events, took = await _session_losing_hosts(spare_lab, tmp_path, "lab")
    assert took < BOUND, f"the session ended {took:.1f}s after the lab went down (bound {BOUND:g}s)"
    stop = _one(events, "emergency-stop")
    assert stop.data["source"] == "target-lost" and "lost contact with h" in stop.data["reason"]
    assert "is gone" in stop.data["reason"]  # the reason names what happened: the hosts' ssh config went with them
    failed = {e.data["target"]: e.data["error"] for e in events if e.type == "fault-revert-failed"}
    assert sorted(failed) == ["h1", "h2"]
    assert not any(e.type == "fault-reverted" for e in events)  # nothing is called clean
    ended = _one(events, "session-ended")
    assert (ended.data["outcome"], ended.data["unconfirmed"]) == ("rolled-back", ["h1", "h2"])


async def test_one_host_vanishing_mid_fault_rolls_back_the_others_and_ends_promptly(
        spare_lab: Lab, tmp_path: Path) -> None:
    events, took = await _session_losing_hosts(spare_lab, tmp_path, "h1")
    # A vanished host answers nothing: "no route to host" after ~3 s of ARP, or silence until the connect timeout.
    assert took < VANISHED_BOUND, f"the session ended {took:.1f}s after h1 vanished (bound {VANISHED_BOUND:g}s)"
    stop = _one(events, "emergency-stop")
    assert stop.data["source"] == "target-lost" and stop.data["reason"].startswith("lost contact with h1")
    reverted = [e.data["target"] for e in events if e.type == "fault-reverted" and e.data["verified"]]
    assert reverted == ["h2"]  # the host still there is rolled back, verified
    assert [e.data["target"] for e in events if e.type == "fault-revert-failed"] == ["h1"]
    ended = _one(events, "session-ended")
    assert (ended.data["outcome"], ended.data["unconfirmed"]) == ("rolled-back", ["h1"])
    assert "nft" not in spare_lab.exec("h2", "nft list tables").stdout
