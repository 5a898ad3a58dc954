"""The built-in HTTP prober: a metric source that requests one URL continuously and reports what users would see.

In the background it keeps at most `concurrency` requests in flight, starting
one every `pace` seconds, and records each outcome in a rolling window. Each
`sample()` reports `NAME.success_rate` (0..1), `NAME.p50_ms`, `NAME.p95_ms`,
`NAME.p99_ms` and `NAME.rps` over that window. A non-2xx answer or a timeout is
an error the service made; only a run of *connection* failures (nothing
listening) means the telemetry itself is lost, and `sample()` raises
`SourceUnavailable` so the engine applies the lost-telemetry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import httpx

from controlroom.clock import Clock, RealClock
from controlroom.errors import MetricsError
from controlroom.metrics.source import SourceUnavailable
from controlroom.metrics.window import RollingWindow
from controlroom.targets.http import describe_connect_error

SUFFIXES: tuple[str, ...] = ("success_rate", "p50_ms", "p95_ms", "p99_ms", "rps")


class HttpProber:
    def __init__(
        self,
        name: str,
        url: str,
        every: float = 1.0,
        timeout: float = 2.0,
        concurrency: int = 2,
        *,
        window: float | None = None,
        pace: float | None = None,
        lost_after_attempts: int = 3,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MetricsError(f"metric {name!r}: probe URL {url!r} must be an http:// or https:// URL with a host")
        if concurrency < 1 or timeout <= 0 or every <= 0:
            raise MetricsError(f"metric {name!r}: every, timeout and concurrency must be positive")
        self.name = name
        self.url = url
        self.every = every
        self.timeout = timeout
        self.concurrency = concurrency
        self.pace = pace if pace is not None else min(1.0, max(0.02, every / 5))
        self.lost_after_attempts = max(1, lost_after_attempts)
        self.window = RollingWindow(window if window is not None else max(every, 2.0))
        self.attempts = 0  # total requests finished, for overhead figures
        self._clock: Clock = clock or RealClock()
        self._client = client
        self._own_client = client is None
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._started_at: float | None = None
        self._connect_failures = 0  # consecutive attempts that could not connect at all
        self._last_connect_error = ""
        self._crashed: BaseException | None = None

    def series(self) -> list[str]:
        return [f"{self.name}.{suffix}" for suffix in SUFFIXES]

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        if self._client is None:
            # One connection per in-flight request, reused: the prober measures the service, not TCP setup.
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            self._client = httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False)
        self._started_at = self._clock.monotonic()
        self._loop_task = asyncio.create_task(self._run(), name=f"prober:{self.name}")

    async def _run(self) -> None:
        try:
            while True:
                if len(self._in_flight) < self.concurrency:
                    task = asyncio.create_task(self._attempt())
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                await self._clock.sleep(self.pace)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # surfaced by sample() as lost telemetry
            self._crashed = err

    async def _attempt(self) -> None:
        assert self._client is not None
        started = time.perf_counter()
        ok, latency, connect_error = False, None, ""
        try:
            response = await self._client.get(self.url, timeout=self.timeout)
            ok = 200 <= response.status_code < 300
            latency = time.perf_counter() - started
        except httpx.TimeoutException:
            latency = time.perf_counter() - started  # the user waited this long and got nothing
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
            if isinstance(err, httpx.ConnectError):
                connect_error = describe_connect_error(self.url, err)
        except httpx.HTTPError:
            pass
        self.record(ok, latency, connect_error)

    def record(self, ok: bool, latency: float | None, connect_error: str = "") -> None:
        """Record one finished attempt at the clock's current time; `connect_error` when nothing answered at all."""
        self.attempts += 1
        self.window.add(self._clock.monotonic(), ok, latency)
        if connect_error:
            self._connect_failures += 1
            self._last_connect_error = connect_error
        else:
            self._connect_failures = 0

    async def sample(self) -> dict[str, float | None]:
        if self._crashed is not None:
            raise SourceUnavailable(f"{self.name}: prober stopped: {self._crashed}")
        if self._connect_failures >= self.lost_after_attempts:
            raise SourceUnavailable(
                f"{self.name}: {self._last_connect_error} ({self._connect_failures} attempts in a row)")
        now = self._clock.monotonic()
        self.window.trim(now)
        values: dict[str, float | None] = {f"{self.name}.success_rate": self.window.success_rate()}
        for q in (50, 95, 99):
            p = self.window.percentile(q)
            values[f"{self.name}.p{q}_ms"] = None if p is None else round(p * 1000.0, 3)
        values[f"{self.name}.rps"] = round(self.window.rate(now, since=self._started_at), 3)
        return values

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop_task = None
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

