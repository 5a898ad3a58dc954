"""The demo's sample service: business endpoint, Prometheus exposition, and admin faults with a service-side leash."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import httpx
import pytest

from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.lab.demo_service import DemoProcess, DemoService, FaultState
from controlroom.lab.load import LoadError, LoadGenerator
from controlroom.metrics.prober import HttpProber
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.local import LocalExecutor


@pytest.fixture
async def service():
    svc = DemoService(seed=7)
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture
async def client(service):
    async with httpx.AsyncClient(base_url=service.url, trust_env=False) as c:
        yield c


async def test_checkout_answers_fast_when_no_fault_is_set(client):
    took = []
    for _ in range(5):  # the fastest of five: a loaded CI machine can stall one request, not the shop's floor
        started = time.perf_counter()
        r = await client.get("/checkout")
        took.append(time.perf_counter() - started)
        assert r.status_code == 200 and r.json() == {"order": "ok"}
    assert min(took) < 0.1
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_latency_fault_slows_checkout_but_not_health(client):
    r = await client.post("/admin/faults", json={"latency_ms": 150, "ttl_s": 10})
    assert r.status_code == 200 and r.json()["latency_ms"] == 150
    started = time.perf_counter()
    assert (await client.get("/checkout")).status_code == 200
    assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    await client.get("/health")
    assert time.perf_counter() - started < 0.1


async def test_error_fault_fails_about_its_rate_of_requests(client):
    await client.post("/admin/faults", json={"error_rate": 0.5, "ttl_s": 10})
    codes = [(await client.get("/checkout")).status_code for _ in range(200)]
    assert set(codes) == {200, 500}
    assert 70 <= codes.count(500) <= 130


async def test_faults_clear_by_themselves_after_ttl(client):
    await client.post("/admin/faults", json={"latency_ms": 50, "error_rate": 1.0, "ttl_s": 0.3})
    active = (await client.get("/admin/faults")).json()
    assert active["error_rate"] == 1.0 and 0 < active["expires_in_s"] <= 0.3
    assert (await client.get("/checkout")).status_code == 500
    await asyncio.sleep(0.35)
    assert (await client.get("/admin/faults")).json() == {
        "latency_ms": 0.0, "error_rate": 0.0, "expires_in_s": None,
        "latency_expires_in_s": None, "error_rate_expires_in_s": None}
    assert (await client.get("/checkout")).status_code == 200


def test_reposting_renews_the_leash():
    now = [100.0]
    faults = FaultState(clock=lambda: now[0])
    assert faults.set({"latency_ms": 100, "ttl_s": 5}) == ""
    now[0] = 104.0
    assert faults.set({"latency_ms": 100, "ttl_s": 5}) == ""  # renewal, as the leash does
    now[0] = 108.0
    assert faults.snapshot()["latency_ms"] == 100
    now[0] = 109.0
    assert faults.snapshot()["latency_ms"] == 0


async def test_delete_is_idempotent_and_clears_one_kind_or_all(client):
    assert (await client.delete("/admin/faults")).status_code == 200  # nothing set: still 200
    await client.post("/admin/faults", json={"latency_ms": 10, "error_rate": 0.2, "ttl_s": 10})
    r = await client.delete("/admin/faults/latency")
    assert r.json()["latency_ms"] == 0 and r.json()["error_rate"] == 0.2
    r = await client.delete("/admin/faults")
    assert r.json()["error_rate"] == 0.0
    assert (await client.delete("/admin/faults")).status_code == 200


@pytest.mark.parametrize("body, message", [
    ({"latency_ms": 100}, "ttl_s is required"),
    ({"latency_ms": -1, "ttl_s": 5}, "latency_ms must be"),
    ({"error_rate": 1.5, "ttl_s": 5}, "error_rate must be"),
    ({"ttl_s": 5}, "set latency_ms and/or error_rate"),
    ({"latency": 100, "ttl_s": 5}, "unknown keys: latency"),
])
async def test_bad_fault_requests_are_refused_and_change_nothing(client, body, message):
    r = await client.post("/admin/faults", json=body)
    assert r.status_code == 400 and message in r.json()["error"]
    assert (await client.get("/admin/faults")).json()["latency_ms"] == 0


async def test_metrics_exposition_counts_requests_and_latency(client):
    await client.post("/admin/faults", json={"error_rate": 1.0, "ttl_s": 10})
    for _ in range(3):
        await client.get("/checkout")
    await client.delete("/admin/faults")
    for _ in range(2):
        await client.get("/checkout")
    text = (await client.get("/metrics")).text
    samples = _parse_exposition(text)
    assert samples[('http_requests_total', (("code", "500"), ("path", "/checkout")))] == 3
    assert samples[('http_requests_total', (("code", "200"), ("path", "/checkout")))] == 2
    count = samples[("http_request_duration_seconds_count", (("path", "/checkout"),))]
    assert count == 5
    inf = samples[("http_request_duration_seconds_bucket", (("le", "+Inf"), ("path", "/checkout")))]
    assert inf == count
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                     if name == "http_request_duration_seconds_bucket" and dict(labels)["le"] != "+Inf")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert "# TYPE http_request_duration_seconds histogram" in text


async def test_keep_alive_connection_serves_many_requests(service):
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    for _ in range(3):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()


async def test_http_1_0_connections_are_closed_and_chunked_bodies_refused(service):
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(b"GET /health HTTP/1.0\r\n\r\n")
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 2)  # read() to EOF: the server closed it
    assert reply.startswith(b"HTTP/1.1 200") and b"Connection: close" in reply
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(b"POST /admin/faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 2)
    assert reply.startswith(b"HTTP/1.1 411")
    writer.close()


async def test_metrics_show_the_active_faults_as_gauges(client):
    await client.post("/admin/faults", json={"latency_ms": 150, "error_rate": 0.25, "ttl_s": 10})
    samples = _parse_exposition((await client.get("/metrics")).text)
    assert samples[("demo_fault_latency_seconds", ())] == 0.15
    assert samples[("demo_fault_error_ratio", ())] == 0.25


async def test_load_generator_keeps_the_service_busy_at_its_rate(service):
    load = LoadGenerator(service.url + "/checkout", rps=40, concurrency=4)
    load.start()
    await asyncio.sleep(1.0)
    await load.stop()
    assert 25 <= load.stats.sent <= 50
    # Every request answered (a loaded machine may let a few run into the generator's own timeout).
    assert load.stats.ok >= load.stats.sent - 3, load.stats
    assert service.metrics.counts["/checkout"] >= 25


def test_load_generator_refuses_anything_but_loopback():
    with pytest.raises(LoadError, match="only targets loopback"):
        LoadGenerator("http://10.0.0.5/checkout")
    with pytest.raises(LoadError, match="only targets loopback"):
        LoadGenerator("http://example.com/checkout")
    LoadGenerator("http://localhost:8080/checkout")
    LoadGenerator("http://[::1]:8080/checkout")


async def test_pausing_the_service_process_shows_as_errors_not_lost_telemetry(tmp_path):
    pidfile = str(tmp_path / "shop.pid")
    shop = DemoProcess(pidfile=pidfile)
    await shop.start()
    prober = HttpProber("checkout", shop.url + "/checkout", every=0.25, timeout=0.3, window=0.6)
    plan = build_plan(FaultSpec("process-pause", "here", {"pidfile": pidfile}), Target("here", "local"),
                      PlanContext(fault_id=f"pause-{tmp_path.name}", duration=5.0))
    ex = LocalExecutor("here")
    try:
        await prober.start()
        await asyncio.sleep(0.7)
        assert (await prober.sample())["checkout.success_rate"] == 1.0
        assert (await ex.run(plan.inject[0])).ok
        await asyncio.sleep(1.0)
        assert (await prober.sample())["checkout.success_rate"] == 0.0  # a frozen service times out
        assert (await ex.run(plan.revert[0])).ok
        await asyncio.sleep(1.0)
        assert (await prober.sample())["checkout.success_rate"] == 1.0
    finally:
        await prober.close()
        await shop.stop()


async def test_a_supervised_service_comes_back_after_a_kill(tmp_path):
    pidfile = str(tmp_path / "shop.pid")
    shop = DemoProcess(pidfile=pidfile, supervise=True)
    await shop.start()
    plan = build_plan(FaultSpec("process-kill", "here", {"pidfile": pidfile, "restart_check": "5s"}),
                      Target("here", "local"), PlanContext(fault_id=f"kill-{tmp_path.name}", duration=None))
    ex = LocalExecutor("here")
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(shop.url + "/health")).status_code == 200
            assert (await ex.run(plan.inject[0])).ok
            assert (await ex.run(plan.verify[0])).ok
            for _ in range(50):  # the new process may still be binding its socket
                with contextlib.suppress(httpx.ConnectError):
                    if (await client.get(shop.url + "/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            assert (await client.get(shop.url + "/health")).status_code == 200
    finally:
        await shop.stop()


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def _parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A strict reader of the text format: every non-comment line must be `name{labels} value`."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, f"not exposition format: {line!r}"
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out
