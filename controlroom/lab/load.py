"""A bounded load generator for the demo: steady requests to a loopback URL, so /metrics has traffic to show.

It refuses any host but loopback — the demo must never send load anywhere
else — and never has more than `concurrency` requests in flight: when the
service slows down, the generator sends less rather than piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from controlroom.errors import ControlroomError


class LoadError(ControlroomError):
    """A load generator asked to do something it must not (a non-loopback URL, a silly rate)."""


@dataclass
class LoadStats:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    skipped: int = 0  # ticks with every slot busy: the service is slower than the offered load


def require_loopback(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http":
        raise LoadError(f"load URL {url!r}: only http:// on loopback is allowed")
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise LoadError(f"load URL {url!r}: the load generator only targets loopback (127.0.0.1, ::1, localhost)") from None
    return url


class LoadGenerator:
    def __init__(self, url: str, rps: float = 20.0, concurrency: int = 4) -> None:
        self.url = require_loopback(url)
        if not 0 < rps <= 1000:
            raise LoadError(f"load rate {rps!r}: use 0 < rps <= 1000")
        if not 1 <= concurrency <= 64:
            raise LoadError(f"load concurrency {concurrency!r}: use 1..64")
        self.rps = rps
        self.concurrency = concurrency
        self.stats = LoadStats()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sending in the background (call from a running event loop); a second call does nothing."""
        if self.running:
            return
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.AsyncClient(limits=limits, trust_env=False, timeout=5.0)
        self._task = asyncio.create_task(self._run(), name="load-generator")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rps
        next_at = loop.time()
        while True:
            if len(self._in_flight) < self.concurrency:
                task = asyncio.create_task(self._one())
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            else:
                self.stats.skipped += 1
            # Schedule on a fixed grid so the offered rate does not drift with request time.
            next_at += interval
            delay = next_at - loop.time()
            if delay < -1.0:
                next_at = loop.time()  # fell far behind (a paused loop): do not burst to catch up
            await asyncio.sleep(max(0.0, delay))

    async def _one(self) -> None:
        assert self._client is not None
        self.stats.sent += 1
        try:
            response = await self._client.get(self.url)
        except httpx.HTTPError:
            self.stats.errors += 1
            return
        if 200 <= response.status_code < 300:
            self.stats.ok += 1
        else:
            self.stats.errors += 1

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
