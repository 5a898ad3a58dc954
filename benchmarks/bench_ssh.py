"""SSH figures on real lab hosts (root): the round-trip floor, parallel pre-flight and injection fan-out, and
emergency stop through the engine's own rollback path — revert, verify, disarm, journal — for a partition
on 20 (and 50) hosts.

Brings up its own lab (prefix `cb`, 10.75.0.0/24) and always tears it down.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from controlroom.engine.preflight_host import failed, preflight_hosts
from controlroom.engine.rollback import ActiveFault
from controlroom.engine.session import Session
from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.faults.plan import FaultPlan
from controlroom.journal.writer import JournalWriter
from controlroom.lab.netns import Lab, LabConfig
from controlroom.scenario.model import FaultSpec, Scenario, Target
from controlroom.targets.base import Shell
from controlroom.targets.ssh import SshExecutor

BENCH_LAB = LabConfig(state_dir=Path("/tmp/controlroom-labbench"), prefix="cb", bridge="crbench0",
                      subnet="10.75.0.0/24")
SIZES = (20, 50)
ROUNDS = 15


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _session(plans: list[FaultPlan], targets: dict[str, Target], execs: dict[str, SshExecutor],
             journal: Path) -> Session:
    """A real Session over the bench's executors: the e-stop figure is the product's own rollback path."""
    scenario = Scenario(name="bench", hypothesis="", environment="lab", targets=targets, steps=())
    session = Session(scenario, journal_path=journal, executor_factory=lambda t: execs[t.name], control=False)
    session._writer = JournalWriter(journal, {"session": "bench"})  # fsync per event, as in a real run
    return session


async def _inject_one(ex: SshExecutor, plan: FaultPlan) -> bool:
    assert plan.leash is not None
    if not (await ex.run(plan.leash.arm(60))).ok:
        return False
    return all([(await ex.run(a)).ok for a in plan.inject])


async def _bench(lab: Lab, n: int) -> None:
    hosts = lab.hosts[:n]
    config = [str(lab.config.ssh_config)]
    execs = {h.name: SshExecutor(h.name, h.name, config=config) for h in hosts}
    targets = {h.name: Target(h.name, "ssh", ssh=f"root@{h.ip}") for h in hosts}
    peer = hosts[0].ip if len(hosts) > 1 else "10.75.0.250"
    plans = [build_plan(FaultSpec("partition", h.name, {"peers": [peer]}), targets[h.name],
                        PlanContext(f"bench/0@{h.name}", 60.0, 30.0, targets)) for h in hosts]
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(ex.connect() for ex in execs.values()))
        connect_s = time.perf_counter() - t0

        first = execs[hosts[0].name]
        rtts = []
        for _ in range(50):
            t = time.perf_counter()
            await first.run(Shell("true"))
            rtts.append(time.perf_counter() - t)
        rtt = statistics.median(rtts)
        fans = []
        for _ in range(10):
            t = time.perf_counter()
            await asyncio.gather(*(ex.run(Shell("true")) for ex in execs.values()))
            fans.append(time.perf_counter() - t)
        fan = statistics.median(fans)

        t0 = time.perf_counter()
        checks = await preflight_hosts(execs, plans)
        preflight_s = time.perf_counter() - t0
        assert not failed(checks), failed(checks)[:1]

        injects, stops = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(ROUNDS):
                session = _session(plans, targets, execs, Path(tmp) / f"j{r}.jsonl")
                t0 = time.perf_counter()
                ok = await asyncio.gather(*(_inject_one(execs[p.target], p) for p in plans))
                injects.append(time.perf_counter() - t0)
                assert all(ok), "injection failed"
                for p in plans:  # what the engine knows after its own inject_all
                    session.rollback.active[p.fault_id] = ActiveFault(plan=p, step="bench", state="active")
                t0 = time.perf_counter()
                await session.emergency_stop("key")
                stops.append(time.perf_counter() - t0)
                assert not session.rollback.unconfirmed, f"unconfirmed: {session.rollback.unconfirmed}"
                session._writer.close()  # type: ignore[union-attr]
        stop = statistics.median(stops)
        print(f"   {n} hosts: connect all {_ms(connect_s)}; round trip of `true` (median of 50) {_ms(rtt)}; "
              f"`true` on all {n} at once (median of 10) {_ms(fan)}")
        print(f"   {n} hosts: parallel pre-flight (host key, reachable, tools, clobber) {_ms(preflight_s)}; "
              f"injection fan-out (leash + partition) median {_ms(statistics.median(injects))}")
        print(f"   {n} hosts: e-stop (engine rollback path: revert, verify, disarm, journaled) to all reverted "
              f"and verified: median {_ms(stop)}, p99 {_ms(_p99(stops))} ({ROUNDS} rounds)")
        print(f"   {n} hosts: e-stop / round trip = {stop / rtt:.1f} ({n} hosts sharing {os.cpu_count()} CPUs)")
    finally:
        await asyncio.gather(*(ex.close() for ex in execs.values()))


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces and sshd)")
    for tool in ("sshd", "nft", "unshare"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed")
    # One benchmark lab at a time on this machine: a second run would tear down the first one's hosts.
    lock = os.open("/tmp/controlroom-labbench.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise SystemExit("another bench_ssh run holds the benchmark lab") from None
    lab = Lab(BENCH_LAB)
    if lab.is_up:
        lab.down()
    sizes = [s for s in SIZES if s <= BENCH_LAB.max_hosts]
    try:
        t0 = time.perf_counter()
        lab.up(max(sizes), service=False, wait=30)
        print(f"   lab of {max(sizes)} hosts up and answering SSH in {time.perf_counter() - t0:.2f} s")
        for n in sizes:
            asyncio.run(_bench(lab, n))
    finally:
        lab.down()
        os.close(lock)


if __name__ == "__main__":
    main()
