"""Fixtures for the Toxiproxy stand-in: the stand-in, its API client, the demo shop and plain TCP upstreams."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from controlroom.lab.demo_service import DemoService
from controlroom.lab.toxiproxy import ToxiproxyStandIn


class TcpUpstream:
    """A loopback TCP server whose behaviour a test picks: echo, or answer each connection and close."""

    def __init__(self, serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self._serve = serve
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._serve(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                self._tasks.discard(task)
                writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


def hello_then_close(payload: bytes) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()
    return serve


@pytest.fixture
async def toxiproxy() -> AsyncIterator[ToxiproxyStandIn]:
    stand_in = ToxiproxyStandIn(port=0, seed=15)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def api(toxiproxy: ToxiproxyStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=toxiproxy.url, trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
async def shop() -> AsyncIterator[DemoService]:
    service = DemoService(seed=7)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def shop_proxy(api: httpx.AsyncClient, shop: DemoService) -> str:
    """The demo shop behind a proxy named `shop`; returns the proxy's listen address."""
    r = await api.post("/proxies", json={"name": "shop", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{shop.port}"})
    assert r.status_code == 201, r.text
    return str(r.json()["listen"])


@pytest.fixture
async def echo_upstream() -> AsyncIterator[str]:
    upstream = TcpUpstream(echo)
    address = await upstream.start()
    yield address
    await upstream.stop()


@pytest.fixture
async def echo_proxy(api: httpx.AsyncClient, echo_upstream: str) -> str:
    r = await api.post("/proxies", json={"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_upstream})
    assert r.status_code == 201, r.text
    return str(r.json()["listen"])


async def timed_checkout(listen: str, timeout: float = 10.0) -> tuple[int, float]:
    """GET /checkout through the proxy on a fresh connection: (status, seconds)."""
    async with httpx.AsyncClient(base_url=f"http://{listen}", trust_env=False, timeout=timeout) as client:
        started = time.perf_counter()
        r = await client.get("/checkout")
        return r.status_code, time.perf_counter() - started


async def connect(listen: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = listen.rsplit(":", 1)
    return await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)


async def read_until_eof(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple[bytes, list[int], float]:
    """Everything the peer sends until it closes: (data, size of each read, seconds until end of stream)."""
    started = time.perf_counter()
    data, sizes = b"", []
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            data += chunk
            sizes.append(len(chunk))
    return data, sizes, time.perf_counter() - started


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
