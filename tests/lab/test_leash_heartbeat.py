"""The dead-man leash and the host claim on real lab hosts (sshd, nft, the host's own /run/controlroom).

A room killed with SIGKILL at the start of a two-minute step leaves its partition for at most the heartbeat
window, not for the step. A second room's pre-flight on a host the first one holds refuses, naming it, and
injects nothing; once the first room ends, the second one runs.
"""
# ruff: noqa: ASYNC110  (tests look at the host synchronously, polling on purpose)

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlroom.faults.claim import HELD_EXIT, HostClaim, judge_claim
from controlroom.faults.plan import LEASH_GONE_EXIT
from controlroom.lab.netns import Lab
from controlroom.targets.ssh import SshExecutor
from tests.faults.test_host_lab import inject, make_plan
from tests.lab.fixtures import HeadlessRun, assert_clean, host_state, lab_scenario, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

WINDOW = 5.0  # the scenarios below use the floor, so the tests stay short


@pytest.fixture
async def h3(lab: Lab) -> AsyncIterator[SshExecutor]:
    ex = SshExecutor("h3", "h3", config=[str(lab.config.ssh_config)])
    yield ex
    await ex.close()


def claim_line(lab: Lab, host: str) -> str:
    return lab.exec(host, "cat /run/controlroom/claim 2>/dev/null || true").stdout.strip()


async def test_a_claim_is_taken_refused_to_another_room_taken_over_once_stale_and_never_released_by_others(
        lab: Lab, h3: SshExecutor) -> None:
    a = HostClaim("room-a", 111, "alice@desk", "2026-01-01T10:00:00Z")
    b = HostClaim("room-b", 222, "bob@laptop", "2026-01-01T10:05:00Z")
    lab.exec("h3", "rm -f /run/controlroom/claim")
    assert judge_claim("h3", await h3.run(a.take(30))).detail == "ok"
    assert claim_line(lab, "h3").startswith("session=room-a pid=111 by=alice@desk since=2026-01-01T10:00:00Z ")
    refused = await h3.run(b.take(30))
    assert refused.status == HELD_EXIT
    answer = judge_claim("h3", refused)
    assert not answer.ok and answer.detail.startswith(
        "h3 is under fault by session room-a (pid 111, facilitator alice@desk, since 2026-01-01T10:00:00Z)")
    assert (await h3.run(b.release())).ok
    assert "session=room-a" in claim_line(lab, "h3")  # B's release never removes A's claim
    assert judge_claim("h3", await h3.run(a.take(1)), renewing=True).ok  # A renews, with a 1 s window
    await asyncio.sleep(2.2)  # A goes silent: its claim expires
    stale = judge_claim("h3", await h3.run(b.take(30)))
    assert stale.ok and stale.previous is not None and stale.previous.session == "room-a"
    assert "took over the stale claim of session room-a (pid 111" in stale.detail
    assert (await h3.run(a.release())).ok
    assert "session=room-b" in claim_line(lab, "h3")  # nor does A's remove B's
    assert (await h3.run(b.release())).ok
    assert claim_line(lab, "h3") == ""


async def test_a_renewal_moves_a_live_guard_and_reports_one_that_fired(lab: Lab, h3: SshExecutor) -> None:
    plan = make_plan(lab, "partition", {"peers": [lab.host("h2").ip]}, target="h3")
    assert plan.leash is not None
    # A 4 s window renewed every second: deadlines are whole seconds on the host (`date +%s`) and the guard
    # polls once a second, so a window of 2 s could pass between two renewals on a loaded machine.
    await inject(h3, plan, leash=4.0)
    for _ in range(5):  # 5 s of renewals: still in
        await asyncio.sleep(1.0)
        assert (await h3.run(plan.leash.renewal(4.0))).ok
    assert "table inet controlroom" in host_state(lab, "h3")
    deadline = time.monotonic() + 10
    while "inet controlroom" in host_state(lab, "h3") and time.monotonic() < deadline:
        await asyncio.sleep(0.25)  # no more renewals: the guard fires
    late = await h3.run(plan.leash.renewal(4.0))
    assert late.status == LEASH_GONE_EXIT and plan.leash.fired(late) and "not running" in late.detail
    assert_clean(lab, "h3")  # the renewal neither restarted a guard nor left a deadline file


