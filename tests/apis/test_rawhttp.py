"""The fault APIs' HTTP client: bodies by length, chunked or to EOF; stale connections; never a POST twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from controlroom.targets.rawhttp import HttpError, RawHttp, Refused

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    line = (await reader.readline()).decode()
    length = 0
    while (h := await reader.readline()) not in (b"\r\n", b""):
        if h.lower().startswith(b"content-length:"):
            length = int(h.split(b":")[1])
    return line, await reader.readexactly(length)


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []
    seen = {"conns": 0, "requests": 0}

    async def start(handler: Handler) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen["conns"] += 1
            try:
                await handler(reader, writer, seen["conns"])
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        s = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(s)
        return int(s.sockets[0].getsockname()[1])

    start.seen = seen  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.close()


async def test_length_chunked_and_eof_bodies_and_keep_alive(server: Callable[[Handler], Awaitable[int]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            line, _ = await _read_request(reader)
            if not line:
                return
            if "/chunked" in line:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            elif "/eof" in line:
                writer.write(b"HTTP/1.0 200 OK\r\n\r\nto the end")
                await writer.drain()
                return
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
            await writer.drain()

    port = await server(handler)
    client = RawHttp()
    try:
        a = await client.request("GET", f"http://127.0.0.1:{port}/chunked")
        b = await client.request("GET", f"http://127.0.0.1:{port}/x")
        c = await client.request("GET", f"http://127.0.0.1:{port}/eof")
    finally:
        await client.aclose()
    assert (a.status, a.body, b.status, b.body, c.body) == (200, b"abcde", 404, b"no", b"to the end")
    assert server.seen["conns"] == 1  # type: ignore[attr-defined]  # kept alive until the HTTP/1.0 answer


async def test_a_stale_connection_is_retried_for_a_delete_but_a_post_is_never_sent_twice(
        server: Callable[[Handler], Awaitable[int]]) -> None:
    posts: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        line, _ = await _read_request(reader)
        if line.startswith("POST"):
            posts.append(line)
        if n == 1:  # answer the first request, then drop the connection silently after reading the next
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            again, _ = await _read_request(reader)
            if again.startswith("POST"):
                posts.append(again)
            return
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    port = await server(handler)
    client = RawHttp()
    try:
        await client.request("GET", f"http://127.0.0.1:{port}/a")
        assert (await client.request("DELETE", f"http://127.0.0.1:{port}/t")).status == 204  # retried once
        await client.request("GET", f"http://127.0.0.1:{port}/a")  # conn 3 answers 204, stays pooled
    finally:
        await client.aclose()

    posts.clear()
    server.seen["conns"] = 0  # type: ignore[attr-defined]
    port = await server(handler)
    client = RawHttp()
    try:
        await client.request("GET", f"http://127.0.0.1:{port}/a")
        with pytest.raises(HttpError, match="closed before an answer"):
            await client.request("POST", f"http://127.0.0.1:{port}/attacks/new", json_body={"x": 1})
    finally:
        await client.aclose()
    assert len(posts) == 1


async def test_refused_and_timeout(server: Callable[[Handler], Awaitable[int]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(5)

    port = await server(silent)
    client = RawHttp()
    try:
        with pytest.raises(TimeoutError):
            await client.request("GET", f"http://127.0.0.1:{port}/", timeout=0.2)
        with pytest.raises(Refused):
            await client.request("GET", "http://127.0.0.1:9/", timeout=2)
    finally:
        await client.aclose()
