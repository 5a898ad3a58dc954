"""SSH figures on real lab hosts (root), at fleet sizes (issue 18): for each size, connect all, `true` on all at
once, parallel pre-flight, injection fan-out (leash + partition), one heartbeat round (every leash and host claim
renewed, one command per host), the emergency stop through the engine's own rollback path — revert, verify,
disarm, journal — and, in the same run, a bare parallel loop of the same revert commands (no verify, no disarm,
no journal) on the same open connections: the floor the e-stop is measured against. Then a room killed with
SIGKILL mid-step until every host is clean again (small sizes only: it runs a whole `controlroom run`).

Sizes: 20, 50, 100, 200, 500 by default; `BENCH_SSH_SIZES=20,50 python -m benchmarks ssh` (or
`python -m benchmarks.bench_ssh 20 50`) for a quick run. A size the machine's free memory cannot hold a lab
of (each host is an sshd in its own namespaces) is left out, and said so.

Brings up its own lab (prefix `cb`, 10.75.0.0, a /24 widened for more than 244 hosts) and always tears it down.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh

from controlroom.engine.heartbeat import CLAIM_MARGIN
from controlroom.engine.preflight_host import failed, preflight_hosts
from controlroom.engine.revert import fused_revert
from controlroom.engine.rollback import ActiveFault
from controlroom.engine.session import Session
from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.faults.claim import judge_claim
from controlroom.faults.plan import FaultPlan
from controlroom.journal.writer import JournalWriter
from controlroom.lab.netns import Lab, LabConfig, subnet_for
from controlroom.scenario.model import FaultSpec, Scenario, Target
from controlroom.targets.base import Shell
from controlroom.targets.ssh import SshExecutor

BENCH_STATE = Path("/tmp/controlroom-labbench")
BENCH_BASE = ipaddress.IPv4Address("10.75.0.0")
SIZES_ENV = "BENCH_SSH_SIZES"
DEFAULT_SIZES = (20, 50, 100, 200, 500)
# Connects at a time, bounded inside the benchmark on top of the executor. 0 (the default): none — the executors'
# own connect limiter (one per event loop outside a session, 8 per CPU) bounds them, as in a session.
CONNECT_LIMIT_ENV = "BENCH_SSH_CONNECT_LIMIT"
CONNECT_LIMIT = 0
HOST_MB = 8  # memory to keep free per lab host (measured ~2 MB each, with the connection's share on our side)
ROUNDS = 15  # inject + e-stop and inject + bare loop, each, per size up to 100 hosts
BIG_ROUNDS = 7  # the same above 100 hosts (a p99 of 7 is their maximum)
HEARTBEATS = 30
BIG_HEARTBEATS = 10
KILL_SIZES = 50  # the SIGKILL -> clean run at sizes up to this
KILL_LEASH = 10.0  # the default blast_radius.leash


def bench_lab(n: int) -> LabConfig:
    return LabConfig(state_dir=BENCH_STATE, prefix="cb", bridge="crbench0", subnet=subnet_for(n, BENCH_BASE))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _mp(values: list[float]) -> str:
    """median / p99, in ms (s above 10 s)."""
    med, p99 = statistics.median(values), _p99(values)
    if med >= 10:
        return f"{med:.1f} / {p99:.1f} s"
    return f"{med * 1000:.0f} / {p99 * 1000:.0f} ms"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _session(plans: list[FaultPlan], targets: dict[str, Target], execs: dict[str, SshExecutor],
             journal: Path) -> Session:
    """A real Session over the bench's executors: the e-stop figure is the product's own rollback path."""
    scenario = Scenario(name="bench", hypothesis="", environment="lab", targets=targets, steps=())
    session = Session(scenario, journal_path=journal, executor_factory=lambda t: execs[t.name], control=False)
    session._writer = JournalWriter(journal, {"session": "bench"})  # fsync per event, as in a real run
    return session


async def _inject_one(ex: SshExecutor, plan: FaultPlan) -> str:
    """'' when the leash is armed and the fault injected, else why not."""
    assert plan.leash is not None
    for action in [plan.leash.arm(60), *plan.inject]:
        res = await ex.run(action)
        if not res.ok:
            return f"{plan.target}: {res.detail}"
    return ""


async def _inject_all(execs: dict[str, SshExecutor], plans: list[FaultPlan]) -> float:
    t0 = time.perf_counter()
    why = [w for w in await asyncio.gather(*(_inject_one(execs[p.target], p) for p in plans)) if w]
    took = time.perf_counter() - t0
    assert not why, f"injection failed on {len(why)} hosts ({why[0][:200]})"
    return took


async def _connect_all(execs: dict[str, SshExecutor], limit: int) -> None:
    gate = asyncio.Semaphore(limit) if limit > 0 else None

    async def one(ex: SshExecutor) -> None:
        if gate is None:
            await ex.connect()
            return
        async with gate:
            await ex.connect()

    await asyncio.gather(*(one(ex) for ex in execs.values()))


def _busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat): room, sshd and host scripts alike."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU spent during a timed part: this process (the room) and the whole machine (on the lab, the hosts'
    sshd and scripts run on the same cores; on a real fleet each host pays its own share on its own CPU)."""

    def __init__(self) -> None:
        self.room: list[float] = []
        self.machine: list[float] = []

    def __enter__(self) -> _Cpu:
        self._p, self._b = time.process_time(), _busy()
        return self

    def __exit__(self, *exc: object) -> None:
        self.room.append(time.process_time() - self._p)
        self.machine.append(_busy() - self._b)


