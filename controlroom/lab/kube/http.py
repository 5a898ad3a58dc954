"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked bodies, streamed replies.

Enough for what Kubernetes clients send (httpx for kr8s, Go's net/http for kubectl): one request at a
time per connection, bodies by Content-Length or chunked, `Expect: 100-continue`, and chunked
responses for watches. A streamed reply ends when its source ends, when the client goes away (the
read side sees EOF) or when the server closes. It binds where it is told — the simulated cluster
only ever asks for loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEADER = 64 * 1024
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's default request limit (3 MiB)

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           406: "Not Acceptable", 409: "Conflict", 410: "Gone", 413: "Request Entity Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Entity", 500: "Internal Server Error"}


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = unquote(parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamResponse:
    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response | StreamResponse]]


class BadHttp(Exception):
    pass


class HttpServer:
    def __init__(self, handler: Handler):
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False
        self.port = 0

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEADER, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every connection: closing the transports first lets each end cleanly."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=1.0)
        for task in list(self._conns):
            task.cancel()
        for task in list(self._conns):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        try:
            while True:
                try:
                    req = await self._read_request(reader, writer)
                except (BadHttp, ValueError) as err:
                    await self._write(writer, Response(400, str(err).encode(), "text/plain"), close=True)
                    return
                if req is None:
                    return
                close = req.headers.get("connection", "").lower() == "close"
                resp = await self._handler(req)
                if isinstance(resp, StreamResponse):
                    await self._stream(reader, writer, resp)
                    return  # a watch owns its connection until it ends
                await self._write(writer, resp, close=close)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        except asyncio.CancelledError:
            if self._closing:
                return  # the server is shutting down: end quietly (asyncio logs a cancelled handler task)
            raise
        finally:
            self._writers.discard(writer)
            self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        try:
            method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        except ValueError:
            raise BadHttp("malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise BadHttp("unsupported HTTP version")
        headers: dict[str, str] = {}
        size = 0
        while True:
            h = await reader.readline()
            size += len(h)
            if size > MAX_HEADER:
                raise BadHttp("headers too large")
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size_line = await reader.readline()
                n = int(size_line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += n
                if total > MAX_BODY:
                    raise BadHttp("body too large")
                chunks.append(await reader.readexactly(n))
                await reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if n > MAX_BODY:
                raise BadHttp("body too large")
            body = await reader.readexactly(n)
        return Request(method.upper(), target, headers, body)

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, resp: Response, close: bool = False) -> None:
        lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}",
                 f"Content-Type: {resp.content_type}", f"Content-Length: {len(resp.body)}",
                 "Cache-Control: no-cache, private"]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        if close:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()

    @staticmethod
    async def _stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, resp: StreamResponse) -> None:
        lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}",
                 f"Content-Type: {resp.content_type}", "Transfer-Encoding: chunked",
                 "Cache-Control: no-cache, private"]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()

        async def pump() -> None:
            async for chunk in resp.chunks:
                if chunk:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

        pumping = asyncio.ensure_future(pump())
        gone = asyncio.ensure_future(reader.read(1))  # a watch client sends nothing more: EOF means it left
        try:
            await asyncio.wait({pumping, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (pumping, gone):
                if not t.done():
                    t.cancel()
            for t in (pumping, gone):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            aclose = getattr(resp.chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
