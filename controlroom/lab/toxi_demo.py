"""The demo shop behind the Toxiproxy stand-in, for `scenarios/toxiproxy-latency.yaml` on a laptop.

`python -m controlroom.lab.toxi_demo` starts the shop (a child process), the stand-in's API on 127.0.0.1:8474
and the proxy `shop` on 127.0.0.1:20000 in front of the shop, plus a little load, until Ctrl-C. Tests use
`toxiproxy_demo(api_port=0, listen_port=0)` and get the scenario with the real ports written in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from controlroom.lab._proc import die_with_parent
from controlroom.lab.demo import free_port, wait_ready
from controlroom.lab.toxiproxy import ToxiproxyStandIn

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "toxiproxy-latency.yaml"
API_IN_FILE, LISTEN_IN_FILE = "127.0.0.1:8474", "127.0.0.1:20000"


@dataclass
class ToxiDemo:
    api: str
    listen: str
    shop: str
    standin: ToxiproxyStandIn

    def scenario_text(self, text: str) -> str:
        return text.replace(API_IN_FILE, self.api.removeprefix("http://")).replace(LISTEN_IN_FILE, self.listen)


@contextlib.asynccontextmanager
async def toxiproxy_demo(api_port: int = 8474, listen_port: int = 20000, rps: float = 10.0) -> AsyncIterator[ToxiDemo]:
    from controlroom.lab.load import LoadGenerator

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlroom.lab.demo_service", "--port", str(port),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=die_with_parent)
    standin = ToxiproxyStandIn(port=api_port)
    load = None
    try:
        shop = f"http://127.0.0.1:{port}"
        await wait_ready(shop, proc)
        await standin.start()
        proxy = await standin.create_proxy("shop", f"127.0.0.1:{listen_port}", f"127.0.0.1:{port}")
        listen = proxy.to_json()["listen"]
        load = LoadGenerator(f"http://{listen}/checkout", rps=rps)
        load.start()
        yield ToxiDemo(api=standin.url, listen=listen, shop=shop, standin=standin)
    finally:
        if load is not None:
            await load.stop()
        await standin.stop()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _serve(api_port: int, listen_port: int) -> None:
    async with toxiproxy_demo(api_port, listen_port) as demo:
        print(f"shop on {demo.shop}; toxiproxy stand-in on {demo.api}; proxy shop on {demo.listen}", flush=True)
        print(f"now: controlroom run {SCENARIO.relative_to(Path.cwd()) if SCENARIO.is_relative_to(Path.cwd()) else SCENARIO}",
              flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m controlroom.lab.toxi_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", type=int, default=8474)
    parser.add_argument("--listen-port", type=int, default=20000)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.api_port, args.listen_port))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(f"toxiproxy demo: cannot listen on port {args.api_port} or {args.listen_port}: {err.strerror or err}; "
              "stop what uses it, or pick --api-port/--listen-port (and edit the scenario to match)", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
