"""The HTTP prober: real figures against the demo service, errors vs lost telemetry, bounded concurrency."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from controlroom.clock import ManualClock
from controlroom.errors import MetricsError
from controlroom.lab.demo_service import DemoService
from controlroom.metrics.prober import HttpProber
from controlroom.metrics.source import MetricSource, SourceUnavailable


@pytest.fixture
async def shop():
    svc = DemoService(seed=3)
    await svc.start()
    yield svc
    await svc.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_p99_rises_with_a_latency_fault_and_falls_back_after(shop):
    prober = HttpProber("checkout", shop.url + "/checkout", every=0.5, timeout=2.0, window=0.8)
    assert isinstance(prober, MetricSource)
    assert prober.series() == ["checkout.success_rate", "checkout.p50_ms", "checkout.p95_ms",
                               "checkout.p99_ms", "checkout.rps"]
    await prober.start()
    try:
        await asyncio.sleep(0.9)
        before = await prober.sample()
        assert before["checkout.success_rate"] == 1.0
        # Bounds with room for a loaded CI machine (a loaded loopback round trip has been seen at 270 ms),
        # against a fault twice as slow as the bound: the rise still cannot come from noise alone.
        assert before["checkout.p99_ms"] is not None and before["checkout.p99_ms"] < 250
        assert before["checkout.rps"] > 3
        shop.faults.set({"latency_ms": 500, "ttl_s": 30})
        await asyncio.sleep(1.5)
        during = await prober.sample()
        assert during["checkout.p99_ms"] >= 500
        assert during["checkout.p50_ms"] >= 500
        assert during["checkout.success_rate"] == 1.0  # slow is not failed
        shop.faults.clear()
        await asyncio.sleep(1.5)
        after = await prober.sample()
        assert after["checkout.p99_ms"] < 250
    finally:
        await prober.close()


async def test_server_errors_lower_the_success_rate(shop):
    shop.faults.set({"error_rate": 1.0, "ttl_s": 30})
    prober = HttpProber("checkout", shop.url + "/checkout", every=0.25, timeout=1.0, window=0.5)
    await prober.start()
    try:
        await asyncio.sleep(0.4)
        figures = await prober.sample()  # a 500 is a real error rate, never lost telemetry
        assert figures["checkout.success_rate"] == 0.0
    finally:
        await prober.close()


async def test_timeouts_are_errors_with_the_time_the_user_waited(shop):
    shop.faults.set({"latency_ms": 1000, "ttl_s": 30})
    prober = HttpProber("checkout", shop.url + "/checkout", every=0.25, timeout=0.1, window=1.0)
    await prober.start()
    try:
        await asyncio.sleep(0.5)
        figures = await prober.sample()
        assert figures["checkout.success_rate"] == 0.0
        assert 100 <= figures["checkout.p99_ms"] < 500
    finally:
        await prober.close()


async def test_nothing_listening_means_the_source_is_unavailable():
    url = f"http://127.0.0.1:{_free_port()}/checkout"
    prober = HttpProber("checkout", url, every=0.1, timeout=1.0, lost_after_attempts=3)
    await prober.start()
    try:
        await asyncio.sleep(0.3)
        with pytest.raises(SourceUnavailable, match=f"checkout: connection refused to {url}"):
            await prober.sample()
    finally:
        await prober.close()


async def test_one_answer_after_refusals_makes_the_source_available_again():
    clock = ManualClock()
    prober = HttpProber("api", "http://127.0.0.1:9/health", every=1.0, timeout=1.0, clock=clock,
                        lost_after_attempts=3)
    for _ in range(3):
        prober.record(False, None, "connection refused to http://127.0.0.1:9/health")
    with pytest.raises(SourceUnavailable):
        await prober.sample()
    prober.record(True, 0.004)
    figures = await prober.sample()
    assert figures["api.success_rate"] == pytest.approx(0.25)
    assert figures["api.p99_ms"] == pytest.approx(4.0)


async def test_figures_cover_only_the_window_on_an_injected_clock():
    clock = ManualClock()
    prober = HttpProber("api", "http://127.0.0.1:9/health", every=1.0, timeout=1.0, clock=clock, window=2.0)
    prober._started_at = 0.0
    for _ in range(4):
        prober.record(False, 1.0)
    await clock.advance(3.0)
    for _ in range(6):
        prober.record(True, 0.010)
    figures = await prober.sample()
    assert figures == {"api.success_rate": 1.0, "api.p50_ms": 10.0, "api.p95_ms": 10.0, "api.p99_ms": 10.0,
                       "api.rps": 3.0}


async def test_no_more_than_concurrency_requests_in_flight():
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return httpx.Response(200)

    clock = ManualClock()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    prober = HttpProber("api", "http://shop.test/health", every=0.5, timeout=5.0, concurrency=2,
                        clock=clock, client=client)
    await prober.start()
    await clock.advance(2.0)  # 20 pacing ticks, but only 2 slots
    assert peak == 2 and prober.attempts == 0
    release.set()
    await clock.advance(0.5)
    assert prober.attempts >= 2
    await prober.close()
    await client.aclose()


def test_a_probe_url_must_be_http():
    with pytest.raises(MetricsError, match="must be an http:// or https:// URL"):
        HttpProber("x", "ftp://host/file")
    with pytest.raises(MetricsError, match="must be positive"):
        HttpProber("x", "http://127.0.0.1/", concurrency=0)


class LyingServer:
    """A TCP server on loopback that answers HTTP requests badly: `trickle` sends its answer a byte at a time
    (every read is quick, the answer never ends), `garbage` answers something that is not HTTP; `ok` is well."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "ok":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                await writer.drain()
                return
            if self.mode == "garbage":
                writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while True:
                writer.write(b".")
                await writer.drain()
                await asyncio.sleep(0.05)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/checkout"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()


