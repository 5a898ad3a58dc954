"""Writes the hand-made fixture journals in tests/report/fixtures/ (run: python -m tests.report.make_fixtures).

Each journal is shaped like the engine's (controlroom/engine/session.py): the same header keys and
payloads, one metric sample a second. They are committed; this script documents how they were made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controlroom.journal.events import Event
from controlroom.journal.writer import JournalWriter

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)

SCENARIO = """\
version: 1
name: checkout-survives-slow-db
hypothesis: Checkout keeps >= 99% success and p99 < 800 ms while the payments DB is slow
environment: staging
targets:
  db-1: {ssh: chaos@10.77.0.10, labels: {service: payments-db}}
  api-1: {ssh: chaos@10.77.0.11, labels: {service: api}}
observe:
  every: 1s
  metrics:
    success_rate: {probe: http://10.77.0.11:8080/health}
steady_state:
  window: 5s
  require: [success_rate >= 0.99, p99_ms < 500]
stop_when:
  conditions: [success_rate < 0.95, p99_ms > 5000]
  for: 2s
steps:
  - id: baseline
    title: Confirm steady state
  - id: slow-db
    title: 300 ms on the payments DB
    fault: {type: bandwidth, target: db-1, rate: 1mbit}
    duration: 10s
success_criteria: {recovery_time: 30s, data_loss: orders_rows must not drop}
"""


class _J:
    def __init__(self, name: str, session: str, *, hypothesis: str = "Checkout keeps >= 99% success while the payments DB is slow") -> None:
        path = FIXTURES / f"{name}.jsonl"
        path.unlink(missing_ok=True)
        self.path = path
        self.mono = 0.0
        self.w = JournalWriter(path, {
            "session": session, "scenario": "checkout-survives-slow-db", "hypothesis": hypothesis,
            "environment": "staging", "scenario_path": "scenarios/checkout.yaml", "scenario_text": SCENARIO,
            "started": T0.isoformat(timespec="milliseconds"), "pid": 4242,
        }, fsync=False)
        self.emit("session-started", session=session, scenario="checkout-survives-slow-db", hypothesis=hypothesis,
                  environment="staging",
                  targets=[{"name": "db-1", "kind": "ssh", "labels": {"service": "payments-db"}},
                           {"name": "api-1", "kind": "ssh", "labels": {"service": "api"}}],
                  steps=[{"id": "baseline", "title": "Confirm steady state", "phase": None, "duration": None},
                         {"id": "slow-db", "title": "Slow payments DB", "phase": None, "duration": 10.0}],
                  series=["success_rate", "p99_ms", "orders_rows", "api.success_rate"],
                  limits={"max_targets": 1, "max_duration": 300.0},
                  stop_when=["success_rate < 0.95", "p99_ms > 5000"], steady=["success_rate >= 0.99", "p99_ms < 500"],
                  checklist=[], pid=4242, control=None)

    def emit(self, type_: str, **data: Any) -> None:
        t = (T0 + timedelta(seconds=self.mono)).isoformat(timespec="milliseconds")
        self.w.append(Event(type=type_, t=t, mono=self.mono, data=data))

    def sample(self, success: float | None, p99: float | None, rows: float, api: float = 1.0) -> None:
        self.emit("metric-sample", values={"success_rate": success, "p99_ms": p99, "orders_rows": rows,
                                           "api.success_rate": api}, errors={} if success is not None else
                  {"success_rate": "connection refused"})
        self.mono += 1.0

    def preamble(self, *, netem_missing: bool = False) -> None:
        self.emit("state-changed", state="preflight")
        self.emit("preflight-check", check="reachable", target="db-1", ok=True, detail="ssh ok")
        self.emit("preflight-check", check="tool tbf", target="db-1", ok=True, detail="tc tbf present")
        if netem_missing:
            self.emit("preflight-check", check="tool netem", target="db-1", ok=False,
                      detail="tc qdisc kind netem is unknown on this kernel; optional latency fault skipped")
        for _ in range(5):
            self.sample(1.0, 200.0, 100.0)
        self.emit("steady-state", when="before", ok=True, figures={"success_rate": 1.0, "p99_ms": 200.0}, failed=[])
        self.emit("step-briefed", step="baseline", index=0, title="Confirm steady state", brief="Normal.", expect="",
                  duration=None, phase=None, faults=[], skipped_faults=[])
        self.emit("step-completed", step="baseline", outcome="passed")
        self.emit("step-briefed", step="slow-db", index=1, title="Slow payments DB", brief="Watch checkout.",
                  expect="p99 rises, no errors", duration=10.0, phase=None,
                  faults=[{"fault": "slow-db/0", "type": "bandwidth", "target": "db-1", "summary": "tbf 1mbit on eth0"}],
                  skipped_faults=["slow-db/1"] if netem_missing else [])
        self.emit("step-armed", step="slow-db")
        self.emit("step-confirmed", step="slow-db", decision="confirm", by="facilitator")

    def inject(self, target: str = "db-1") -> None:
        self.emit("fault-injecting", step="slow-db", fault="slow-db/0", fault_type="bandwidth", target=target,
                  summary="tbf 1mbit on eth0", spec={"type": "bandwidth", "target": target, "params": {"rate": 1000000}},
                  leash_s=40.0, duration=10.0)
        self.emit("fault-injected", step="slow-db", fault="slow-db/0", target=target)

    def close(self) -> None:
        self.w.close()


def held() -> None:
    j = _J("held", "a1b2c3d4e5f6")
    j.preamble()
    j.inject()
    for i in range(10):
        j.sample(0.995 if i % 2 else 0.99, 400.0 + 10 * i, 100.0 + i)
    j.emit("note", text="p99 up as expected, no errors", author="facilitator")
    j.emit("fault-reverted", fault="slow-db/0", target="db-1", verified=True)
    for _ in range(2):
        j.sample(1.0, 300.0, 110.0)
    j.emit("recovery-measured", step="slow-db", seconds=2.0, held=True, criterion_s=30.0)
    for _ in range(5):
        j.sample(1.0, 200.0, 110.0)
    j.emit("steady-state", when="after:slow-db", ok=True, figures={"success_rate": 1.0, "p99_ms": 200.0}, failed=[])
    j.emit("observed", step="slow-db", series={"success_rate": {"before": 1.0, "during": 0.9925, "after": 1.0, "peak": 0.995},
                                              "p99_ms": {"before": 200.0, "during": 445.0, "after": 228.6, "peak": 490.0}})
    j.emit("step-completed", step="slow-db", outcome="passed")
    j.emit("session-ended", outcome="held", exit_code=0, unconfirmed=[], message="hypothesis held")
    j.close()


def breach() -> None:
    j = _J("breach", "b2c3d4e5f6a1")
    j.preamble(netem_missing=True)
    j.inject()
    for i in range(4):
        j.sample(0.9 - 0.2 * i, 900.0 + 500 * i, 100.0, api=0.8 - 0.1 * i)
    j.emit("condition-breached", condition="success_rate < 0.95", value=0.5, held_s=2.0)
    j.emit("emergency-stop", source="stop-condition", reason="success_rate < 0.95 for 2s")
    j.emit("rollback-started", reason="success_rate < 0.95 for 2s", faults=["slow-db/0"])
    j.emit("fault-reverted", fault="slow-db/0", target="db-1", verified=True)
    j.emit("rollback-finished", clean=True, unconfirmed=[])
    for i in range(45):
        ok = i >= 44
        j.sample(1.0 if ok else 0.9, 200.0 if ok else 700.0, 98.0, api=1.0 if ok else 0.9)
    j.emit("recovery-measured", step="slow-db", seconds=45.0, held=True, criterion_s=30.0)
    j.emit("note", text="api errors too: it has no DB timeout", author="alice")
    j.emit("observed", step="slow-db", series={})
    j.emit("step-completed", step="slow-db", outcome="rolled-back")
    j.emit("session-ended", outcome="rolled-back", exit_code=1, unconfirmed=[], message="rolled back: stop-condition")
    j.close()


def unconfirmed() -> None:
    j = _J("unconfirmed", "c3d4e5f6a1b2")
    j.preamble()
    j.inject()
    for _ in range(3):
        j.sample(0.99, 450.0, 100.0)
    j.emit("telemetry-lost", source="prober", policy="warn", detail="no answer for 5s")
    for _ in range(3):
        j.sample(None, None, 100.0)
    j.emit("telemetry-restored", source="prober")
    for _ in range(4):
        j.sample(0.99, 450.0, 100.0)
    j.emit("fault-revert-failed", fault="slow-db/0", target="db-1", error="ssh: connection lost")
    for _ in range(3):
        j.sample(1.0, 200.0, 100.0)
    j.emit("recovery-measured", step="slow-db", seconds=1.0, held=True, criterion_s=30.0)
    j.emit("step-completed", step="slow-db", outcome="failed")
    j.emit("session-ended", outcome="failed", exit_code=1, unconfirmed=["db-1"], message="hypothesis did not hold")
    j.close()


def crashed() -> None:
    j = _J("crashed", "d4e5f6a1b2c3")
    j.preamble()
    j.inject()
    for _ in range(4):
        j.sample(0.99, 420.0, 100.0)
    j.close()
    with j.path.open("ab") as fh:
        fh.write(b'{"t":"2026-11-20T14:00:09.000+00:00","mono":9.0,"type":"metric-sample","values":{"succ')


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for make in (held, breach, unconfirmed, crashed):
        make()


if __name__ == "__main__":
    main()
