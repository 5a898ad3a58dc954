"""A minimal HTTP/1.1 server on asyncio streams, shared by the Toxiproxy and Gremlin stand-ins (and the
connection bookkeeping every asyncio server of the lab needs, the demo shop's too).

The stand-ins answer their own clients (httpx, curl, the official SDKs) on loopback only, so
this is deliberately small: keep-alive, `Content-Length` and chunked request bodies,
`Expect: 100-continue`, bounded heads and bodies. Every wait is bounded by the peer closing
the connection or by `stop()`, which cancels the connection tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
REASONS = {100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           413: "Payload Too Large", 500: "Internal Server Error"}


@dataclass
class Request:
    method: str
    target: str
    path: str  # percent-decoded, as Go's router and Jersey match on
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """A request the server cannot read: answered `status` (400, 413) by the stand-ins, closed by the demo shop."""

    def __init__(self, status: int = 400) -> None:
        self.status = status


class Connections:
    """The open connections of an asyncio server, so that its stop() ends every one: a keep-alive client would
    otherwise keep its connection, and `wait_closed()`, open for as long as it likes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def held(self, writer: asyncio.StreamWriter) -> AsyncIterator[None]:
        """Around one connection's handler. The peer going away or `cancel_all()` ends it normally: asyncio's
        start_server callback (Python 3.11) calls task.exception() and logs a cancelled handler as an unhandled
        error. The writer is always closed."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class HttpServer:
    """Serves `handler` on `host:port`; `await start()` returns the bound port."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._connections = Connections()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await self._connections.cancel_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._connections.held(writer):
            while True:
                try:
                    request = await _read_request(reader, writer)
                except BadRequest as bad:
                    _write(writer, Response(bad.status, f"{REASONS.get(bad.status, 'Error')}\n".encode(),
                                            "text/plain; charset=utf-8"), keep_alive=False)
                    await writer.drain()
                    break
                if request is None:
                    break
                try:
                    response = await self._handler(request)
                except Exception as err:  # a stand-in bug: answer it rather than drop the connection unanswered
                    response = Response(500, f"internal error: {type(err).__name__}: {err}\n".encode(),
                                        "text/plain; charset=utf-8")
                connection = request.headers.get("connection", "").lower()
                keep_alive = connection != "close"
                _write(writer, response, keep_alive)
                await writer.drain()
                if not keep_alive:
                    break


def _write(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}"]
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines += [f"{name}: {value}" for name, value in response.headers]
    if response.status != 204:
        lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    body = b"" if response.status == 204 else response.body
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """A request head, up to and with its blank line; None when the client closed the connection between
    requests. BadRequest when it closed mid-head (400) or the head outgrew the stream's buffer limit (413)."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if err.partial.strip():
            raise BadRequest from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(413) from None


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    """(method, target, version, headers with lower-cased names) of a request head read up to its blank line;
    None when its first line is not `METHOD TARGET VERSION`. A header line without a colon is passed over."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """One request off a keep-alive connection; None when the client closed it between requests."""
    head = await read_head(reader)
    if head is None:
        return None
    if len(head) > MAX_HEAD:
        raise BadRequest(413)
    parsed = parse_head(head)
    if parsed is None or not parsed[2].startswith("HTTP/1."):
        raise BadRequest
    method, target, _version, headers = parsed
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise BadRequest from None
        if length < 0:
            raise BadRequest
        if length > MAX_BODY:
            raise BadRequest(413)
        body = await reader.readexactly(length) if length else b""
    split = urlsplit(target)
    return Request(method=method, target=target, path=unquote(split.path), query=parse_qs(split.query),
                   headers=headers, body=body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            raise BadRequest from None
        if size == 0:
            # Trailers, if any, end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise BadRequest(413)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def text(status: int, message: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, message.encode(), content_type)
