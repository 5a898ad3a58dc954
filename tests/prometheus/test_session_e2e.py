"""Whole sessions through the engine with PromQL series: a real metric change trips the stop condition,
and a Prometheus killed mid-step applies the lost-telemetry policy. Both roll the shop's fault back."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from controlroom.journal.events import Event
from controlroom.metrics.local_prometheus import LocalPrometheus
from controlroom.metrics.prometheus import PrometheusSource
from controlroom.scenario import load_scenario_text
from tests.prometheus.conftest import SUCCESS_RATE, Lab
from tests.sessions import Watched, run_watched

SCENARIO = """
version: 1
name: e2e-prometheus
hypothesis: checkout stays up
environment: lab
targets:
  shop: {{http: "http://127.0.0.1:{port}", labels: {{service: shop}}}}
observe:
  every: 500ms
  prometheus: {{url: "{prom}", timeout: 1s}}
  lost_telemetry: {policy}
  lost_after: 2s
  metrics:
    success_rate: {{promql: '{rate}'}}
    alive: {{promql: 'vector(1)'}}
steady_state:
  window: 2s
  require: [{require}]
blast_radius: {{max_targets: 1, max_duration: 1m, allowed_environments: [lab]}}
stop_when: {{conditions: [success_rate < 0.9], for: 1s}}
steps:
  - id: fault
    title: the fault
    fault: {fault}
    duration: 25s
    confirm: false
"""


def scenario(lab: Lab, prom_url: str, *, policy: str, require: str, fault: str):  # type: ignore[no-untyped-def]
    text = SCENARIO.format(port=lab.service.port, prom=prom_url, policy=policy, require=require, fault=fault,
                           rate=SUCCESS_RATE.replace("'", "''"))
    return load_scenario_text(text, "e2e.yaml")


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


async def test_a_real_error_burst_trips_the_stop_condition_and_rolls_back(prom_lab: Lab, tmp_path: Path) -> None:
    sc = scenario(prom_lab, prom_lab.prometheus.url, policy="rollback", require="success_rate >= 0.95",
                  fault="{type: http-errors, target: shop, rate: 60%}")
    source = PrometheusSource(sc.observe.prometheus, sc.observe.metrics)  # type: ignore[arg-type]
    try:
        run = await run_watched(sc, tmp_path / "j.jsonl", source)
    finally:
        prom_lab.service.clear()
    events = run.events
    assert run.outcome.outcome == "rolled-back", run.outcome
    [breach] = [e for e in events if e.type == "condition-breached"]
    assert breach.get("condition") == "success_rate < 0.9" and breach.get("value") < 0.9
    [stop] = [e for e in events if e.type == "emergency-stop"]
    assert stop.get("source") == "stop-condition"
    injected = next(e for e in events if e.type == "fault-injected")
    # Through Prometheus (1 s scrapes, rate over 5 s) plus the 1 s hold: seconds, not the 25 s step.
    assert breach.mono - injected.mono < 12
    assert "fault-reverted" in types(events)
    assert prom_lab.service.admin("GET")["error_rate"] == 0.0
    assert run.took < 60
    # The sparklines started with Prometheus' own history from before the session...
    [backfill] = [e for e in events if e.type == "metric-backfill"]
    history = backfill.get("samples")
    assert len(history) >= 5 and all(t < 0 for t, _ in history)  # before the session started
    assert any(values.get("alive") == 1.0 for _, values in history)
    from controlroom.viewstate import fold

    room = fold(events[: events.index(backfill) + 1])
    assert len(room.series["alive"].values) == len(history)
    # ...and the monitor journaled PromQL values as they came.
    samples = [e for e in events if e.type == "metric-sample"]
    assert all(set(e.get("values")) == {"alive", "success_rate"} for e in samples)
    json.dumps([e.data for e in events])  # plain JSON throughout (no NaN)


async def prometheus_killed_mid_step(prom_lab: Lab, tmp_path: Path, policy: str,
                                     step_seconds: float | None = None) -> Watched:
    """A session watching `alive` (vector(1)) on a Prometheus of its own, killed once the shop's latency fault
    is in, under the lost-telemetry `policy`."""
    prom = LocalPrometheus([], interval=1.0).start()  # its own, to kill; `vector(1)` needs no scrape
    sc = scenario(prom_lab, prom.url, policy=policy, require="alive == 1",
                  fault="{type: http-latency, target: shop, delay: 20ms}")
    if step_seconds is not None:
        sc = replace(sc, steps=(replace(sc.steps[0], duration=step_seconds),))
    source = PrometheusSource(sc.observe.prometheus, {"alive": sc.observe.metrics["alive"]})  # type: ignore[arg-type]
    try:
        # Recovery cannot be measured blind; do not wait the default 30 s for it.
        return await run_watched(sc, tmp_path / "j.jsonl", source, when_injected=lambda _: prom.kill(),
                                 recovery_timeout=2.0)
    finally:
        prom.stop()
        prom_lab.service.clear()


async def test_prometheus_killed_mid_step_is_lost_telemetry_and_rolls_back(prom_lab: Lab, tmp_path: Path) -> None:
    run = await prometheus_killed_mid_step(prom_lab, tmp_path, "rollback")
    events = run.events
    assert run.outcome.outcome == "rolled-back", run.outcome
    [lost] = [e for e in events if e.type == "telemetry-lost"]
    assert lost.get("source") == "prometheus" and lost.get("policy") == "rollback"
    assert "cannot reach Prometheus" in lost.get("detail")
    [stop] = [e for e in events if e.type == "emergency-stop"]
    assert stop.get("source") == "telemetry"
    injected = next(e for e in events if e.type == "fault-injected")
    assert 1.5 <= lost.mono - injected.mono < 6  # lost_after is 2 s
    assert "fault-reverted" in types(events)
    assert prom_lab.service.admin("GET")["latency_ms"] == 0


async def test_with_policy_warn_the_step_runs_on_blind(prom_lab: Lab, tmp_path: Path) -> None:
    events = (await prometheus_killed_mid_step(prom_lab, tmp_path, "warn", step_seconds=5.0)).events
    [lost] = [e for e in events if e.type == "telemetry-lost"]
    assert lost.get("policy") == "warn"
    assert "emergency-stop" not in types(events)
    assert any(e.type == "warning" and "lost" in e.get("message") for e in events)
    # The step ran its full 5 s and was reverted at its end, not by a rollback.
    reverted = next(e for e in events if e.type == "fault-reverted")
    injected = next(e for e in events if e.type == "fault-injected")
    assert reverted.mono - injected.mono >= 4.9
