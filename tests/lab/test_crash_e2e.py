"""End to end in the lab: `controlroom run --headless --yes` killed with SIGKILL mid-fault.

Nothing may outlive the leash: every host is clean within the heartbeat window
(10 s by default) after the kill, checked by listing nft tables and qdiscs on
each host. `recover JOURNAL`
cleans up at once, and running it again changes nothing. A host whose SSH link
is cut mid-step is reported unconfirmed, and confirmed by the session itself
once the link is back.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import HeadlessRun, assert_clean, host_state, lab_scenario, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

STEPS = """\
  - id: cut
    title: partition h1 from h3 and throttle h2
    faults:
      - {{type: partition, target: h1, peers: [{h3}]}}
      - {{type: bandwidth, target: h2, rate: 1mbit}}
    duration: {duration}
    confirm: false
"""


def start_and_kill_once_injected(lab: Lab, tmp_path: Path, duration: str) -> HeadlessRun:
    scenario = lab_scenario(lab, tmp_path, "lab-crash", "the lab hosts are clean after the control room dies",
                            ["h1", "h2"], STEPS.format(h3=lab.host("h3").ip, duration=duration))
    run = HeadlessRun(lab, tmp_path, scenario)
    try:
        run.wait_for("fault-injected", 30, count=2)
    finally:
        run.proc.send_signal(signal.SIGKILL)
        run.kill()
    assert "table inet controlroom" in host_state(lab, "h1") and "c0de" in host_state(lab, "h2")
    return run


@pytest.mark.slow
def test_sigkill_mid_fault_leaves_every_host_clean_within_the_leash(lab: Lab, tmp_path: Path) -> None:
    run = start_and_kill_once_injected(lab, tmp_path, "2s")
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
    run.recover()


def test_recover_after_sigkill_reverts_at_once_and_is_idempotent(lab: Lab, tmp_path: Path) -> None:
    run = start_and_kill_once_injected(lab, tmp_path, "60s")
    for _ in range(2):
        started = time.monotonic()
        run.recover()  # asserts it exits 0
        assert time.monotonic() - started < 10
        for h in lab.hosts:
            assert_clean(lab, h.name)


CUT_STEPS = """\
  - id: slow
    title: throttle h2
    fault: {type: bandwidth, target: h2, rate: 1mbit}
    duration: 3s
    confirm: false
"""

CUT = ("nft add table inet crtestcut; "
       "nft add chain inet crtestcut input '{ type filter hook input priority -20; policy accept; }'; "
       "nft add rule inet crtestcut input tcp dport 22 reject with tcp reset")


def cut_run(lab: Lab, tmp_path: Path) -> HeadlessRun:
    scenario = lab_scenario(lab, tmp_path, "lab-cut-link",
                            "a host whose SSH link is cut mid-step is reported, not silently assumed clean", ["h2"],
                            CUT_STEPS, steady_state=False, tail="unobserved: true\n")
    return HeadlessRun(lab, tmp_path, scenario)


def test_a_cut_ssh_link_is_reported_unconfirmed_then_recover_confirms_it(lab: Lab, tmp_path: Path) -> None:
    run = cut_run(lab, tmp_path)
    try:
        run.wait_for("fault-injected", 30)
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
    run.recover()  # asserts it exits 0
    assert_clean(lab, "h2")


def test_a_cut_ssh_link_is_confirmed_by_the_session_once_the_link_is_back(lab: Lab, tmp_path: Path) -> None:
    run = cut_run(lab, tmp_path)
    try:
        run.wait_for("fault-injected", 30)
        assert lab.exec("h2", CUT).returncode == 0
        run.wait_for("fault-revert-failed", 60)  # the session says it cannot confirm h2...
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
