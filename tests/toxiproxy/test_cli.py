"""`python -m controlroom.lab.toxiproxy` serves the API with the proxies named on its command line."""

from __future__ import annotations

import subprocess
import sys

import httpx

from controlroom.lab.toxiproxy import ProxySpec, ToxiproxyProcess
from tests.toxiproxy.conftest import timed_checkout


async def test_process_serves_the_api_and_its_command_line_proxies(shop) -> None:
    process = ToxiproxyProcess(port=0, proxies=[ProxySpec("shop", "127.0.0.1:0", f"127.0.0.1:{shop.port}")])
    url = await process.start()
    try:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as api:
            assert (await api.get("/version")).status_code == 200
            proxy = (await api.get("/proxies/shop")).json()
            assert proxy["enabled"] is True and proxy["upstream"] == f"127.0.0.1:{shop.port}"
            assert (await timed_checkout(proxy["listen"]))[0] == 200
            r = await api.post("/proxies/shop/toxics", json={"type": "latency", "attributes": {"latency": 300}})
            assert r.status_code == 200
            assert (await timed_checkout(proxy["listen"]))[1] >= 0.3
    finally:
        await process.stop()


def test_a_bad_proxy_argument_is_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "controlroom.lab.toxiproxy", "--port", "0", "--proxy", "shop=8080"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "toxiproxy stand-in: --proxy 'shop=8080': write NAME=LISTEN=UPSTREAM, e.g. shop=127.0.0.1:20000=127.0.0.1:8080"]
