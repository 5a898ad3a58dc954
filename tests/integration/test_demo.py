"""The embedded demo end to end: real sample shop, real prober, real engine, real journal."""

from __future__ import annotations

from pathlib import Path

import httpx

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.headless import build_sources, run_session
from controlroom.journal import read_journal
from controlroom.lab.demo import demo_environment
from controlroom.metrics.conditions import parse_condition
from tests.cli.conftest import controlroom


async def test_the_demo_degrades_then_trips_its_stop_condition_and_rolls_back(tmp_path: Path) -> None:
    journal = tmp_path / "demo.jsonl"
    async with demo_environment() as scenario:
        session = Session(scenario, journal_path=journal, facilitator=AutoFacilitator(),
                          sources=build_sources(scenario))
        outcome = await run_session(session)
        admin = scenario.targets["shop"].url
        async with httpx.AsyncClient(trust_env=False) as client:
            faults = (await client.get(f"{admin}/admin/faults")).json()
    # Nothing is active at exit, as the shop itself reports.
    assert faults["latency_ms"] == 0 and faults["error_rate"] == 0
    assert (outcome.outcome, outcome.unconfirmed) == ("rolled-back", ())

    events = read_journal(journal).events
    milestones = [(e.type, e.data.get("step")) for e in events if e.type in (
        "session-started", "steady-state", "step-briefed", "fault-injecting", "fault-injected", "fault-reverted",
        "condition-breached", "rollback-started", "recovery-measured", "step-completed", "session-ended")]
    assert milestones == [
        ("session-started", None), ("steady-state", None),
        ("step-briefed", "baseline"), ("step-completed", "baseline"),
        ("step-briefed", "slow-checkout"), ("fault-injecting", "slow-checkout"), ("fault-injected", "slow-checkout"),
        ("fault-reverted", None), ("steady-state", None), ("recovery-measured", "slow-checkout"),
        ("step-completed", "slow-checkout"),
        ("step-briefed", "errors"), ("fault-injecting", "errors"), ("fault-injected", "errors"),
        ("condition-breached", None), ("rollback-started", None), ("fault-reverted", None),
        ("steady-state", None), ("recovery-measured", "errors"), ("step-completed", "errors"),
        ("session-ended", None),
    ]
    completed = {e.data["step"]: e.data["outcome"] for e in events if e.type == "step-completed"}
    assert completed == {"baseline": "passed", "slow-checkout": "passed", "errors": "rolled-back"}

    # The latency step degraded the shop but held: p99 rose well above its baseline.
    observed = next(e for e in events if e.type == "observed" and e.data["step"] == "slow-checkout")
    p99 = observed.data["series"]["shop.p99_ms"]
    # The 150 ms step shows: well above 120 ms, and clearly above the baseline. Not "baseline + 100": on a loaded
    # CI machine (4 test workers on 2 cores) the prober's own baseline p99 reached 70 ms once (during: 158 ms).
    assert p99["during"] > 120 and p99["during"] > p99["before"] + 50, p99

    # The stop condition fired within one sample interval (+100 ms) of holding for its `for:` time.
    cond = parse_condition("shop.success_rate < 0.8")
    hold, every = scenario.stop_when.hold, scenario.observe.every
    breach = next(e for e in events if e.type == "condition-breached")
    samples = [e for e in events if e.type == "metric-sample" and e.mono <= breach.mono]
    true_since = None
    for s in samples:
        ok = cond.evaluate(s.data["values"])
        true_since = (true_since if true_since is not None else s.mono) if ok else None
    assert true_since is not None
    assert breach.mono - (true_since + hold) <= every + 0.1
    rollback = next(e for e in events if e.type == "rollback-started")
    assert rollback.mono - breach.mono <= 0.1
    recovery = next(e for e in events if e.type == "recovery-measured" and e.data["step"] == "errors")
    assert recovery.data["held"] is True


def test_demo_headless_from_the_command_line_exits_zero(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    result = controlroom("demo", "--headless", env=env, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo finished as designed: rolled-back" in result.stdout
    journals = list((tmp_path / "data" / "controlroom" / "journals").glob("*.jsonl"))
    assert len(journals) == 1 and read_journal(journals[0]).complete
    # The end summary, as the room's end screen says it: what was faulted, verified clean, and what next.
    path = journals[0]
    out = result.stdout
    assert "faulted: shop (http-latency, http-errors): verified clean — nothing active, all clean" in out
    assert f"journal: {path}" in out
    assert f"controlroom replay {path}" in out
    assert f"controlroom report {path} --format html -o report.html" in out


def test_a_killed_demo_leaves_no_shop_behind(tmp_path: Path) -> None:
    """The shop runs in its own session (Ctrl-C reaches only the room), yet dies with a SIGKILLed room."""
    import os
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time

    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    journal = tmp_path / "demo.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "demo", "--headless", "--journal", str(journal)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (journal.exists() and "session-started" in journal.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, "the demo never started"
            time.sleep(0.1)
        port = int(re.search(r"127\.0\.0\.1:(\d+)", read_journal(journal).header["scenario_text"]).group(1))  # type: ignore[union-attr]
        socket.create_connection(("127.0.0.1", port), timeout=1).close()  # the shop is up
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                break  # refused: the shop is gone
            assert time.monotonic() < deadline, "the shop outlived the killed control room"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
