"""`controlroom serve` benchmark: what each browser spectator costs the machine the room runs on.

Starts `controlroom serve` on the recorded demo journal (tests/report/fixtures/demo.jsonl), opens VIEWERS
websockets as browsers would (160x48), and prints: time from connecting to a view's first frame, the RSS of
each view process and of the server once settled, and the time from SIGTERM to the server and every view gone.
Run: `python -m benchmarks serve`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIEWERS = 5
SETTLE_S = 5.0
FIXTURE = Path(__file__).parent.parent / "tests" / "report" / "fixtures" / "demo.jsonl"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def wait_gone(pids: list[int], limit: float) -> None:
    deadline = time.monotonic() + limit
    while any(Path(f"/proc/{p}").exists() for p in pids):
        if time.monotonic() > deadline:
            raise SystemExit(f"views still there {limit:g}s after the server's SIGTERM")
        time.sleep(0.01)


async def measure(url: str, server: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async def first_frame() -> float:
            t0 = time.perf_counter()
            ws = await http.ws_connect(url.replace("http://", "ws://") + "ws?width=160&height=48")
            await asyncio.wait_for(ws.receive(), 60)
            sockets.append(ws)
            return (time.perf_counter() - t0) * 1000

        sockets: list[aiohttp.ClientWebSocketResponse] = []
        alone = await first_frame()
        together = await asyncio.gather(*(first_frame() for _ in range(VIEWERS - 1)))
        await asyncio.sleep(SETTLE_S)
        views = children(server.pid)
        view_rss = [rss_mb(p) for p in views]
        print(f"   first frame, one view alone: {alone:.0f} ms; {VIEWERS - 1} opened at once: "
              f"median {statistics.median(together):.0f} ms, max {max(together):.0f} ms")
        print(f"   RSS per view ({len(views)} views, 160x48, settled {SETTLE_S:g}s): "
              f"median {statistics.median(view_rss):.0f} MB, max {max(view_rss):.0f} MB; "
              f"server {rss_mb(server.pid):.0f} MB")
        t0 = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)
        await asyncio.to_thread(wait_gone, views, 30.0)
        print(f"   SIGTERM to server and every view gone: {(time.perf_counter() - t0) * 1000:.0f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crbench-") as tmp:
        journal = Path(tmp) / "demo.jsonl"
        shutil.copyfile(FIXTURE, journal)
        journal.chmod(0o600)
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen([sys.executable, "-m", "controlroom", "serve", str(journal), "--port", "0"],
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not (m := re.search(r"serving (http://\S+/)", log.read_text())):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"serve did not start: {log.read_text()}")
                time.sleep(0.05)
            asyncio.run(measure(m.group(1), server))
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)


if __name__ == "__main__":
    main()