async def test_an_answer_that_trickles_forever_is_a_timeout_not_an_empty_window():
    async with LyingServer("trickle") as url:
        prober = HttpProber("checkout", url, every=0.25, timeout=0.3)
        await prober.start()
        try:
            await asyncio.sleep(1.0)
            figures = await prober.sample()
        finally:
            await prober.close()
    # The user waited the whole timeout and got nothing: a failed request, not "no data".
    assert figures["checkout.success_rate"] == 0.0
    assert figures["checkout.p99_ms"] is not None and 290 <= figures["checkout.p99_ms"] < 600


async def test_a_garbled_answer_is_an_error_with_the_time_it_took():
    async with LyingServer("garbage") as url:
        prober = HttpProber("checkout", url, every=0.25, timeout=1.0)
        await prober.start()
        try:
            await asyncio.sleep(0.6)
            figures = await prober.sample()
        finally:
            await prober.close()
    assert figures["checkout.success_rate"] == 0.0
    assert figures["checkout.p99_ms"] is not None and figures["checkout.p99_ms"] < 500
    assert prober.last_errors == {}


async def test_a_prober_whose_requests_never_finish_is_stuck_not_quiet():
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    clock = ManualClock()
    client = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    # A real-time timeout far beyond the simulated seconds: on the prober's clock, nothing ever finishes.
    prober = HttpProber("api", "http://shop.test/health", every=1.0, timeout=30.0, clock=clock, client=client)
    await prober.start()
    try:
        await clock.advance(5.0)
        quiet = await prober.sample()
        assert quiet["api.success_rate"] is None and prober.last_errors["api.success_rate"].startswith(
            "no request finished in the last")
        await clock.advance(prober.stuck_after)
        with pytest.raises(SourceUnavailable, match=r"no request to http://shop\.test/health has finished for"):
            await prober.sample()
    finally:
        await prober.close()
        await client.aclose()