async def _bare_loop(execs: dict[str, SshExecutor], plans: list[FaultPlan], *, fused: bool = False,
                     cpu: _Cpu | None = None) -> float:
    """The floor: the same revert command lines the executor sends (`SshExecutor.command`), on the same already
    open asyncssh connections, all hosts at once — plain `conn.run`, no verify, no disarm, no journal, no
    engine. Fresh connections (an `ssh` per host) would add a key exchange per host and be no floor at all.

    `fused`: the engine's own one command per host (revert, verify, disarm: `fused_revert`) sent the same bare
    way — the same host work as the e-stop without the engine, so e-stop / this is what the engine adds."""
    work = []
    for p in plans:
        ex = execs[p.target]
        conn = ex._conn
        assert conn is not None
        one = fused_revert(p) if fused else None
        actions = [one] if one is not None else [a for a in p.revert if isinstance(a, Shell)]
        work.append((conn, [ex.command(a) for a in actions]))

    async def one(conn: asyncssh.SSHClientConnection, commands: list[str]) -> bool:
        ok = True
        for command in commands:
            proc = await conn.run(command, check=False, request_pty=False, stdin=asyncssh.DEVNULL)
            ok = ok and proc.exit_status == 0
        return ok

    with cpu or _Cpu():
        t0 = time.perf_counter()
        ok = await asyncio.gather(*(one(conn, commands) for conn, commands in work))
        took = time.perf_counter() - t0
    assert all(ok), f"bare revert failed on {sum(not x for x in ok)} hosts"
    if not fused:
        # Untimed: the bare revert leaves the leashes armed; disarm them so the next round starts from clean hosts.
        assert all(p.leash for p in plans)
        await asyncio.gather(*(execs[p.target].run(p.leash.disarm) for p in plans if p.leash))
    return took


