"""Core figures: journal append rate with fsync, stop-condition breach to rollback start, `--help` start-up."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def journal_rate(n: int = 2000) -> tuple[float, float]:
    from controlroom.journal import Event, JournalWriter

    out = []
    for fsync in (True, False):
        with tempfile.TemporaryDirectory() as d:
            w = JournalWriter(Path(d) / "j.jsonl", {"session": "bench"}, fsync=fsync)
            ev = Event(type="metric-sample", t="2026-01-01T00:00:00.000+00:00", mono=1.0,
                       data={"values": {f"s{i}": 0.5 for i in range(10)}, "errors": {}})
            t0 = time.perf_counter()
            for _ in range(n):
                w.append(ev)
            out.append(n / (time.perf_counter() - t0))
            w.close()
    return out[0], out[1]


async def _breach_latency(runs: int) -> list[float]:
    """Real clock, in-memory target: time from the sample that completes the breach to rollback-started."""
    from controlroom.engine.session import Session
    from controlroom.faults import catalogue as cat
    from tests.doubles import FLAG, Host
    from tests.engine.conftest import FakeSource, fault_step, make_scenario

    cat.catalogue()["flag"] = FLAG
    from controlroom.targets.memory import MemoryExecutor

    latencies = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            host = Host("t1")

            class Tracking(FakeSource):
                # The service is sick exactly while the fault is in, so recovery follows the revert.
                async def sample(self, h: Host = host) -> dict[str, float | None]:
                    return {"ok_rate": 0.1 if h.faulted else 1.0}

            src = Tracking(ok_rate=1.0)
            sc = make_scenario(fault_step(duration=10.0), window=0.2)
            sc = type(sc)(**{**sc.__dict__, "observe": type(sc.observe)(every=0.05, lost_after=5.0)})
            s = Session(sc, journal_path=Path(d) / "j.jsonl", sources=[src], control=False,
                        executor_factory=lambda t, h=host: MemoryExecutor(t.name, h.handle))
            marks: dict[str, float] = {}
            s.subscribe(lambda e, m=marks: m.setdefault(e.type, time.perf_counter())
                        if e.type in ("condition-breached", "rollback-started") else None)
            await s.run()
            latencies.append((marks["rollback-started"] - marks["condition-breached"]) * 1000)
    return latencies


def startup(runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "controlroom", "--help"], capture_output=True, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    with_fsync, without = journal_rate()
    print(f"journal append, fsync per event:      {with_fsync:10.0f} events/s   (without fsync: {without:.0f}/s)")
    lat = sorted(asyncio.run(_breach_latency(20)))
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"stop-condition breach -> rollback start: median {statistics.median(lat):.2f} ms, p99 {p99:.2f} ms "
          f"({len(lat)} runs; the condition is evaluated on the sample itself, so add at most one interval)")
    base = statistics.median(
        [(lambda t0: (subprocess.run([sys.executable, "-c", "pass"], check=True), time.perf_counter() - t0)[1])(
            time.perf_counter()) * 1000 for _ in range(10)])
    print(f"`controlroom --help` start-up:         median {startup():.0f} ms (bare python: {base:.0f} ms; target <= 150 ms)")


if __name__ == "__main__":
    main()
