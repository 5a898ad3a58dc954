"""A whole session watched by a command probe that starts printing NaN, or nothing, mid-step: the stop
condition on it is blind, so that is lost telemetry and the fault is rolled back (before, both read as a
healthy 1.0 and the fault ran to the end of its step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.lab.demo_service import DemoService
from controlroom.metrics.command import CommandSource
from controlroom.scenario import load_scenario_text
from tests.sessions import run_watched

SCENARIO = """
version: 1
name: command-goes-blind
hypothesis: orders keep flowing
environment: lab
targets:
  shop: {{http: "{shop}"}}
observe:
  every: 250ms
  lost_after: 1s
  metrics:
    rows: {{command: "cat {answer}"}}
steady_state:
  window: 1s
  require: [rows >= 1]
blast_radius: {{max_targets: 1, max_duration: 1m, allowed_environments: [lab]}}
stop_when: {{conditions: [rows > 100000]}}
steps:
  - id: slow
    title: slow shop
    fault: {{type: http-latency, target: shop, delay: 20ms}}
    duration: 20s
    confirm: false
"""


@pytest.mark.parametrize("printed", ["NaN\n", ""], ids=["nan", "nothing"])
async def test_a_command_probe_going_blind_mid_step_is_lost_telemetry(tmp_path: Path, printed: str) -> None:
    answer = tmp_path / "rows.txt"
    answer.write_text("1234\n")
    shop = DemoService(seed=9)
    await shop.start()
    try:
        sc = load_scenario_text(SCENARIO.format(shop=shop.url, answer=answer), "blind.yaml")
        run = await run_watched(sc, tmp_path / "j.jsonl", CommandSource.for_scenario(sc),
                                when_injected=lambda _: answer.write_text(printed), recovery_timeout=1.0)
    finally:
        await shop.stop()
    events = run.events
    assert run.outcome.outcome == "rolled-back", run.outcome
    lost = next(e for e in events if e.type == "telemetry-lost")
    assert lost.data["source"] == "command:rows" and lost.data["policy"] == "rollback"
    assert ("'NaN', which is not a number" if printed else "printed nothing") in lost.data["detail"]
    assert lost.mono - next(e for e in events if e.type == "fault-injected").mono < 2.5
    assert next(e for e in events if e.type == "emergency-stop").data["source"] == "telemetry"
    assert shop.faults.snapshot()["latency_ms"] == 0
    assert run.took < 15
