"""Demo service and prober figures: requests a second the sample shop serves, and what the built-in prober costs.

The shop runs in a child process (`DemoProcess`) on loopback; the client is a
raw keep-alive HTTP/1.1 loop, so the figure is the service's, not a client
library's. The prober's CPU is measured in this process while it probes at the
rate a scenario with `every: 1s` (5 probes/s) and `every: 250ms` (20/s) uses.
"""

from __future__ import annotations

import asyncio
import re
import time

from controlroom.lab.demo_service import DemoProcess
from controlroom.metrics.prober import HttpProber

SECONDS = 3.0


async def _keep_alive_client(port: int, path: str, stop: asyncio.Event, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    while not stop.is_set():
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"Content-Length: (\d+)", head)
        await reader.readexactly(int(m.group(1)) if m else 0)
        counts[0] += 1
    writer.close()


async def _throughput(shop: DemoProcess, connections: int, path: str) -> float:
    stop, counts = asyncio.Event(), [0]
    tasks = [asyncio.create_task(_keep_alive_client(shop.port, path, stop, counts)) for _ in range(connections)]
    await asyncio.sleep(SECONDS)
    stop.set()
    await asyncio.gather(*tasks)
    return counts[0] / SECONDS


async def _prober_cost(shop: DemoProcess, every: float) -> tuple[float, float, float]:
    prober = HttpProber("bench", shop.url + "/checkout", every=every, timeout=2.0)
    await prober.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(SECONDS)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    figures = await prober.sample()
    await prober.close()
    return prober.attempts / wall, 100 * cpu / wall, figures["bench.p50_ms"] or 0.0


async def _run() -> None:
    shop = DemoProcess()
    await shop.start()
    try:
        for connections in (1, 8, 32):
            rps = await _throughput(shop, connections, "/checkout")
            print(f"   demo service /checkout, {connections:2d} keep-alive connection(s): {rps:7.0f} req/s")
        print(f"   demo service /health,   32 keep-alive connections:  {await _throughput(shop, 32, '/health'):7.0f} req/s")
        for every in (1.0, 0.25):
            per_s, cpu_pct, p50 = await _prober_cost(shop, every)
            print(f"   prober every={every:g}s: {per_s:4.1f} probes/s, {cpu_pct:4.1f}% of a core "
                  f"({cpu_pct * 10 / per_s:.2f} ms CPU a probe), p50 seen {p50:.1f} ms")
    finally:
        await shop.stop()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
