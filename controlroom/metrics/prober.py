"""The built-in HTTP prober: a metric source that requests one URL continuously and reports what users would see.

In the background it keeps at most `concurrency` requests in flight, starting
one every `pace` seconds, and records each outcome in a rolling window. Each
`sample()` reports `NAME.success_rate` (0..1), `NAME.p50_ms`, `NAME.p95_ms`,
`NAME.p99_ms` and `NAME.rps` over that window. A non-2xx answer, a garbled
answer or a timeout is an error the service made, with the time the user
waited; only a run of *connection* failures (nothing listening) means the
telemetry itself is lost, and `sample()` raises `SourceUnavailable` so the
engine applies the lost-telemetry policy.

So that a stop condition is never left without a value while the service
misbehaves: an attempt never takes longer than `timeout` in all (a service
that trickles its answer byte by byte is a timeout, not an answer still to
come), and the window is longer than `timeout` plus the pace, so every slot
has finished at least one attempt inside it. A prober that has finished no
attempt for longer than that is stuck — it is live but tells nothing new —
and `sample()` raises `SourceUnavailable` rather than repeat an empty window.
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
        self.window = RollingWindow(window if window is not None else max(every, 2.0, timeout + self.pace))
        # Past this long without a finished attempt the prober is stuck (see the module docstring).
        self.stuck_after = max(self.window.length, timeout) + timeout + self.pace
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
        self._last_record: float | None = None
        self.last_errors: dict[str, str] = {}

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
            # httpx's timeout bounds each read, not the whole answer: the outer bound makes it the latter.
            async with asyncio.timeout(self.timeout):
                response = await self._client.get(self.url, timeout=self.timeout)
            ok = 200 <= response.status_code < 300
            latency = time.perf_counter() - started
        except (httpx.TimeoutException, TimeoutError):
            latency = time.perf_counter() - started  # the user waited this long and got nothing
        except httpx.ConnectError as err:
            connect_error = describe_connect_error(self.url, err)  # nothing listening: no latency to speak of
        except httpx.HTTPError:
            # A garbled or cut-off answer (not HTTP, reset mid-answer): an error, after this long a wait.
            latency = time.perf_counter() - started
        self.record(ok, latency, connect_error)

    def record(self, ok: bool, latency: float | None, connect_error: str = "") -> None:
        """Record one finished attempt at the clock's current time; `connect_error` when nothing answered at all."""
        self.attempts += 1
        self._last_record = self._clock.monotonic()
        self.window.add(self._last_record, ok, latency)
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
        since = self._last_record if self._last_record is not None else self._started_at
        if since is not None and now - since > self.stuck_after:
            raise SourceUnavailable(
                f"{self.name}: no request to {self.url} has finished for {now - since:.1f}s "
                f"(timeout {self.timeout:g}s): the prober is stuck")
        self.window.trim(now)
        values: dict[str, float | None] = {f"{self.name}.success_rate": self.window.success_rate()}
        for q in (50, 95, 99):
            p = self.window.percentile(q)
            values[f"{self.name}.p{q}_ms"] = None if p is None else round(p * 1000.0, 3)
        values[f"{self.name}.rps"] = round(self.window.rate(now, since=self._started_at), 3)
        gap = f"no request finished in the last {self.window.length:g}s"
        self.last_errors = {name: gap for name, value in values.items() if value is None}
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

