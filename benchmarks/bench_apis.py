"""Issue 15's figure through the product's own path: 20 toxics removed / 20 Gremlin attacks halted, all verified.

Each fault is a plan built by the fault catalogue and run by the target's executor (one API client per target,
as the session holds it), reverted and verified exactly as the rollback does it: every fault in parallel, each
its revert then its verify. The target: at most one API round trip + 50 ms on loopback. Stand-ins in a process
of their own, as a real server would be.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable

from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.faults.plan import FaultPlan
from controlroom.lab.gremlin import GremlinProcess
from controlroom.lab.toxiproxy import ProxySpec, ToxiproxyProcess
from controlroom.scenario.model import FaultSpec, GremlinRef, Target, ToxiproxyRef
from controlroom.targets.apis import api_executor
from controlroom.targets.base import Executor, HttpRequest

N, RUNS = 20, 7
KEY = "k-bench-0001"


async def _all_verified(ex: Executor, plans: list[FaultPlan]) -> None:
    async def one(plan: FaultPlan) -> None:
        for a in plan.revert:
            r = await ex.run(a)
            assert r.ok, r.detail
        for a in plan.verify:
            r = await ex.run(a)
            assert r.ok, r.detail

    await asyncio.gather(*(one(p) for p in plans))


async def _round_trip(ex: Executor, url: str) -> float:
    started = time.perf_counter()
    r = await ex.run(HttpRequest("GET", url))
    assert r.ok, r.detail
    return time.perf_counter() - started


async def _measure(ex: Executor, plans_of_run: Callable[[int], list[FaultPlan]],
                   trip_url: str) -> tuple[list[float], list[float]]:
    """RUNS times: inject the run's plans, time one API round trip (GET `trip_url`), then time all of them
    reverted and verified at once. The round trips and the totals, a figure a run."""
    trips, totals = [], []
    for run in range(RUNS):
        plans = plans_of_run(run)
        for p in plans:
            assert (await ex.run(p.inject[0])).ok
        trips.append(await _round_trip(ex, trip_url))
        started = time.perf_counter()
        await _all_verified(ex, plans)
        totals.append(time.perf_counter() - started)
    return trips, totals


async def _toxics() -> tuple[list[float], list[float]]:
    proc = ToxiproxyProcess(proxies=[ProxySpec("shop", "127.0.0.1:0", "127.0.0.1:9")])
    api = await proc.start()
    target = Target("p", "toxiproxy", toxiproxy=ToxiproxyRef(api=api, proxies=("shop",)))
    ex = api_executor(target)
    try:
        return await _measure(ex, lambda run: [
            build_plan(FaultSpec("toxiproxy-latency", "p", {"latency": "100ms"}), target,
                       PlanContext(f"s{i}/0@p", 10.0, session=f"bench{run}")) for i in range(N)], f"{api}/version")
    finally:
        await ex.close()
        await proc.stop()


async def _attacks() -> tuple[list[float], list[float]]:
    hosts = [f"h{i}" for i in range(N)]
    proc = GremlinProcess(KEY, team="team-b", clients=hosts, stage_seconds=0.0)
    api = await proc.start()
    os.environ["BENCH_GREMLIN_KEY"] = KEY
    targets = [Target(f"t{i}", "gremlin", gremlin=GremlinRef(api=api, team="team-b", key_env="BENCH_GREMLIN_KEY",
                                                             hosts=(h,))) for i, h in enumerate(hosts)]
    ex = api_executor(targets[0])  # one API, one client: the room's executors per target share nothing else
    try:
        return await _measure(ex, lambda run: [
            build_plan(FaultSpec("gremlin-cpu", t.name, {}), t, PlanContext(f"s/0@{t.name}", 60.0, session=f"b{run}"))
            for t in targets], f"{api}/attacks/active?teamId=team-b")
    finally:
        await ex.close()
        await proc.stop()


def _line(what: str, trips: list[float], totals: list[float]) -> None:
    trip, total = statistics.median(trips), statistics.median(totals)
    verdict = "within" if total <= trip + 0.050 else "OVER"
    print(f"   {what}: round trip median {trip * 1000:.1f} ms; {N} reverted + verified: median {total * 1000:.1f} ms, "
          f"max {max(totals) * 1000:.1f} ms ({verdict} the target {trip * 1000 + 50:.1f} ms)")


def main() -> None:
    trips, totals = asyncio.run(_toxics())
    _line("toxiproxy, 20 toxics", trips, totals)
    trips, totals = asyncio.run(_attacks())
    _line("gremlin, 20 attacks", trips, totals)


if __name__ == "__main__":
    main()
