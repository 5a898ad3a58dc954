"""Toxics really act on the bytes: the demo shop behind the stand-in slows down, stalls, resets and recovers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from controlroom.lab.toxiproxy import ToxiproxyStandIn
from tests.toxiproxy.conftest import TcpUpstream, close, connect, hello_then_close, read_until_eof, timed_checkout


async def _toxic(api: httpx.AsyncClient, proxy: str, **body: object) -> None:
    r = await api.post(f"/proxies/{proxy}/toxics", json=body)
    assert r.status_code == 200, r.text


async def test_latency_toxic_slows_the_shop_and_deleting_it_restores_speed(api, shop_proxy) -> None:
    status, plain = await timed_checkout(shop_proxy)
    assert status == 200 and plain < 0.4
    await _toxic(api, "shop", name="cr-s1-latency", type="latency", attributes={"latency": 500})
    status, slow = await timed_checkout(shop_proxy)
    assert status == 200 and slow >= 0.5
    assert (await api.delete("/proxies/shop/toxics/cr-s1-latency")).status_code == 204
    status, after = await timed_checkout(shop_proxy)
    assert status == 200 and after < 0.4


async def test_latency_applies_to_connections_already_open(api, shop_proxy) -> None:
    async with httpx.AsyncClient(base_url=f"http://{shop_proxy}", trust_env=False, timeout=10) as client:
        assert (await client.get("/checkout")).status_code == 200  # the keep-alive connection exists first
        await _toxic(api, "shop", type="latency", attributes={"latency": 250})
        started = time.perf_counter()
        assert (await client.get("/checkout")).status_code == 200
        assert time.perf_counter() - started >= 0.25


async def test_deleting_latency_releases_data_it_holds_at_once(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="latency", attributes={"latency": 5000})
    started = time.perf_counter()
    request = asyncio.create_task(timed_checkout(shop_proxy))
    await asyncio.sleep(0.3)
    assert (await api.delete("/proxies/shop/toxics/latency_downstream")).status_code == 204
    status, _ = await asyncio.wait_for(request, 3)
    assert status == 200 and time.perf_counter() - started < 2.0  # not the 5 s the toxic asked for


async def test_upstream_latency_delays_the_request_side(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="latency", stream="upstream", attributes={"latency": 300})
    status, seconds = await timed_checkout(shop_proxy)
    assert status == 200 and seconds >= 0.3


async def test_jitter_spreads_latency_around_its_mean(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="latency", attributes={"latency": 200, "jitter": 150})
    times = [t for _, t in await asyncio.gather(*(timed_checkout(shop_proxy) for _ in range(8)))]
    assert all(0.04 <= t < 2.0 for t in times)  # 50–350 ms, and a loaded machine's own delays
    assert max(times) - min(times) > 0.03  # not one fixed delay


async def test_bandwidth_toxic_caps_throughput(api, echo_proxy) -> None:
    payload = b"x" * 60_000

    async def round_trip() -> float:
        reader, writer = await connect(echo_proxy)
        started = time.perf_counter()
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
        assert got == payload
        await close(writer)
        return time.perf_counter() - started

    assert await round_trip() < 0.5
    await _toxic(api, "echo", type="bandwidth", attributes={"rate": 50})  # 50 KB/s downstream
    seconds = await round_trip()
    assert 1.0 <= seconds < 3.0  # 60 kB at 50 KB/s: 1.2 s


async def test_timeout_zero_holds_data_until_removed_then_closes(api, echo_proxy) -> None:
    await _toxic(api, "echo", type="timeout", attributes={"timeout": 0})
    reader, writer = await connect(echo_proxy)
    writer.write(b"ping")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(100), 0.5)  # nothing comes back, nothing closes
    assert (await api.delete("/proxies/echo/toxics/timeout_downstream")).status_code == 204
    data, _, seconds = await read_until_eof(reader, timeout=3)
    assert data == b"" and seconds < 1.0  # removed: the connection is closed, the held data is gone
    await close(writer)


async def test_timeout_closes_the_connection_after_its_time(api, echo_proxy) -> None:
    await _toxic(api, "echo", type="timeout", attributes={"timeout": 300})
    reader, writer = await connect(echo_proxy)
    writer.write(b"ping")
    await writer.drain()
    data, _, seconds = await read_until_eof(reader, timeout=3)
    assert data == b"" and 0.25 <= seconds < 1.5
    await close(writer)


async def test_timeout_makes_the_shop_unreachable_and_removal_restores_it(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="timeout", attributes={"timeout": 0})
    with pytest.raises(httpx.ReadTimeout):
        await timed_checkout(shop_proxy, timeout=0.5)
    assert (await api.delete("/proxies/shop/toxics/timeout_downstream")).status_code == 204
    status, seconds = await timed_checkout(shop_proxy)
    assert status == 200 and seconds < 0.5


async def test_reset_peer_resets_the_connection(api, echo_proxy) -> None:
    await _toxic(api, "echo", type="reset_peer", attributes={"timeout": 0})
    reader, writer = await connect(echo_proxy)
    writer.write(b"ping")
    await writer.drain()
    with pytest.raises(ConnectionResetError):
        await read_until_eof(reader, timeout=3)
    await close(writer)


async def test_reset_peer_waits_its_timeout_before_the_reset(api, echo_proxy) -> None:
    await _toxic(api, "echo", type="reset_peer", attributes={"timeout": 300})
    reader, writer = await connect(echo_proxy)
    started = time.perf_counter()
    writer.write(b"ping")
    await writer.drain()
    with pytest.raises(ConnectionResetError):
        await read_until_eof(reader, timeout=3)
    assert time.perf_counter() - started >= 0.28
    await close(writer)


async def test_reset_peer_fails_the_shop_and_removal_restores_it(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="reset_peer", attributes={"timeout": 0})
    with pytest.raises(httpx.TransportError):
        await timed_checkout(shop_proxy)
    assert (await api.delete("/proxies/shop/toxics/reset_peer_downstream")).status_code == 204
    status, _ = await timed_checkout(shop_proxy)
    assert status == 200


async def test_slow_close_delays_the_close(api) -> None:
    upstream = TcpUpstream(hello_then_close(b"hello"))
    address = await upstream.start()
    r = await api.post("/proxies", json={"name": "hello", "listen": "127.0.0.1:0", "upstream": address})
    listen = r.json()["listen"]
    try:
        reader, writer = await connect(listen)
        data, _, quick = await read_until_eof(reader)
        assert data == b"hello" and quick < 0.4
        await close(writer)
        await _toxic(api, "hello", type="slow_close", attributes={"delay": 600})
        reader, writer = await connect(listen)
        data, _, seconds = await read_until_eof(reader)
        assert data == b"hello" and seconds >= 0.58
        await close(writer)
    finally:
        await upstream.stop()


async def test_slicer_cuts_data_into_small_delayed_pieces(api, echo_proxy) -> None:
    payload = bytes(range(256)) * 4  # 1 KiB
    await _toxic(api, "echo", type="slicer", attributes={"average_size": 64, "size_variation": 16, "delay": 20_000})
    reader, writer = await connect(echo_proxy)
    started = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    got, sizes = b"", []
    while len(got) < len(payload):
        piece = await asyncio.wait_for(reader.read(65536), 5)
        assert piece
        got += piece
        sizes.append(len(piece))
    assert got == payload  # nothing lost or reordered
    assert len(sizes) >= 8 and max(sizes) <= 128  # pieces of about 64 bytes, 20 ms apart
    assert time.perf_counter() - started >= 0.15
    await close(writer)


async def test_limit_data_closes_after_its_bytes(api, echo_proxy) -> None:
    await _toxic(api, "echo", type="limit_data", attributes={"bytes": 10})
    reader, writer = await connect(echo_proxy)
    writer.write(b"0123456789abcdefghij")
    await writer.drain()
    data, _, _ = await read_until_eof(reader)
    assert data == b"0123456789"
    await close(writer)


async def test_limit_data_upstream_cuts_the_shops_request(api, shop_proxy) -> None:
    await _toxic(api, "shop", type="limit_data", stream="upstream", attributes={"bytes": 12})
    with pytest.raises(httpx.TransportError):
        await timed_checkout(shop_proxy)


async def test_toxicity_is_a_per_connection_probability(api, shop_proxy) -> None:
    # A delay far above the noise of a loaded machine (16 checkouts at once took 2–3.6 s on a swamped CI run),
    # so "slow" cannot be mistaken for "busy".
    await _toxic(api, "shop", type="latency", attributes={"latency": 5000}, toxicity=0.0)
    assert (await timed_checkout(shop_proxy, timeout=10))[1] < 4.5  # toxicity 0: never
    r = await api.patch("/proxies/shop/toxics/latency_downstream", json={"toxicity": 0.5})
    assert r.status_code == 200
    times = [t for _, t in await asyncio.gather(*(timed_checkout(shop_proxy, timeout=10) for _ in range(16)))]
    slow = sum(t >= 5.0 for t in times)
    assert 1 <= slow <= 15, times  # some connections get it, some do not (all or none: p = 2 / 2**16)


async def test_disabling_the_proxy_refuses_new_connections_and_drops_live_ones(api, echo_proxy) -> None:
    reader, writer = await connect(echo_proxy)
    writer.write(b"ping")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), 3) == b"ping"
    r = await api.patch("/proxies/echo", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    data, _, _ = await read_until_eof(reader, timeout=3)  # the live connection is closed
    assert data == b""
    with pytest.raises(ConnectionRefusedError):
        await connect(echo_proxy)
    await close(writer)
    r = await api.patch("/proxies/echo", json={"enabled": True})
    assert r.status_code == 200 and r.json()["listen"] == echo_proxy  # back on the same address
    reader, writer = await connect(echo_proxy)
    writer.write(b"pong")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), 3) == b"pong"
    await close(writer)


async def test_disabled_shop_proxy_fails_checkout_and_reset_brings_it_back(api, shop_proxy) -> None:
    await api.patch("/proxies/shop", json={"enabled": False})
    with pytest.raises(httpx.ConnectError):
        await timed_checkout(shop_proxy)
    assert (await api.post("/reset")).status_code == 204
    assert (await timed_checkout(shop_proxy))[0] == 200


async def test_deleting_a_proxy_stops_it_listening(api, echo_proxy) -> None:
    assert (await api.delete("/proxies/echo")).status_code == 204
    with pytest.raises(ConnectionRefusedError):
        await connect(echo_proxy)


async def test_a_sessions_toxics_are_removed_by_name_and_others_stay(api, shop_proxy) -> None:
    # The product names its toxics after its session; another team's toxic on the same proxy must survive.
    await _toxic(api, "shop", name="other-team-latency", type="latency", stream="upstream",
                 attributes={"latency": 300})
    await _toxic(api, "shop", name="cr-20260101-ab12-latency", type="latency", attributes={"latency": 1000})
    assert (await timed_checkout(shop_proxy))[1] >= 1.3
    assert (await api.delete("/proxies/shop/toxics/cr-20260101-ab12-latency")).status_code == 204
    names = [t["name"] for t in (await api.get("/proxies/shop/toxics")).json()]
    assert names == ["other-team-latency"]
    status, seconds = await timed_checkout(shop_proxy)
    assert status == 200 and 0.3 <= seconds < 1.0  # the other toxic still acts, ours is gone


async def test_stop_ends_every_connection_and_task(shop) -> None:
    stand_in = ToxiproxyStandIn(port=0)
    await stand_in.start()
    proxy = await stand_in.create_proxy("shop", "127.0.0.1:0", f"127.0.0.1:{shop.port}")
    async with httpx.AsyncClient(base_url=stand_in.url, trust_env=False) as api:
        await _toxic(api, "shop", type="latency", attributes={"latency": 10_000})
    pending = asyncio.create_task(timed_checkout(proxy.listen, timeout=5))
    for _ in range(100):  # the connection is accepted within a few ms, or seconds on a loaded machine
        if proxy.connections:
            break
        await asyncio.sleep(0.05)
    assert proxy.connections
    started = time.perf_counter()
    await asyncio.wait_for(stand_in.stop(), 5)
    assert time.perf_counter() - started < 2
    with pytest.raises(httpx.TransportError):
        await pending
    assert not proxy.enabled and not proxy.toxics.links


async def test_an_unreachable_upstream_closes_the_client_at_once(api) -> None:
    r = await api.post("/proxies", json={"name": "gone", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"})
    reader, writer = await connect(r.json()["listen"])
    data, _, seconds = await read_until_eof(reader, timeout=3)
    assert data == b"" and seconds < 1.0
    await close(writer)


async def test_a_client_that_vanishes_mid_stream_frees_its_connection(api, toxiproxy) -> None:
    async def firehose(reader, writer) -> None:
        block = b"x" * 65536
        while True:
            writer.write(block)
            await writer.drain()

    upstream = TcpUpstream(firehose)
    address = await upstream.start()
    try:
        r = await api.post("/proxies", json={"name": "hose", "listen": "127.0.0.1:0", "upstream": address})
        # The upstream side stays open a second after the client has gone, while the firehose fills the link.
        await _toxic(api, "hose", type="slow_close", stream="upstream", attributes={"delay": 1000})
        reader, writer = await connect(r.json()["listen"])
        await asyncio.wait_for(reader.readexactly(100_000), 5)
        proxy = toxiproxy.proxy("hose")
        [conn] = proxy.connections
        writer.transport.abort()  # gone without a word, while the upstream keeps sending
        # Every task of the connection ends: none is left waiting on data nobody will read.
        for _ in range(100):  # bounded: 5 s
            if not (proxy.connections or proxy.toxics.links or conn.tasks):
                break
            await asyncio.sleep(0.05)
        assert not (proxy.connections or proxy.toxics.links or conn.tasks)
    finally:
        await upstream.stop()
