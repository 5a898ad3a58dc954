"""SSH figures on real lab hosts (root): the round-trip floor, parallel pre-flight and injection fan-out,
emergency stop through the engine's own rollback path — revert, verify, disarm, journal — for a partition
on 20 (and 50) hosts; one heartbeat round (every leash and host claim renewed, one command per host) and a
room killed with SIGKILL mid-step until every host is clean again.

Brings up its own lab (prefix `cb`, 10.75.0.0/24) and always tears it down.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from controlroom.engine.preflight_host import failed, preflight_hosts
from controlroom.engine.rollback import ActiveFault
from controlroom.engine.session import Session
from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.faults.claim import judge_claim
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
HEARTBEATS = 30
KILL_LEASH = 10.0  # the default blast_radius.leash


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
                        PlanContext(f"bench/0@{h.name}", 60.0, targets)) for h in hosts]
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
        beats = await _heartbeat_rounds(plans, targets, execs)
        stop = statistics.median(stops)
        print(f"   {n} hosts: connect all {_ms(connect_s)}; round trip of `true` (median of 50) {_ms(rtt)}; "
              f"`true` on all {n} at once (median of 10) {_ms(fan)}")
        print(f"   {n} hosts: parallel pre-flight (host key, reachable, tools, clobber) {_ms(preflight_s)}; "
              f"injection fan-out (leash + partition) median {_ms(statistics.median(injects))}")
        print(f"   {n} hosts: e-stop (engine rollback path: revert, verify, disarm, journaled) to all reverted "
              f"and verified: median {_ms(stop)}, p99 {_ms(_p99(stops))} ({ROUNDS} rounds)")
        print(f"   {n} hosts: e-stop / round trip = {stop / rtt:.1f} ({n} hosts sharing {os.cpu_count()} CPUs)")
        print(f"   {n} hosts: heartbeat round (claim + leash renewed in one command per host, all hosts in "
              f"parallel, journaled): median {_ms(statistics.median(beats))}, p99 {_ms(_p99(beats))} "
              f"({HEARTBEATS} rounds)")
    finally:
        await asyncio.gather(*(ex.close() for ex in execs.values()))


async def _heartbeat_rounds(plans: list[FaultPlan], targets: dict[str, Target], execs: dict[str, SshExecutor]
                            ) -> list[float]:
    """The session's own heartbeat (`Heartbeat.beat`) over live partitions and host claims on every host."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(plans, targets, execs, Path(tmp) / "hb.jsonl")
        hb = session.heartbeat
        taken = await asyncio.gather(*(execs[t].run(hb.host_claim().take(hb.claim_window)) for t in targets))
        assert all(judge_claim(t, r).ok for t, r in zip(targets, taken, strict=True)), "claims refused"
        for t in targets:
            hb.hold(t, False)
        ok = await asyncio.gather(*(_inject_one(execs[p.target], p) for p in plans))
        assert all(ok), "injection failed"
        for p in plans:
            session.rollback.active[p.fault_id] = ActiveFault(plan=p, step="bench", state="active", leashed=True)
        rounds = []
        for _ in range(HEARTBEATS):
            t0 = time.perf_counter()
            await hb.beat()
            rounds.append(time.perf_counter() - t0)
        assert not hb._failing, f"renewals failed on {sorted(hb._failing)}"
        await session.emergency_stop("key")
        await hb.close()  # releases the claims
        assert not session.rollback.unconfirmed and not hb.claims
        session._writer.close()  # type: ignore[union-attr]
    return rounds


KILL_SCENARIO = """\
version: 1
name: bench-kill
hypothesis: every host is clean within the leash window after the room dies
environment: lab
targets:
{targets}
observe: {{every: 1s}}
blast_radius: {{max_targets: {n}, max_duration: 5m, allowed_environments: [lab], leash: {leash:g}s}}
steps:
  - id: cut
    title: partition every host for two minutes
    fault: {{type: partition, target: role=bench, peers: [10.75.0.250]}}
    duration: 120s
    confirm: false
"""


async def _faulted(execs: dict[str, SshExecutor]) -> set[str]:
    probe = Shell("nft list table inet controlroom >/dev/null 2>&1")
    results = await asyncio.gather(*(ex.run(probe) for ex in execs.values()))
    return {name for name, res in zip(execs, results, strict=True) if res.ok}


async def _kill_to_clean(lab: Lab, n: int) -> None:
    """`controlroom run --headless --yes` partitions n hosts for 120 s; SIGKILL once all are injected; time until
    the last host's guard has reverted (polled over the bench's own connections every 50 ms)."""
    hosts = lab.hosts[:n]
    execs = {h.name: SshExecutor(h.name, h.name, config=[str(lab.config.ssh_config)]) for h in hosts}
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "kill.yaml"
        lines = "\n".join(f"  {h.name}: {{ssh: {h.name}, labels: {{role: bench}}}}" for h in hosts)
        scenario.write_text(KILL_SCENARIO.format(targets=lines, n=n, leash=KILL_LEASH))
        journal = Path(tmp) / "kill.jsonl"
        env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": tmp,
               "CONTROLROOM_RUNTIME_DIR": str(Path(tmp) / "run")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal", str(journal),
            str(scenario), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.returncode is None:
                text = journal.read_text() if journal.exists() else ""
                if text.count('"fault-injected"') == n:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"the room did not inject on all {n} hosts")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
        killed = time.perf_counter()
        last_renewal = max((json.loads(x)["mono"] for x in journal.read_text().splitlines()[1:]
                            if '"leash-renewed"' in x), default=None)
        try:
            assert len(await _faulted(execs)) == n, "the kill did not leave every host faulted"
            left = n
            while left and time.perf_counter() - killed < KILL_LEASH + 10:
                await asyncio.sleep(0.05)
                left = len(await _faulted(execs))
            clean_s = time.perf_counter() - killed
            assert not left, f"{left} hosts still partitioned {clean_s:.1f}s after the kill"
        finally:
            await asyncio.gather(*(ex.close() for ex in execs.values()))
    renewed = "" if last_renewal is None else " (the room had renewed at least once)"
    print(f"   {n} hosts: SIGKILL at the start of a 120 s step -> every host clean after {clean_s:.2f} s "
          f"(leash window {KILL_LEASH:g} s){renewed}")


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
        for n in sizes:
            asyncio.run(_kill_to_clean(lab, n))
    finally:
        lab.down()
        os.close(lock)


if __name__ == "__main__":
    main()
