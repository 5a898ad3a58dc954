"""Stopping a running session from outside, and recovering after a crash: nothing stays injected."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controlroom.journal import read_journal
from tests.cli.conftest import admin_faults, controlroom, shop_scenario


def _start_run(scenario: Path, journal: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(scenario), "--headless", "--yes", "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen; output so far:\n{''.join(lines)}")


def injected_run(shop: str, tmp_path: Path, env: dict[str, str],
                 **scenario: str) -> tuple[subprocess.Popen[str], Path]:
    """A headless run of the shop scenario (`scenario`: shop_scenario's knobs), returned once it said its fault is
    in, with its journal; killed if it never says so within 30 s."""
    journal = tmp_path / "j.jsonl"
    proc = _start_run(shop_scenario(tmp_path, shop, **scenario), journal, env)
    try:
        _wait_for_line(proc, "injected on shop")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, journal


def test_controlroom_stop_rolls_back_a_running_session(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    try:
        assert admin_faults(shop)["latency_ms"] == 200
        status = controlroom("status", env=env)
        assert "shop-latency" in status.stdout
        stopped = controlroom("stop", env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert "all faults reverted and verified clean" in stopped.stdout
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert admin_faults(shop)["latency_ms"] == 0
    types = [e.type for e in read_journal(journal).events]
    assert "emergency-stop" in types and types[-1] == "session-ended"
    assert controlroom("status", env=env).stdout.strip() == "no sessions running on this machine"


def test_sigterm_goes_through_the_rollback_path(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    assert admin_faults(shop)["latency_ms"] == 0
    stop = next(e for e in read_journal(journal).events if e.type == "emergency-stop")
    assert stop.data["source"] == "signal" and "SIGTERM" in stop.data["reason"]


def test_recover_reverts_what_a_killed_session_left_and_is_idempotent(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert admin_faults(shop)["latency_ms"] == 200  # the crash left the fault in (until its leash runs out)
    first = controlroom("recover", str(journal), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 fault(s) may still be active" in first.stdout and "all clean" in first.stdout
    assert admin_faults(shop)["latency_ms"] == 0
    second = controlroom("recover", str(journal), env=env)
    assert second.returncode == 0 and "all clean" in second.stdout
    status = controlroom("status", env=env)
    assert "CRASHED" not in status.stdout and "gone, recovered" in status.stdout  # recover marked it
    cleaned = controlroom("status", "--clean", env=env)
    assert "removed " in cleaned.stdout and "(recovered;" in cleaned.stdout
    assert cleaned.stdout.strip().endswith("no sessions running on this machine")


def test_status_keeps_a_crashed_session_nobody_recovered_even_with_clean(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cleaned = controlroom("status", "--clean", env=env)
    assert "removed" not in cleaned.stdout
    assert f"CRASHED (run: controlroom recover {journal}" in cleaned.stdout  # it may have left a fault behind


def test_the_leash_reverts_a_killed_session_by_itself(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    """An http fault is leashed service-side: its TTL is the heartbeat window, whatever the step's length."""
    proc, journal = injected_run(shop, tmp_path, env, duration="1s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    injecting = next(e for e in read_journal(journal).events if e.type == "fault-injecting")
    leash_s = injecting.data["leash_s"]
    assert leash_s == 10.0
    remaining = admin_faults(shop).get("expires_in_s")
    assert remaining is not None and 0 < float(remaining) <= leash_s  # type: ignore[arg-type]


def test_an_http_fault_ttl_is_renewed_while_the_room_lives_and_runs_out_soon_after_it_dies(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    """A 60 s step with a 5 s leash: the service-side TTL never exceeds 5 s, yet the fault stays in (renewed by
    re-posting) while the room lives; after a SIGKILL it clears within the window, not at the step's end."""
    proc, journal = injected_run(shop, tmp_path, env, duration="60s", leash="5s")
    try:
        seen: list[float] = []
        until = time.monotonic() + 8.0  # longer than the window: without renewals the fault would be gone
        while time.monotonic() < until:
            faults = admin_faults(shop)
            assert faults["latency_ms"] == 200, faults
            seen.append(float(faults["latency_expires_in_s"]))  # type: ignore[arg-type]
            time.sleep(0.25)
        assert max(seen) <= 5.0 and min(seen) > 0, seen
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = time.monotonic()
    while admin_faults(shop)["latency_ms"] != 0 and time.monotonic() - killed < 8.0:
        time.sleep(0.1)
    assert admin_faults(shop)["latency_ms"] == 0
    assert time.monotonic() - killed <= 5.0 + 0.5
    renewed = [e for e in read_journal(journal).events if e.type == "leash-renewed"]
    assert renewed and all(e.data["faults"] == ["slow/0@shop"] and e.data["leash_s"] == 5.0 for e in renewed)
