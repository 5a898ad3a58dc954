"""Pre-flight of the metrics: a series is answering only with a real, finite value, and each is named."""

from __future__ import annotations

import asyncio
import math
import socket
from pathlib import Path

from controlroom.clock import ManualClock, RealClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.metrics.prober import HttpProber
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


def _checks(path: Path) -> list[tuple[str | None, bool | None, str]]:
    return [(e.data["target"], e.data["ok"], e.data["detail"]) for e in read_journal(path).events
            if e.type == "preflight-check" and e.data["check"] == "metrics"]


async def _run(tmp_path: Path, sources: list[object], clock: object) -> object:
    host = Host("t1")
    s = Session(make_scenario(fault_step(duration=2.0)), journal_path=tmp_path / "j.jsonl", clock=clock,  # type: ignore[arg-type]
                sources=sources, control=False, executor_factory=lambda t: MemoryExecutor(t.name, host.handle))  # type: ignore[arg-type]
    task = asyncio.ensure_future(s.run())
    if isinstance(clock, ManualClock):
        await drive(clock, task)
    else:
        await asyncio.wait_for(task, timeout=30)
    if task.result().outcome == "preflight-failed":
        assert "inject" not in host.log  # nothing was injected
    return task.result()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_dead_probe_fails_pre_flight_even_when_every_other_check_passed(tmp_path: Path) -> None:
    ok = FakeSource(ok_rate=1.0)
    probe = HttpProber("checkout", f"http://127.0.0.1:{_closed_port()}/health", every=0.5, timeout=1.0)
    try:
        outcome = await _run(tmp_path, [ok, probe], RealClock())
    finally:
        await probe.close()
    assert (outcome.outcome, outcome.exit_code) == ("preflight-failed", 2)  # type: ignore[attr-defined]
    checks = _checks(tmp_path / "j.jsonl")
    assert ("ok_rate", True, "ok_rate = 1") in checks
    dead = [c for c in checks if c[0] == "checkout.success_rate"]
    assert dead and dead[0][1] is False and "checkout" in dead[0][2]
    assert not any(c[1] for c in checks if c[0] and c[0].startswith("checkout."))  # no ✓ for a dead probe
    assert "fault-injecting" not in [e.type for e in read_journal(tmp_path / "j.jsonl").events]


async def test_a_nan_value_is_not_answering(tmp_path: Path) -> None:
    outcome = await _run(tmp_path, [FakeSource(ok_rate=math.nan)], ManualClock())
    assert outcome.outcome == "preflight-failed"  # type: ignore[attr-defined]
    (check,) = _checks(tmp_path / "j.jsonl")
    assert check[0] == "ok_rate" and check[1] is False
    assert "it answered NaN" in check[2] and "only with a finite number" in check[2]


class OrdersRows(FakeSource):
    name = "command"  # the command source's name: pre-flight must say which metric, not "command"


async def test_each_series_is_listed_by_its_own_name(tmp_path: Path) -> None:
    outcome = await _run(tmp_path, [OrdersRows(ok_rate=1.0, orders_rows=1200.0)], ManualClock())
    assert outcome.outcome == "held"  # type: ignore[attr-defined]
    assert sorted(_checks(tmp_path / "j.jsonl")) == [("ok_rate", True, "ok_rate = 1"),
                                                     ("orders_rows", True, "orders_rows = 1200")]
