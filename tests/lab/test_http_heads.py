"""The request heads of the lab's two HTTP servers, read by one `parse_head`: the demo shop closes a malformed
request unanswered, the stand-ins' HttpServer answers it 400; header names are read whatever their case."""

from __future__ import annotations

import asyncio

import pytest

from controlroom.lab._http import HttpServer, Request, Response
from controlroom.lab.demo_service import DemoService


async def _exchange(port: int, raw: bytes) -> bytes:
    """What the server sends back to `raw` until it closes the connection (bounded: 5 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("head", [b"GARBAGE\r\n\r\n", b"GET /health\r\n\r\n"], ids=["one-word", "no-version"])
async def test_a_malformed_request_line_is_closed_by_the_shop_and_answered_400_by_a_stand_in(head: bytes) -> None:
    shop = DemoService()
    async def ok(_: Request) -> Response:
        return Response(200, b"ok")
    stand_in = HttpServer(ok)
    try:
        assert await _exchange(await shop.start(), head) == b""
        assert (await _exchange(await stand_in.start(), head)).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    finally:
        await shop.stop()
        await stand_in.stop()


async def test_header_names_are_read_whatever_their_case_and_a_stand_in_refuses_http_2() -> None:
    shop = DemoService()
    seen: list[Request] = []

    async def record(request: Request) -> Response:
        seen.append(request)
        return Response(200, b"ok")

    stand_in = HttpServer(record)
    try:
        closing = b"GET /health?x=1 HTTP/1.1\r\nHost: here\r\nCONNECTION: Close\r\n\r\n"
        # Keep-alive unless "Connection: close": both servers close after their answer only if they read it.
        assert b"Connection: close" in await _exchange(await shop.start(), closing)
        assert b"Connection: close" in await _exchange(await stand_in.start(), closing)
        assert seen[0].method == "GET" and seen[0].path == "/health" and seen[0].headers["connection"] == "Close"
        assert (await _exchange(stand_in.port, b"GET / HTTP/2\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    finally:
        await shop.stop()
        await stand_in.stop()
