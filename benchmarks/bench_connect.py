"""Connecting a fleet (root): how long N lab hosts take to connect through the session's connect limiter, for
several limits — the figure the default (`connect_limit.default_size`, 8 per CPU) is chosen from — and how
many of them fail with the connect timeout counted from the attempt.

Uses the lab named by $CONTROLROOM_BENCH_LAB (a state dir of `controlroom lab --dir DIR up --hosts N`), or
brings up its own (prefix `cc`, 10.74.0.0/24, CONNECT_HOSTS hosts) and tears it down.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from controlroom.lab.netns import Lab, LabConfig
from controlroom.targets.connect_limit import ConnectLimiter, default_size
from controlroom.targets.ssh import SshExecutor

OWN_LAB = LabConfig(state_dir=Path("/tmp/controlroom-labconnect"), prefix="cc", bridge="crconn0",
                    subnet="10.74.0.0/24")
HOSTS = int(os.environ.get("CONNECT_HOSTS", "200"))
LIMITS = tuple(int(x) for x in os.environ.get("CONNECT_LIMITS", "4,8,16,32,64,0").split(","))  # 0: no limit (every handshake at once, as before the limiter)
ROUNDS = int(os.environ.get("CONNECT_ROUNDS", "3"))
CONNECT_TIMEOUT = 5.0  # the SshExecutor default


async def _round(lab: Lab, limit: int) -> tuple[float, int]:
    """Seconds to connect every host, and how many failed."""
    config = [str(lab.config.ssh_config)]
    limiter = ConnectLimiter(limit or 10_000)
    execs = [SshExecutor(h.name, h.name, config=config, connect_timeout=CONNECT_TIMEOUT, connect_attempts=1,
                         limiter=limiter) for h in lab.hosts]

    async def one(ex: SshExecutor) -> bool:
        try:
            await ex.connect()
        except Exception:
            return False
        return True

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(ex) for ex in execs))
    took = time.perf_counter() - t0
    await asyncio.gather(*(ex.close() for ex in execs))
    return took, results.count(False)


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, sshd)")
    named = os.environ.get("CONTROLROOM_BENCH_LAB")
    lab = Lab(LabConfig(state_dir=Path(named))) if named else Lab(OWN_LAB)
    own = not named
    if own:
        if lab.is_up:
            lab.down()
        lab.up(HOSTS, service=False, wait=60.0)
    try:
        n = len(lab.hosts)
        print(f"   {n} hosts, {os.cpu_count()} CPUs (default limit {default_size()}), connect timeout "
              f"{CONNECT_TIMEOUT:g}s, one attempt each, load {os.getloadavg()[0]:.1f}")
        for limit in LIMITS:
            times, fails = [], []
            for _ in range(ROUNDS):
                took, failed = asyncio.run(_round(lab, limit))
                times.append(took)
                fails.append(failed)
            name = f"limit {limit}" if limit else "no limit"
            print(f"   {name:>9}: connect all median {statistics.median(times):.2f}s "
                  f"(min {min(times):.2f}, max {max(times):.2f}), failed {max(fails)} of {n} at worst; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if own:
            lab.down()


if __name__ == "__main__":
    main()
    sys.exit(0)
