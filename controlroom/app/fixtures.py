"""Fixed, deterministic event lists of a sample session: for snapshot tests, screenshots and benchmarks.

No wall clock anywhere: `t` is derived from `mono` on a fixed date, values from
closed-form curves, so every render of these events is byte-identical.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from controlroom.journal.events import Event

BASE = datetime(2026, 3, 12, 14, 0, 0, tzinfo=UTC)
SCENARIO = "checkout-survives-slow-db"
CHECKLIST = ["on-call knows", "status page drafted", "rollback owner named"]
STEPS = [
    {"id": "baseline", "title": "Confirm steady state", "phase": None, "duration": 20.0},
    {"id": "slow-db", "title": "300 ms on the payments DB", "phase": None, "duration": 180.0},
    {"id": "cut-db", "title": "Partition API from DB", "phase": None, "duration": 120.0},
]
SLOW_DB_FAULTS = [
    {"fault": "slow-db/0", "type": "latency", "target": "db-1", "summary": "delay 300ms jitter 50ms on eth0"},
    {"fault": "slow-db/1", "type": "bandwidth", "target": "api-1", "summary": "rate 1mbit on eth0"},
]


def ev(type_: str, mono: float, **data: Any) -> Event:
    t = (BASE + timedelta(seconds=mono)).isoformat(timespec="milliseconds")
    return Event(type=type_, t=t, mono=mono, data=data)


def session_started(targets: list[str] | None = None, series: list[str] | None = None) -> Event:
    names = targets or ["db-1", "api-1", "api-2"]
    return ev(
        "session-started", 0.0, session="a1b2c3d4e5f6", scenario=SCENARIO,
        hypothesis="Checkout keeps >= 99% success and p99 < 800 ms while the payments DB is slow",
        environment="staging",
        targets=[{"name": n, "kind": "ssh", "labels": {}} for n in names],
        steps=STEPS, series=series or ["success_rate", "p99_ms", "checkout.rps", "orders_rows"],
        limits={"max_targets": 2, "max_duration": 300.0},
        stop_when=["success_rate < 0.95", "p99_ms > 5000"], steady=["success_rate >= 0.99", "p99_ms < 500"],
        checklist=CHECKLIST, pid=4242, control=None,
    )


def sample(mono: float, fault_from: float | None) -> Event:
    """Closed-form metrics: flat noise before the fault, p99 climbing and success dipping during it."""
    wob = math.sin(mono / 3.0)
    during = fault_from is not None and mono >= fault_from
    k = min(1.0, (mono - fault_from) / 20.0) if during and fault_from is not None else 0.0
    return ev("metric-sample", mono, values={
        "success_rate": round(0.998 - 0.004 * k + 0.001 * wob, 4),
        "p99_ms": round(180 + 420 * k + 25 * wob + 10 * math.sin(mono * 1.7), 1),
        "checkout.rps": round(52 + 4 * math.sin(mono / 5.0), 1),
        "orders_rows": 10_000 + int(mono * 3),
    }, errors={})


def preflight_events(until: float = 14.0) -> list[Event]:
    events = [session_started(), ev("state-changed", 0.1, state="preflight")]
    checks = [
        (1.0, "reachable", "db-1", True, "ssh chaos@10.0.0.21 in 42 ms"),
        (1.1, "reachable", "api-1", True, "ssh chaos@10.0.0.11 in 38 ms"),
        (1.2, "reachable", "api-2", True, "ssh chaos@10.0.0.12 in 40 ms"),
        (2.0, "tool tc (netem)", "db-1", True, "tc 6.1, netem present"),
        (2.1, "tool tc (tbf)", "api-1", True, "tc 6.1, tbf present"),
        (2.5, "sudo", "db-1", True, "sudo -n works"),
        (3.0, "no qdisc to clobber", "db-1", True, "eth0 has the default qdisc"),
        (3.2, "metrics source", None, True, "probe http://10.0.0.11:8080/health answers"),
        (3.4, "blast radius", None, True, "2 targets <= max_targets 2"),
        (3.5, "environment", None, True, "staging is allowed"),
        (4.0, "sudo", "api-1", None, "running…"),
        (4.1, "steady state", None, None, "holding 30 s window…"),
    ]
    for mono, check, target, ok, detail in checks:
        if mono <= until:
            events.append(ev("preflight-check", mono, check=check, target=target, ok=ok, detail=detail))
    events.append(ev("checklist-item", 6.0, item=CHECKLIST[0], ticked=True))
    events += [sample(float(s), None) for s in range(1, int(until) + 1)]
    events.sort(key=lambda e: e.mono)
    return events


def gate_events() -> list[Event]:
    """Baseline done, the slow-db step briefed and armed: the facilitator must confirm, skip or abort."""
    events = preflight_events(until=5.0)
    events.append(ev("preflight-check", 5.5, check="sudo", target="api-1", ok=True, detail="sudo -n works"))
    events.append(ev("preflight-check", 8.0, check="steady state", target=None, ok=True, detail="held 30 s"))
    events.append(ev("state-changed", 8.1, state="steady-state"))
    events.append(ev("steady-state", 38.0, when="before", ok=True, figures={"success_rate": 0.998, "p99_ms": 182.0},
                     failed=[]))
    events.append(ev("step-briefed", 38.5, step="baseline", index=0, title=STEPS[0]["title"],
                     brief="Everyone look at the checkout pane. This is normal.", expect="", duration=20.0, faults=[]))
    events.append(ev("step-completed", 58.5, step="baseline", outcome="passed"))
    events.append(ev("step-briefed", 59.0, step="slow-db", index=1, title=STEPS[1]["title"],
                     brief="Payments DB answers 300 ms slower; API-1 is squeezed to 1 mbit.",
                     expect="p99 rises but stays under 800 ms; no errors", duration=180.0, faults=SLOW_DB_FAULTS))
    events.append(ev("state-changed", 59.1, state="awaiting-confirmation"))
    events.append(ev("step-armed", 59.1, step="slow-db"))
    events += [sample(float(s), None) for s in range(6, 62)]
    events.sort(key=lambda e: e.mono)
    return events


def mid_step_events(until: float = 125.0) -> list[Event]:
    """The slow-db step confirmed at T+01:02 and observed until `until`, with a note."""
    events = gate_events()
    inject = 62.0
    events += [
        ev("step-confirmed", inject, step="slow-db", decision="confirm", by="facilitator"),
        ev("state-changed", inject, state="injecting"),
        ev("fault-injecting", inject + 0.1, step="slow-db", fault="slow-db/0", fault_type="latency", target="db-1",
           summary=SLOW_DB_FAULTS[0]["summary"], spec={"type": "latency", "target": "db-1"}, leash_s=210.0),
        ev("fault-injected", inject + 0.3, step="slow-db", fault="slow-db/0", target="db-1"),
        ev("fault-injecting", inject + 0.4, step="slow-db", fault="slow-db/1", fault_type="bandwidth", target="api-1",
           summary=SLOW_DB_FAULTS[1]["summary"], spec={"type": "bandwidth", "target": "api-1"},
           leash_s=210.0),
        ev("fault-injected", inject + 0.6, step="slow-db", fault="slow-db/1", target="api-1"),
        ev("state-changed", inject + 0.7, state="observing"),
        ev("note", 95.0, text="p99 climbing as expected, no 5xx yet", author="facilitator"),
    ]
    events += [sample(float(s), inject) for s in range(62, int(until) + 1)]
    events.sort(key=lambda e: e.mono)
    return events


def estop_events(finished: bool = False) -> list[Event]:
    """An emergency stop at T+02:06: db-1 already reverted, api-1 still reverting (or unconfirmed when finished)."""
    events = mid_step_events(until=125.0)
    stop = 126.0
    events += [
        ev("emergency-stop", stop, source="key", reason="key"),
        ev("state-changed", stop, state="reverting"),
        ev("rollback-started", stop + 0.1, reason="key", faults=["slow-db/0", "slow-db/1"]),
        ev("fault-reverted", stop + 0.6, fault="slow-db/0", target="db-1", verified=True),
    ]
    if finished:
        events += [
            ev("fault-revert-failed", stop + 5.0, fault="slow-db/1", target="api-1",
               error="ssh: connection timed out after 5 s"),
            ev("rollback-finished", stop + 5.1, clean=False, unconfirmed=["api-1"]),
            ev("step-completed", stop + 5.2, step="slow-db", outcome="rolled-back"),
            ev("state-changed", stop + 5.3, state="aborted"),
            ev("session-ended", stop + 5.3, outcome="aborted", exit_code=1, unconfirmed=["api-1"],
               message="stopped: key"),
        ]
    return events


# ---- a step with twelve series (the lab-bandwidth shape): the expected series must never be hidden ----------------

WIDE_SERIES = [f"front.{s}" for s in ("success_rate", "p50_ms", "p95_ms", "p99_ms", "rps")] + \
    [f"download.{s}" for s in ("success_rate", "p50_ms", "p95_ms", "p99_ms", "rps")] + ["load", "backend_load"]


def wide_sample(mono: float, fault_from: float | None) -> Event:
    """Closed-form values: the download slows under the cap, the front stays fast, load sits near its threshold."""
    k = min(1.0, (mono - fault_from) / 10.0) if fault_from is not None and mono >= fault_from else 0.0
    wob = math.sin(mono / 3.0)
    values: dict[str, float] = {
        "front.success_rate": 1.0, "front.p50_ms": round(3 + wob, 1), "front.p95_ms": round(6 + wob, 1),
        "front.p99_ms": round(9 + wob, 1), "front.rps": round(2 + 0.2 * wob, 2),
        "download.success_rate": 1.0, "download.p50_ms": round(10 + 1500 * k, 1),
        "download.p95_ms": round(12 + 1560 * k, 1), "download.p99_ms": round(14 + 1590 * k + 5 * wob, 1),
        "download.rps": round(2 - 1.4 * k, 2),
        "load": round(0.4 + 0.1 * wob, 2), "backend_load": round(1.93 + 0.03 * wob, 2),
    }
    return ev("metric-sample", mono, values=values, errors={})


def wide_events(until: float = 30.0) -> list[Event]:
    """lab-bandwidth with a wide observe block: twelve series, the step's expectation about `download.p99_ms`.

    `backend_load` (last declared, no condition in the step) sits near its stop threshold: it must stay visible.
    """
    events = [
        ev("session-started", 0.0, session="b2c3d4e5f6a7", scenario="lab-bandwidth",
           hypothesis="Small requests stay under 500 ms while large downloads from the front are throttled",
           environment="lab", targets=[{"name": "h1", "kind": "ssh", "labels": {"role": "front"}}],
           steps=[{"id": "baseline", "title": "Confirm steady state", "phase": None, "duration": None},
                  {"id": "slow-link", "title": "Cap h1's egress at 1 Mbit/s", "phase": None, "duration": 30.0}],
           series=WIDE_SERIES, limits={"max_targets": 1, "max_duration": 120.0},
           stop_when=["front.success_rate < 50%", "backend_load > 2"],
           steady=["front.success_rate >= 99%", "download.p99_ms < 1000"], checklist=[], pid=4243, control=None),
        ev("state-changed", 0.1, state="preflight"),
        ev("preflight-check", 1.0, check="reachable", target="h1", ok=True, detail="ssh h1 in 12 ms"),
        ev("steady-state", 5.0, when="before", ok=True, figures={}, failed=[]),
        ev("step-briefed", 5.1, step="baseline", index=0, title="Confirm steady state",
           brief="Both the front page and the 200 kB download are fast.", expect="", duration=None, faults=[]),
        ev("step-completed", 5.2, step="baseline", outcome="passed"),
        ev("step-briefed", 5.3, step="slow-link", index=1, title="Cap h1's egress at 1 Mbit/s",
           brief="htb root with a tbf leaf on h1 eth0; the control channel is exempt.",
           expect="download p99 rises to ~1.6 s; the front page stays fast", duration=30.0,
           faults=[{"fault": "slow-link/0", "type": "bandwidth", "target": "h1",
                    "summary": "rate 1mbit burst 32k latency 400ms on eth0 (ssh exempt)"}]),
        ev("step-armed", 5.4, step="slow-link"),
        ev("step-confirmed", 8.0, step="slow-link", decision="confirm", by="facilitator"),
        ev("fault-injecting", 8.1, step="slow-link", fault="slow-link/0", fault_type="bandwidth", target="h1",
           summary="rate 1mbit burst 32k latency 400ms on eth0 (ssh exempt)", spec={}, leash_s=60.0),
        ev("fault-injected", 8.3, step="slow-link", fault="slow-link/0", target="h1"),
        ev("state-changed", 8.4, state="observing"),
    ]
    events += [wide_sample(float(s), 8.3) for s in range(1, int(until) + 1)]
    events.sort(key=lambda e: e.mono)
    return events


JOURNAL = "/home/facilitator/.local/share/controlroom/journals/20260312-140000-checkout-survives-slow-db.jsonl"


def ended_events() -> list[Event]:
    """The slow-db step ran its course: both faults reverted and verified, recovery measured, the session held."""
    events = mid_step_events(until=242.0)
    end = 242.0
    events += [
        ev("state-changed", end, state="reverting"),
        ev("fault-reverted", end + 0.4, fault="slow-db/0", target="db-1", verified=True, warnings=[]),
        ev("fault-reverted", end + 0.5, fault="slow-db/1", target="api-1", verified=True, warnings=[]),
        ev("state-changed", end + 0.6, state="recovering"),
    ]
    events += [sample(float(s), None) for s in range(243, 262)]
    events += [
        ev("steady-state", 261.0, when="after:slow-db", ok=True, figures={}, failed=[]),
        ev("recovery-measured", 261.1, step="slow-db", seconds=12.4, held=True, criterion_s=30.0),
        ev("step-completed", 261.2, step="slow-db", outcome="passed"),
        ev("step-briefed", 261.3, step="cut-db", index=2, title=STEPS[2]["title"],
           brief="db-1 drops every packet to and from api-1.", expect="checkout fails fast", duration=120.0,
           faults=[{"fault": "cut-db/0", "type": "partition", "target": "db-1", "summary": "drop api-1"}]),
        ev("step-armed", 261.4, step="cut-db"),
        ev("step-confirmed", 265.0, step="cut-db", decision="skip", by="facilitator"),
        ev("step-completed", 265.1, step="cut-db", outcome="skipped"),
        ev("success-criteria", 265.2, met=True, results=[]),
        ev("state-changed", 265.3, state="completed"),
        ev("session-ended", 265.3, outcome="held", exit_code=0, unconfirmed=[], message=""),
    ]
    events.sort(key=lambda e: e.mono)
    return events


# ---- a fleet: 200 targets with labels, one fault on a whole zone, a rollback with two unconfirmed --------------

FLEET_SERVICES = {"api": 80, "web": 60, "cache": 40, "db": 20}
FLEET_ZONES = ["eu-1", "eu-2", "us-1"]
FLEET_DARK_ZONE = "eu-2"
# Two reverts that fail: names deep in the name order, so only pinning keeps them on screen.
FLEET_UNCONFIRMED = ["web-47", "api-71"]


def fleet_targets() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for service, n in FLEET_SERVICES.items():
        for i in range(1, n + 1):
            zone = FLEET_ZONES[(i - 1) % len(FLEET_ZONES)]
            out.append({"name": f"{service}-{i:02d}", "kind": "ssh", "labels": {"service": service, "zone": zone}})
    return out


def fleet_events(stage: str = "rollback") -> list[Event]:
    """200 targets; the step `zone-dark` partitions every target in zone eu-2 (one fault, 67 targets).

    stage "injected": observing the partition. "rollback": a stop condition breached at T+01:30, most targets
    reverted and verified, two reverts failed (FLEET_UNCONFIRMED), the rest still reverting.
    """
    targets = fleet_targets()
    dark = [t["name"] for t in targets if t["labels"]["zone"] == FLEET_DARK_ZONE]
    steps = [{"id": "zone-dark", "title": "Zone eu-2 goes dark", "phase": None, "duration": 180.0}]
    events = [
        ev("session-started", 0.0, session="f1e2d3c4b5a6", scenario="zone-eu-2-dark",
           hypothesis="Checkout keeps >= 99% success while zone eu-2 is cut off", environment="staging",
           targets=targets, steps=steps, series=["success_rate", "p99_ms"],
           limits={"max_targets": 100, "max_duration": 300.0},
           stop_when=["success_rate < 0.95"], steady=["success_rate >= 0.99", "p99_ms < 500"],
           checklist=[], pid=4244, control=None),
        ev("state-changed", 0.1, state="preflight"),
        ev("steady-state", 20.0, when="before", ok=True, figures={}, failed=[]),
        ev("step-briefed", 20.5, step="zone-dark", index=0, title=steps[0]["title"],
           brief="Every host in eu-2 drops traffic from the other zones; the control channel stays.",
           expect="success_rate dips, then recovers as traffic shifts", duration=180.0,
           faults=[{"fault": f"zone-dark/0@{n}", "type": "partition", "target": n, "summary": "drop eu-1, us-1"}
                   for n in dark]),
        ev("state-changed", 20.6, state="awaiting-confirmation"),
        ev("step-armed", 20.6, step="zone-dark"),
        ev("step-confirmed", 25.0, step="zone-dark", decision="confirm", by="facilitator"),
        ev("state-changed", 25.0, state="injecting"),
    ]
    for i, name in enumerate(dark):
        at = 25.1 + i * 0.01
        events.append(ev("fault-injecting", at, step="zone-dark", fault=f"zone-dark/0@{name}", fault_type="partition",
                         target=name, index=0, summary="drop eu-1, us-1", spec={"type": "partition", "target": name},
                         leash_s=10.0))
        events.append(ev("fault-injected", at + 0.005, step="zone-dark", fault=f"zone-dark/0@{name}", target=name))
    events.append(ev("state-changed", 26.0, state="observing"))
    until = 89.0 if stage == "rollback" else 70.0
    events += [ev("metric-sample", float(s), values={
        "success_rate": round(0.998 - (0.06 * min(1.0, (s - 25) / 40) if s > 25 else 0) + 0.001 * math.sin(s / 3), 4),
        "p99_ms": round(180 + (300 * min(1.0, (s - 25) / 40) if s > 25 else 0) + 20 * math.sin(s / 2), 1)},
        errors={}) for s in range(1, int(until) + 1)]
    if stage == "rollback":
        stop = 90.0
        events += [
            ev("condition-breached", stop, condition="success_rate < 0.95", value=0.941, held_s=5.0),
            ev("emergency-stop", stop, source="stop-condition", reason="stop condition success_rate < 0.95"),
            ev("state-changed", stop, state="reverting"),
            ev("rollback-started", stop + 0.1, reason="stop condition success_rate < 0.95",
               faults=[f"zone-dark/0@{n}" for n in dark]),
        ]
        for i, name in enumerate(dark):
            at = stop + 0.5 + i * 0.02
            if name in FLEET_UNCONFIRMED:
                events.append(ev("fault-revert-failed", at, fault=f"zone-dark/0@{name}", target=name,
                                 error="ssh: connection timed out after 5 s"))
            elif i < 45:
                events.append(ev("fault-reverted", at, fault=f"zone-dark/0@{name}", target=name, verified=True))
    events.sort(key=lambda e: e.mono)
    return events
