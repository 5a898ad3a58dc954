"""E-stop time with a webhook that never answers vs no hooks (issue 17 §1): hooks run off the engine's path.

Real clock, in-memory target (the rollback itself is instant), a loopback receiver that accepts the request and
never answers (hook timeout 5 s, 2 retries): if a hook were awaited on the stop's path, the e-stop would take
seconds; off the path it takes what the rollback takes. `python -m benchmarks hooks`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path


async def _estop_ms(hooked: str) -> float:
    from controlroom.engine.session import Session
    from controlroom.faults import catalogue as cat
    from controlroom.lab._http import HttpServer, Request, Response
    from controlroom.scenario.model import Hook
    from controlroom.targets.memory import MemoryExecutor
    from tests.doubles import FLAG, Host
    from tests.engine.conftest import FakeSource, fault_step, make_scenario

    cat.catalogue()["flag"] = FLAG

    async def handle(req: Request) -> Response:
        if hooked == "never-answers":
            await asyncio.Event().wait()
        return Response(200, b"ok")

    server = HttpServer(handle)
    port = await server.start()
    try:
        with tempfile.TemporaryDirectory() as d:
            host = Host("t1")
            sc = make_scenario(fault_step(duration=30.0), window=0.2)
            sc = type(sc)(**{**sc.__dict__, "observe": type(sc.observe)(every=0.05, lost_after=5.0)})
            hooks = () if hooked == "none" else (Hook(
                name="rx", on=("session-started", "fault-injected", "rollback-started", "rollback-finished",
                               "session-ended"), url=f"http://127.0.0.1:{port}/", timeout=5.0, retries=2),)
            s = Session(sc, journal_path=Path(d) / "j.jsonl", sources=[FakeSource(ok_rate=1.0)], control=False,
                        executor_factory=lambda t, h=host: MemoryExecutor(t.name, h.handle),
                        user_hooks=hooks, hook_grace=0.1)
            task = asyncio.ensure_future(s.run())
            deadline = time.monotonic() + 10.0
            while s.state != "observing":
                assert time.monotonic() < deadline, s.state
                await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            await s.emergency_stop("key", reason="benchmark")
            took = (time.perf_counter() - t0) * 1000
            await asyncio.wait_for(task, 30.0)
            return took
    finally:
        await server.stop()


def main(runs: int = 15) -> None:
    for hooked in ("none", "answers", "never-answers"):
        times = sorted(asyncio.run(_estop_ms(hooked)) for _ in range(runs))
        print(f"e-stop (emergency_stop -> rollback finished), hook {hooked:13s}: median {statistics.median(times):6.2f} ms, "
              f"max {times[-1]:6.2f} ms ({runs} runs)")


if __name__ == "__main__":
    main()
