"""One real Prometheus per test session, scraping the demo sample service every second under steady load.

The sample service runs on its own event loop in a thread (test functions
each get their own loop), and a load thread keeps ~40 requests a second on
`/checkout`, so rates and quantiles have something to show.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from controlroom.lab.demo_service import DemoService
from controlroom.metrics.local_prometheus import LocalPrometheus
from tests.deps import require

SUCCESS_RATE = (
    'sum(rate(http_requests_total{path="/checkout",code!~"5.."}[5s])) / sum(rate(http_requests_total{path="/checkout"}[5s]))'
)
P99_MS = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{path="/checkout"}[5s]))) * 1000'


class ServiceThread:
    """A DemoService on loopback, on its own loop in a daemon thread, plus a steady load on /checkout."""

    def __init__(self, rps: float = 40.0) -> None:
        self.service = DemoService(seed=7)
        self.loop = asyncio.new_event_loop()
        self.rps = rps
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.port = 0

    def start(self) -> ServiceThread:
        ready = threading.Event()

        def run_loop() -> None:
            asyncio.set_event_loop(self.loop)
            self.port = self.loop.run_until_complete(self.service.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        t = threading.Thread(target=run_loop, name="demo-service", daemon=True)
        t.start()
        ready.wait(5)
        load = threading.Thread(target=self._load, name="demo-load", daemon=True)
        load.start()
        self._threads = [t, load]
        return self

    def _load(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        pause = 1.0 / self.rps
        while not self._stop.is_set():
            try:
                conn.request("GET", "/checkout")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self._stop.wait(pause)
        conn.close()

    def admin(self, method: str, body: dict[str, object] | None = None) -> dict[str, object]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, "/admin/faults", body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def inject_errors(self, rate: float, ttl_s: float = 30.0) -> None:
        self.admin("POST", {"error_rate": rate, "ttl_s": ttl_s})

    def clear(self) -> None:
        self.admin("DELETE")

    def stop(self) -> None:
        # The load first, so its connection closes from the client side and the server stops idle.
        self._stop.set()
        serve, load = self._threads
        load.join(5)
        time.sleep(0.05)
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        serve.join(5)
        self.loop.close()


@dataclass
class Lab:
    service: ServiceThread
    prometheus: LocalPrometheus
    data_since: float  # time.monotonic() when the first query returned data

    async def history(self, seconds: float) -> None:
        """Wait until Prometheus holds at least `seconds` of samples."""
        await asyncio.sleep(max(0.0, self.data_since + seconds - time.monotonic()))


@pytest.fixture(scope="session")
def prom_lab() -> Iterator[Lab]:
    require("prometheus")
    service = ServiceThread().start()
    prom = LocalPrometheus([f"127.0.0.1:{service.port}"], interval=1.0).start()
    try:
        # Rates need two scrapes: wait until the success-rate query itself has a value.
        prom.wait_for_data(SUCCESS_RATE, timeout=30)
        yield Lab(service, prom, time.monotonic())
    finally:
        prom.stop()
        service.stop()


def wait_until(predicate, timeout: float, every: float = 0.25) -> float:  # type: ignore[no-untyped-def]
    """Poll `predicate()` until true; the seconds it took. Fails the test on timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout}s")