async def _timed(rounds: int, one: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await one()
        out.append(time.perf_counter() - t0)
    return out


async def _bench(lab: Lab, n: int, limit: int) -> dict[str, object]:
    hosts = lab.hosts[:n]
    config = [str(lab.config.ssh_config)]
    execs = {h.name: SshExecutor(h.name, h.name, config=config) for h in hosts}
    targets = {h.name: Target(h.name, "ssh", ssh=f"root@{h.ip}") for h in hosts}
    peer = hosts[0].ip if len(hosts) > 1 else str(BENCH_BASE + 5)  # reserved by the address plan: no host
    plans = [build_plan(FaultSpec("partition", h.name, {"peers": [peer]}), targets[h.name],
                        PlanContext(f"bench/0@{h.name}", 60.0, targets)) for h in hosts]
    rounds = ROUNDS if n <= 100 else BIG_ROUNDS
    row: dict[str, object] = {"hosts": n, "load_start": _load()}
    try:
        connects, cpu = [], []
        for r in range(3 if n <= 100 else 2):
            if r:
                await asyncio.gather(*(ex.close() for ex in execs.values()))
            c0, t0 = time.process_time(), time.perf_counter()
            await _connect_all(execs, limit)
            connects.append(time.perf_counter() - t0)
            cpu.append((time.process_time() - c0) / n)
        row["connect"], row["connect_cpu"] = connects, cpu

        first = execs[hosts[0].name]
        rtts = await _timed(50, lambda: first.run(Shell("true")))
        row["rtt"] = statistics.median(rtts)
        row["true_all"] = await _timed(10, lambda: asyncio.gather(*(ex.run(Shell("true")) for ex in execs.values())))

        preflights = []
        for _ in range(3):
            t0 = time.perf_counter()
            checks = await preflight_hosts(execs, plans)
            preflights.append(time.perf_counter() - t0)
            assert not failed(checks), failed(checks)[:1]
        row["preflight"] = preflights

        injects, stops, bare, bare_fused = [], [], [], []
        cpu_stop, cpu_bare = _Cpu(), _Cpu()
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                # Alternating e-stop and bare loop, round by round: both see the same machine load.
                session = _session(plans, targets, execs, Path(tmp) / f"j{r}.jsonl")
                injects.append(await _inject_all(execs, plans))
                for p in plans:  # what the engine knows after its own inject_all
                    session.rollback.active[p.fault_id] = ActiveFault(plan=p, step="bench", state="active")
                with cpu_stop:
                    t0 = time.perf_counter()
                    await session.emergency_stop("key")
                    stops.append(time.perf_counter() - t0)
                assert not session.rollback.unconfirmed, f"unconfirmed: {session.rollback.unconfirmed}"
                session._writer.close()  # type: ignore[union-attr]
                injects.append(await _inject_all(execs, plans))
                bare.append(await _bare_loop(execs, plans, cpu=cpu_bare))
                injects.append(await _inject_all(execs, plans))
                bare_fused.append(await _bare_loop(execs, plans, fused=True))
        row["inject"], row["estop"], row["bare"], row["bare_fused"] = injects, stops, bare, bare_fused
        # CPU per host, in ms: the room's own, and the machine's (room + every lab host's sshd and script).
        row["cpu_room_estop"] = [c / n * 1000 for c in cpu_stop.room]
        row["cpu_room_bare"] = [c / n * 1000 for c in cpu_bare.room]
        row["cpu_all_estop"] = [c / n * 1000 for c in cpu_stop.machine]
        row["cpu_all_bare"] = [c / n * 1000 for c in cpu_bare.machine]
        row["heartbeat"] = await _heartbeat_rounds(plans, targets, execs, HEARTBEATS if n <= 100 else BIG_HEARTBEATS)
        row["load_end"] = _load()
    finally:
        await asyncio.gather(*(ex.close() for ex in execs.values()))
    _print_row(row, limit)
    return row


def _print_row(row: dict[str, object], limit: int) -> None:
    n = row["hosts"]
    v: dict[str, list[float]] = {k: x for k, x in row.items() if isinstance(x, list)}
    bound = f"{limit} at a time" if limit > 0 else "the executors' limiter"
    print(f"   {n} hosts (load {row['load_start']} -> {row['load_end']}): connect all ({bound}) {_mp(v['connect'])}, "
          f"CPU per connection (this process) {statistics.median(v['connect_cpu']) * 1000:.1f} ms; "
          f"round trip of `true` {_ms(float(row['rtt']))}; `true` on all at once {_mp(v['true_all'])}", flush=True)
    print(f"   {n} hosts: pre-flight {_mp(v['preflight'])}; injection fan-out (leash + partition) {_mp(v['inject'])}; "
          f"heartbeat round {_mp(v['heartbeat'])}", flush=True)
    ratio = statistics.median(v["estop"]) / statistics.median(v["bare"])
    print(f"   {n} hosts: e-stop (revert+verify+disarm+journal) {_mp(v['estop'])}; bare parallel revert loop "
          f"(asyncssh, same open connections, no verify) {_mp(v['bare'])}; e-stop / bare loop = {ratio:.2f}x "
          f"({len(v['estop'])} rounds each)", flush=True)
    print(f"   {n} hosts: the engine's fused revert+verify+disarm command sent the same bare way {_mp(v['bare_fused'])}; "
          f"e-stop / that = {statistics.median(v['estop']) / statistics.median(v['bare_fused']):.2f}x "
          f"(what the engine itself adds: journal, bookkeeping)", flush=True)
    med = {k: statistics.median(v[k]) for k in ("cpu_room_estop", "cpu_room_bare", "cpu_all_estop", "cpu_all_bare")}
    print(f"   {n} hosts: CPU per host — the room: e-stop {med['cpu_room_estop']:.1f} ms, bare revert loop "
          f"{med['cpu_room_bare']:.1f} ms ({med['cpu_room_estop'] / med['cpu_room_bare']:.2f}x); the whole machine "
          f"(room + lab hosts' sshd and scripts): e-stop {med['cpu_all_estop']:.1f} ms, bare "
          f"{med['cpu_all_bare']:.1f} ms ({med['cpu_all_estop'] / med['cpu_all_bare']:.2f}x)", flush=True)


def _table(rows: list[dict[str, object]], limit: int) -> None:
    """The issue 18 table, ready for docs/benchmarks.md."""
    bound = f"{limit} at a time" if limit > 0 else "the executors' limiter"
    print(f"\n   | hosts | connect all ({bound}) | CPU/connection | pre-flight | injection fan-out | renewal round "
          f"| e-stop | bare loop | e-stop / bare | bare fused | e-stop / bare fused "
          f"| room CPU/host e-stop : bare | machine CPU/host e-stop : bare | `true` on all | load |")
    print("   |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        v: dict[str, list[float]] = {k: x for k, x in row.items() if isinstance(x, list)}
        ratio = statistics.median(v["estop"]) / statistics.median(v["bare"])
        print(f"   | {row['hosts']} | {_mp(v['connect'])} | {statistics.median(v['connect_cpu']) * 1000:.0f} ms "
              f"| {_mp(v['preflight'])} | {_mp(v['inject'])} | {_mp(v['heartbeat'])} | {_mp(v['estop'])} "
              f"| {_mp(v['bare'])} | {ratio:.2f}x | {_mp(v['bare_fused'])} "
              f"| {statistics.median(v['estop']) / statistics.median(v['bare_fused']):.2f}x "
              f"| {statistics.median(v['cpu_room_estop']):.1f} : {statistics.median(v['cpu_room_bare']):.1f} ms "
              f"| {statistics.median(v['cpu_all_estop']):.1f} : {statistics.median(v['cpu_all_bare']):.1f} ms "
              f"| {_mp(v['true_all'])} | {row['load_start']}–{row['load_end']} |")


async def _heartbeat_rounds(plans: list[FaultPlan], targets: dict[str, Target], execs: dict[str, SshExecutor],
                            beats: int) -> list[float]:
    """The session's own heartbeat (`Heartbeat.beat`) over live partitions and host claims on every host."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(plans, targets, execs, Path(tmp) / "hb.jsonl")
        hb = session.heartbeat
        taken = await asyncio.gather(*(execs[t].run(hb.host_claim().take(hb.claim_window)) for t in targets))
        assert all(judge_claim(t, r).ok for t, r in zip(targets, taken, strict=True)), "claims refused"
        for t in targets:
            hb.hold(t, False)
        await _inject_all(execs, plans)
        for p in plans:
            session.rollback.active[p.fault_id] = ActiveFault(plan=p, step="bench", state="active", leashed=True)
        rounds = []
        for _ in range(beats):
            t0 = time.perf_counter()
            await hb.beat()
            # A round that outlasts its period leaves renewals running (`beat` returns at the period, and the
            # next one skips the busy hosts): the round's figure is until the last renewal answered.
            busy = list(hb._busy.values())
            if busy:
                await asyncio.wait(busy)
            rounds.append(time.perf_counter() - t0)
        assert not hb._failing, f"renewals failed on {sorted(hb._failing)}"
        await session.emergency_stop("key")
        await hb.close()  # releases the claims
        # Leashes the stop disarmed; claims released: the next size starts from clean hosts.
        assert not session.rollback.unconfirmed and not hb.claims
        session._writer.close()  # type: ignore[union-attr]
    return rounds


KILL_SCENARIO = """\
version: 1
unobserved: true
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
    fault: {{type: partition, target: role=bench, peers: [10.75.0.5]}}
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
        errors = open(Path(tmp) / "stderr", "wb")  # closed below; read when the room fails
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal", str(journal),
            str(scenario), env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.returncode is None:
                text = journal.read_text() if journal.exists() else ""
                if text.count('"fault-injected"') == n:
                    break
                await asyncio.sleep(0.05)
            else:
                tail = journal.read_text().splitlines()[-3:] if journal.exists() else ["no journal"]
                tail.append(Path(errors.name).read_text(errors="replace").strip()[-300:])  # noqa: ASYNC240
                raise RuntimeError(f"the room did not inject on all {n} hosts (exit {proc.returncode}; journal ends: "
                                   f"{' | '.join(x[:300] for x in tail)})")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
            errors.close()
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
    # The dead room's host claims outlive its leashes (`Heartbeat.claim_window`): the next size's room, on the
    # same first hosts, would find them under fault by this one. Wait them out.
    await asyncio.sleep(max(0.0, killed + KILL_LEASH + KILL_LEASH / 3 + CLAIM_MARGIN + 0.5 - time.perf_counter()))
    renewed = "" if last_renewal is None else " (the room had renewed at least once)"
    print(f"   {n} hosts: SIGKILL at the start of a 120 s step -> every host clean after {clean_s:.2f} s "
          f"(leash window {KILL_LEASH:g} s){renewed}")


def sizes(argv: list[str], env: str | None) -> list[int]:
    """The sizes to measure: argv (`python -m benchmarks.bench_ssh 20 50`), else $BENCH_SSH_SIZES ("20,50"), else
    the issue's 20, 50, 100, 200, 500."""
    words = argv or (env or "").replace(",", " ").split()
    try:
        chosen = sorted({int(w) for w in words}) if words else list(DEFAULT_SIZES)
    except ValueError:
        raise SystemExit(f"sizes {' '.join(words)!r}: give host counts, e.g. {SIZES_ENV}=20,50") from None
    if not chosen or chosen[0] < 1:
        raise SystemExit(f"sizes {chosen}: give host counts of 1 or more")
    return chosen


def _free_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def main(argv: list[str] | None = None) -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces and sshd)")
    for tool in ("sshd", "nft", "unshare"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed")
    wanted = sizes(argv or [], os.environ.get(SIZES_ENV))
    free = _free_mb()
    chosen = [n for n in wanted if n * HOST_MB + 1024 <= free]
    for n in sorted(set(wanted) - set(chosen)):
        print(f"   {n} hosts: left out — {free} MB of memory available, a lab of {n} needs ~{n * HOST_MB + 1024} MB")
    if not chosen:
        raise SystemExit("no size fits in the available memory")
    limit = int(os.environ.get(CONNECT_LIMIT_ENV, CONNECT_LIMIT))
    # One benchmark lab at a time on this machine: a second run would tear down the first one's hosts.
    lock = os.open("/tmp/controlroom-labbench.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise SystemExit("another bench_ssh run holds the benchmark lab") from None
    lab = Lab(bench_lab(max(chosen)))
    if lab.is_up:
        lab.down()
        lab = Lab(bench_lab(max(chosen)))
    rows = []
    try:
        before, t0 = _free_mb(), time.perf_counter()
        lab.up(max(chosen), service=False, wait=60 + max(chosen) / 10)
        print(f"   lab of {max(chosen)} hosts ({lab.config.subnet}) up and answering SSH in "
              f"{time.perf_counter() - t0:.2f} s, {before - _free_mb()} MB (load {_load()})", flush=True)
        if limit > 0:
            print(f"   connects bounded to {limit} at a time by the benchmark ({CONNECT_LIMIT_ENV}=0: only the executors' own limiter)")
        try:
            for n in chosen:
                rows.append(asyncio.run(_bench(lab, n, limit)))
        finally:
            if rows:
                _table(rows, limit)  # the sizes measured, also when a larger one failed
        for n in chosen:
            if n <= KILL_SIZES:
                asyncio.run(_kill_to_clean(lab, n))
    finally:
        lab.down()
        os.close(lock)


if __name__ == "__main__":
    main(sys.argv[1:])
