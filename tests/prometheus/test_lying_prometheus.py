"""A Prometheus that answers, but with nothing to see — HTTP 500, an empty vector, NaN, a replayed answer —
mid-step is lost telemetry within `lost_after`, and the policy reverts the fault (a stand-in on loopback
lies on cue; the demo shop is the real faulted service)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlroom.journal.events import Event
from controlroom.lab.demo_service import DemoService
from controlroom.metrics.local_prometheus import LocalPrometheus
from controlroom.metrics.prometheus import PrometheusSource
from controlroom.scenario import load_scenario_text
from tests.deps import require
from tests.prometheus.standin import StandInPrometheus
from tests.sessions import run_watched

SCENARIO = """
version: 1
name: lying-prometheus
hypothesis: checkout stays up
environment: lab
targets:
  shop: {{http: "{shop}", labels: {{service: shop}}}}
observe:
  every: 250ms
  prometheus: {{url: "{prom}", timeout: 1s}}
  lost_telemetry: {policy}
  lost_after: 1s
  metrics:
    alive: {{promql: 'up{{job="shop"}}'}}
    shown: {{promql: 'vector(1)'}}
steady_state:
  window: 1s
  require: [alive == 1]
blast_radius: {{max_targets: 1, max_duration: 1m, allowed_environments: [lab]}}
stop_when: {{conditions: [alive < 1]}}
steps:
  - id: slow
    title: slow shop
    fault: {{type: http-latency, target: shop, delay: 20ms}}
    duration: 20s
    confirm: false
  - id: slower
    title: slower shop
    fault: {{type: http-latency, target: shop, delay: 40ms}}
    duration: 20s
    confirm: false
"""
ALIVE = 'up{job="shop"}'


@pytest.fixture
async def shop() -> AsyncIterator[DemoService]:
    svc = DemoService(seed=5)
    await svc.start()
    yield svc
    await svc.stop()


async def _run(shop: DemoService, prom: StandInPrometheus, tmp_path: Path, policy: str,
               lie: dict[str, str]) -> tuple[list[Event], float]:
    sc = load_scenario_text(SCENARIO.format(shop=shop.url, prom=prom.url, policy=policy), "lying.yaml")
    source = PrometheusSource(sc.observe.prometheus, sc.observe.metrics)  # type: ignore[arg-type]
    run = await run_watched(sc, tmp_path / "j.jsonl", source, when_injected=lambda _: prom.modes.update(lie),
                            recovery_timeout=1.0)
    return run.events, run.took


def _one(events: list[Event], type_: str) -> Event:
    return next(e for e in events if e.type == type_)


@pytest.mark.parametrize(("lie", "feed", "says"), [
    ({ALIVE: "500", "vector(1)": "500"}, "prometheus", "refused every query: Prometheus could not run the query (HTTP 500)"),
    ({ALIVE: "500"}, "prometheus:alive", "could not run the query (HTTP 500)"),
    ({ALIVE: "empty"}, "prometheus:alive", "empty result"),
    ({ALIVE: "nan"}, "prometheus:alive", "NaN is not a number"),
    ({ALIVE: "stale", "vector(1)": "stale"}, "prometheus:alive", "stale: the answer is stamped"),
], ids=["500-every-query", "500-one-series", "empty-vector", "nan", "stale"])
async def test_a_lying_prometheus_mid_step_is_lost_telemetry_and_the_fault_is_rolled_back(
        shop: DemoService, tmp_path: Path, lie: dict[str, str], feed: str, says: str) -> None:
    with StandInPrometheus() as prom:
        events, took = await _run(shop, prom, tmp_path, "rollback", lie)
    lost = _one(events, "telemetry-lost")
    assert lost.data["source"] == feed and says in lost.data["detail"], lost.data
    assert _one(events, "emergency-stop").data["source"] == "telemetry"
    injected, reverted = _one(events, "fault-injected"), _one(events, "fault-reverted")
    # lost_after (1 s) after the last good answer, which came up to one interval (0.25 s) before the lie.
    assert 0.75 <= lost.mono - injected.mono <= 2.0
    assert reverted.data["verified"] is True and reverted.mono - lost.mono < 1.0
    assert _one(events, "session-ended").data["outcome"] == "rolled-back"
    assert shop.faults.snapshot()["latency_ms"] == 0
    assert took < 15  # not the 20 s step


async def test_under_pause_a_blind_fault_is_reverted_and_the_session_held(shop: DemoService, tmp_path: Path) -> None:
    with StandInPrometheus() as prom:
        events, took = await _run(shop, prom, tmp_path, "pause", {ALIVE: "empty"})
    lost = _one(events, "telemetry-lost")
    assert lost.data["policy"] == "pause" and lost.data["source"] == "prometheus:alive"
    stop = _one(events, "emergency-stop")
    assert stop.data["source"] == "telemetry" and "prometheus:alive" in stop.data["reason"]
    assert _one(events, "fault-reverted").mono - lost.mono < 1.0
    assert shop.faults.snapshot()["latency_ms"] == 0
    # Held: the next step is never injected.
    assert [e.data["step"] for e in events if e.type == "fault-injecting"] == ["slow"]
    assert took < 15


async def test_a_real_prometheus_whose_target_vanished_answers_empty_and_that_is_lost_telemetry(
        shop: DemoService, tmp_path: Path) -> None:
    """The real thing: Prometheus keeps answering 200, but the scraped exporter is gone, its series are marked
    stale and the query comes back empty — the stop condition on it is blind, so the fault is rolled back."""
    require("prometheus")
    exporter = DemoService(seed=6)
    port = await exporter.start()
    prom = LocalPrometheus([f"127.0.0.1:{port}"], interval=1.0).start()
    try:
        await asyncio.to_thread(prom.wait_for_data, "demo_fault_error_ratio", 30)
        text = SCENARIO.format(shop=shop.url, prom=prom.url, policy="rollback").replace(ALIVE, "demo_fault_error_ratio")
        text = text.replace("alive == 1", "alive == 0").replace("alive < 1", "alive > 0.5")
        sc = load_scenario_text(text, "vanished.yaml")
        source = PrometheusSource(sc.observe.prometheus, sc.observe.metrics)  # type: ignore[arg-type]
        run = await run_watched(sc, tmp_path / "j.jsonl", source,
                                when_injected=lambda session: session.spawn(exporter.stop()), recovery_timeout=1.0)
    finally:
        prom.stop()
        await exporter.stop()
    events = run.events
    lost = _one(events, "telemetry-lost")
    assert lost.data["source"] == "prometheus:alive" and "empty result" in lost.data["detail"]
    # One failed scrape (1 s) marks the series stale, then lost_after (1 s).
    assert lost.mono - _one(events, "fault-injected").mono < 4.0
    assert _one(events, "emergency-stop").data["source"] == "telemetry"
    assert shop.faults.snapshot()["latency_ms"] == 0
