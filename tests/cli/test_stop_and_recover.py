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


def test_controlroom_stop_rolls_back_a_running_session(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    journal = tmp_path / "j.jsonl"
    proc = _start_run(shop_scenario(tmp_path, shop), journal, env)
    try:
        _wait_for_line(proc, "injected on shop")
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
    journal = tmp_path / "j.jsonl"
    proc = _start_run(shop_scenario(tmp_path, shop), journal, env)
    _wait_for_line(proc, "injected on shop")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    assert admin_faults(shop)["latency_ms"] == 0
    stop = next(e for e in read_journal(journal).events if e.type == "emergency-stop")
    assert stop.data["source"] == "signal" and "SIGTERM" in stop.data["reason"]


def test_recover_reverts_what_a_killed_session_left_and_is_idempotent(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    journal = tmp_path / "j.jsonl"
    proc = _start_run(shop_scenario(tmp_path, shop), journal, env)
    _wait_for_line(proc, "injected on shop")
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
    assert "CRASHED" in status.stdout  # the registry shows the dead session until it is cleaned up


def test_the_leash_reverts_a_killed_session_by_itself(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    """An http fault is leashed service-side: its TTL is the step duration plus the grace."""
    journal = tmp_path / "j.jsonl"
    proc = _start_run(shop_scenario(tmp_path, shop, duration="1s"), journal, env)
    _wait_for_line(proc, "injected on shop")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    injecting = next(e for e in read_journal(journal).events if e.type == "fault-injecting")
    leash_s = injecting.data["leash_s"]
    assert leash_s is not None and leash_s <= 31.0
    remaining = admin_faults(shop).get("expires_in_s")
    assert remaining is not None and 0 < float(remaining) <= leash_s  # type: ignore[arg-type]