STEPS = """\
  - id: cut
    title: partition h1 from h3 for two minutes
    fault: {{type: partition, target: h1, peers: [{h3}]}}
    duration: {duration}
    confirm: false
"""


def room(lab: Lab, tmp_path: Path, name: str, duration: str) -> HeadlessRun:
    """A room named `name` with a runtime dir of its own (two rooms run at once), its leash the WINDOW."""
    scenario = lab_scenario(lab, tmp_path, name, "the lab host is clean soon after the room dies", ["h1"],
                            STEPS.format(h3=lab.host("h3").ip, duration=duration), max_duration="5m", leash=WINDOW)
    return HeadlessRun(lab, tmp_path, scenario,
                       CONTROLROOM_RUNTIME_DIR=os.environ["CONTROLROOM_RUNTIME_DIR"] + f"-{name}")


def test_a_room_killed_at_the_start_of_a_long_step_leaves_nothing_after_the_window(lab: Lab, tmp_path: Path) -> None:
    long = room(lab, tmp_path, "long-step", "120s")
    try:
        long.wait_for("fault-injected", 30)
    finally:
        long.proc.send_signal(signal.SIGKILL)
        long.kill()
    killed = time.monotonic()
    assert "table inet controlroom" in host_state(lab, "h1")
    injecting = next(e for e in long.events() if e["type"] == "fault-injecting")
    assert injecting["leash_s"] == WINDOW  # armed for the window, not for the 120 s step
    while "inet controlroom" in host_state(lab, "h1") and time.monotonic() - killed < WINDOW + 6:
        time.sleep(0.2)
    elapsed = time.monotonic() - killed
    assert "inet controlroom" not in host_state(lab, "h1"), "the partition outlived the room by more than the window"
    assert elapsed <= WINDOW + 3, f"clean only {elapsed:.1f}s after the kill (window {WINDOW:g}s)"
    assert_clean(lab, "h1")
    assert "session=" in claim_line(lab, "h1")  # the dead room's claim stays until it expires (or recover)...
    long.recover()  # asserts it exits 0
    assert claim_line(lab, "h1") == ""  # ...and recover releases it: it names the journal's own session


def test_a_second_room_is_refused_on_a_host_the_first_holds_and_runs_once_it_ended(
        lab: Lab, tmp_path: Path) -> None:
    first = room(lab, tmp_path, "room-a", "120s")
    try:
        first.wait_for("fault-injected", 30)
        session_a = next(e for e in first.events() if e["type"] == "session-started")["session"]
        second = room(lab, tmp_path, "room-b", "2s")
        out = second.finish(60)
        assert second.proc.returncode == 2, out
        refused = f"h1 is under fault by session {session_a} (pid {first.proc.pid}, facilitator "
        assert refused in out, out
        types = [e["type"] for e in second.events()]
        assert "fault-injecting" not in types  # nothing injected by the second room...
        assert "table inet controlroom" in host_state(lab, "h1")  # ...and the first room's partition untouched
        assert f"session={session_a} " in claim_line(lab, "h1")
        os.kill(first.proc.pid, signal.SIGTERM)  # the first room ends: rolls back, verifies, releases its claim
        out_a = first.finish(60)
        assert first.proc.returncode == 1 and "rollback finished: all clean" in out_a, out_a
    finally:
        first.kill()
    assert_clean(lab, "h1")
    assert claim_line(lab, "h1") == ""
    third = room(lab, tmp_path, "room-b-again", "2s")
    out = third.finish(90)
    assert third.proc.returncode == 0, out
    assert [e["type"] for e in third.events()].count("fault-reverted") == 1
    assert_clean(lab, "h1")
    assert claim_line(lab, "h1") == ""
