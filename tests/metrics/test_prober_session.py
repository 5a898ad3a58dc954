"""A whole session watched by the built-in prober: a service that starts trickling its answers mid-step must
not leave the stop condition blind (before, the window emptied and every figure was None for the whole step)."""

from __future__ import annotations

from pathlib import Path

from controlroom.lab.demo_service import DemoService
from controlroom.metrics.prober import HttpProber
from controlroom.scenario import load_scenario_text
from tests.metrics.test_prober import LyingServer
from tests.sessions import run_watched

SCENARIO = """
version: 1
name: trickling-checkout
hypothesis: checkout stays up
environment: lab
targets:
  shop: {{http: "{shop}"}}
observe:
  every: 250ms
  lost_after: 1s
  metrics:
    checkout: {{probe: "{probe}", timeout: 300ms}}
steady_state:
  window: 1s
  require: [checkout.success_rate >= 0.9]
blast_radius: {{max_targets: 1, max_duration: 1m, allowed_environments: [lab]}}
stop_when: {{conditions: [checkout.success_rate < 0.5]}}
steps:
  - id: slow
    title: slow shop
    fault: {{type: http-latency, target: shop, delay: 20ms}}
    duration: 20s
    confirm: false
"""


async def test_a_service_that_trickles_mid_step_trips_the_stop_condition(tmp_path: Path) -> None:
    shop = DemoService(seed=8)
    await shop.start()
    lying = LyingServer("ok")
    try:
        async with lying as probe_url:
            sc = load_scenario_text(SCENARIO.format(shop=shop.url, probe=probe_url), "trickle.yaml")
            spec = sc.observe.metrics["checkout"]
            prober = HttpProber("checkout", probe_url, every=sc.observe.every, timeout=spec.timeout)
            run = await run_watched(sc, tmp_path / "j.jsonl", prober,
                                    when_injected=lambda _: setattr(lying, "mode", "trickle"), recovery_timeout=1.0)
    finally:
        await shop.stop()
    events = run.events
    assert run.outcome.outcome == "rolled-back", run.outcome
    breach = next(e for e in events if e.type == "condition-breached")
    injected = next(e for e in events if e.type == "fault-injected")
    assert breach.data["condition"] == "checkout.success_rate < 0.5" and breach.data["value"] < 0.5
    assert breach.mono - injected.mono < 4.0
    assert shop.faults.snapshot()["latency_ms"] == 0
    assert run.took < 15  # not the 20 s step
