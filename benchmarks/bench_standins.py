"""Toxiproxy and Gremlin stand-in figures: the floor under the product's revert and e-stop of issue 15.

Issue 15 asks that halting 20 Gremlin attacks, or removing 20 toxics, be verified within one API
round trip + 50 ms on loopback. These figures are what the stand-ins themselves cost: a round
trip, 20 removals/halts sent at once and then verified with one GET, what a proxy adds to a
request, how close a latency toxic is to what it asks, and bytes per second through a proxy.
Each stand-in runs in a process of its own (as a real server would), on loopback, in front of
the demo shop (in this process) and an echo server.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from controlroom.lab.demo_service import DemoProcess
from controlroom.lab.gremlin import GremlinProcess
from controlroom.lab.toxiproxy import ProxySpec, ToxiproxyProcess

RUNS = 15


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered) * 1000:6.1f} ms, max {ordered[-1] * 1000:6.1f} ms"


async def _timed(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    r = await client.get(path)
    r.raise_for_status()
    return time.perf_counter() - started


class _RawClients:
    """20 plain keep-alive connections, to tell the server's cost from an HTTP client library's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self, n: int = 20) -> None:
        self.conns = [await asyncio.open_connection("127.0.0.1", self.port) for _ in range(n)]

    async def burst(self, requests: list[str], headers: str = "") -> list[int]:
        async def one(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], line: str) -> int:
            reader, writer = conn
            writer.write(f"{line} HTTP/1.1\r\nHost: bench\r\n{headers}Content-Length: 0\r\n\r\n".encode())
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            length = next((int(h.split(":", 1)[1]) for h in head.split("\r\n")
                           if h.lower().startswith("content-length:")), 0)
            await reader.readexactly(length)
            return int(head.split(" ", 2)[1])
        return await asyncio.gather(*(one(c, r) for c, r in zip(self.conns, requests, strict=False)))

    def close(self) -> None:
        for _, writer in self.conns:
            writer.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _toxiproxy() -> None:
    shop = DemoProcess()
    await shop.start()
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    echo_port = echo.sockets[0].getsockname()[1]
    stand_in = ToxiproxyProcess(port=0, proxies=[ProxySpec("shop", "127.0.0.1:0", f"127.0.0.1:{shop.port}"),
                                                 ProxySpec("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")])
    try:
        async with httpx.AsyncClient(base_url=await stand_in.start(), trust_env=False) as api:
            await _timed(api, "/version")
            trips = [await _timed(api, "/version") for _ in range(50)]
            print(f"   toxiproxy API round trip (GET /version):             {_ms(trips)}")
            await asyncio.gather(*(api.get("/version") for _ in range(20)))  # a warm pool of 20 connections

            removals = []
            for _ in range(RUNS):
                for i in range(20):
                    r = await api.post("/proxies/shop/toxics", json={"name": f"cr-bench-{i}", "type": "latency",
                                                                      "attributes": {"latency": 1}})
                    r.raise_for_status()
                started = time.perf_counter()
                answers = await asyncio.gather(*(api.delete(f"/proxies/shop/toxics/cr-bench-{i}") for i in range(20)))
                left = (await api.get("/proxies/shop/toxics")).json()
                removals.append(time.perf_counter() - started)
                assert all(a.status_code == 204 for a in answers) and left == []
            print(f"   20 toxics deleted at once + verified by one GET:     {_ms(removals)}  (httpx)")
            raw = _RawClients(int(api.base_url.port or 0))
            await raw.open()
            server_side = []
            for _ in range(RUNS):
                for i in range(20):
                    await api.post("/proxies/shop/toxics", json={"name": f"cr-bench-{i}", "type": "latency"})
                started = time.perf_counter()
                codes = await raw.burst([f"DELETE /proxies/shop/toxics/cr-bench-{i}" for i in range(20)])
                codes += await raw.burst(["GET /proxies/shop/toxics"])
                server_side.append(time.perf_counter() - started)
                assert codes == [204] * 20 + [200]
            raw.close()
            print(f"   the same over 20 raw keep-alive connections:         {_ms(server_side)}  (the server's part)")

            proxies = (await api.get("/proxies")).json()
            async with httpx.AsyncClient(base_url=shop.url, trust_env=False) as direct, \
                    httpx.AsyncClient(base_url=f"http://{proxies['shop']['listen']}", trust_env=False) as proxied:
                await _timed(direct, "/checkout")
                await _timed(proxied, "/checkout")
                plain = [await _timed(direct, "/checkout") for _ in range(200)]
                through = [await _timed(proxied, "/checkout") for _ in range(200)]
                added = statistics.median(through) - statistics.median(plain)
                print(f"   /checkout direct:                                    {_ms(plain)}")
                print(f"   /checkout through the proxy (keep-alive):            {_ms(through)} "
                      f"({added * 1000:+.2f} ms)")
                await api.post("/proxies/shop/toxics", json={"type": "latency", "attributes": {"latency": 100}})
                slowed = [await _timed(proxied, "/checkout") for _ in range(20)]
                print(f"   /checkout with a 100 ms latency toxic:               {_ms(slowed)}")

            host, port = proxies["echo"]["listen"].rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            payload, total = b"x" * (1 << 20), 32 << 20
            started = time.perf_counter()

            async def send() -> None:
                for _ in range(total // len(payload)):
                    writer.write(payload)
                    await writer.drain()

            sender = asyncio.create_task(send())
            await reader.readexactly(total)
            await sender
            seconds = time.perf_counter() - started
            writer.close()
            print(f"   echo through the proxy, 32 MiB each way:             {total / seconds / 1e6:6.0f} MB/s")
    finally:
        await stand_in.stop()
        echo.close()
        await shop.stop()


async def _twenty_attacks(api: httpx.AsyncClient) -> list[str]:
    """A five-minute CPU attack on each of web-0..web-19, one request each: their guids."""
    guids = []
    for i in range(20):
        r = await api.post("/attacks/new", json={"command": {"type": "cpu", "args": ["-l", "300"]},
                                                 "target": {"type": "Exact", "hosts": {"ids": [f"web-{i}"]}}})
        guids.append(r.text)
    return guids


async def _gremlin() -> None:
    stand_in = GremlinProcess("k-bench", team="team-bench", clients=[f"web-{i}:service=shop" for i in range(20)],
                              stage_seconds=0)
    try:
        async with httpx.AsyncClient(base_url=await stand_in.start(), trust_env=False,
                                     headers={"Authorization": "Key k-bench"}) as api:
            await _timed(api, "/clients/active")
            trips = [await _timed(api, "/attacks/active") for _ in range(50)]
            print(f"   gremlin API round trip (GET /attacks/active):        {_ms(trips)}")
            await asyncio.gather(*(api.get("/clients/active") for _ in range(20)))
            halts = []
            for _ in range(RUNS):
                guids = await _twenty_attacks(api)
                started = time.perf_counter()
                answers = await asyncio.gather(*(api.delete(f"/attacks/{g}") for g in guids))
                active = (await api.get("/attacks/active")).json()
                halts.append(time.perf_counter() - started)
                assert all(a.status_code == 202 for a in answers) and active == []
            print(f"   20 attacks halted at once + verified by one GET:     {_ms(halts)}  (httpx)")
            raw = _RawClients(int(api.base_url.port or 0))
            await raw.open()
            server_side = []
            for _ in range(RUNS):
                guids = await _twenty_attacks(api)
                started = time.perf_counter()
                codes = await raw.burst([f"DELETE /v1/attacks/{g}" for g in guids], "Authorization: Key k-bench\r\n")
                codes += await raw.burst(["GET /v1/attacks/active"], "Authorization: Key k-bench\r\n")
                server_side.append(time.perf_counter() - started)
                assert codes == [202] * 20 + [200]
            raw.close()
            print(f"   the same over 20 raw keep-alive connections:         {_ms(server_side)}  (the server's part)")
    finally:
        await stand_in.stop()


def main() -> None:
    asyncio.run(_toxiproxy())
    asyncio.run(_gremlin())


if __name__ == "__main__":
    main()
