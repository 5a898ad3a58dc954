"""The embedded demo: the sample shop in a child process on loopback, a load generator, and `demo.yaml`.

No root, no SSH: the faults are the shop's own admin hooks (latency, errors),
leashed service-side by a TTL. `demo_environment()` is shared by the headless
run and the TUI so both show exactly the same game day.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from controlroom.errors import ControlroomError
from controlroom.lab._proc import die_with_parent
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import Scenario

DEMO_PORT_IN_FILE = "127.0.0.1:8089"


def demo_text() -> str:
    return resources.files("controlroom.lab").joinpath("demo.yaml").read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ControlroomError(f"the demo service exited at start (status {proc.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + "/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise ControlroomError(f"the demo service did not answer on {url} within {timeout:.0f}s")


@contextlib.asynccontextmanager
async def demo_environment(rps: float = 20.0) -> AsyncIterator[Scenario]:
    """Start the shop and its load; yield the demo scenario pointed at them; stop both on exit."""
    from controlroom.lab.load import LoadGenerator

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlroom.lab.demo_service", "--port", str(port),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    load = None
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, proc)
        load = LoadGenerator(url + "/checkout", rps=rps)
        load.start()
        text = demo_text().replace(DEMO_PORT_IN_FILE, f"127.0.0.1:{port}")
        yield load_scenario_text(text, "demo.yaml")
    finally:
        if load is not None:
            await load.stop()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run_demo_headless(journal: Path) -> int:
    """`controlroom demo --headless`: the sample shop and its load, in line mode (the TUI's is
    `app.entry.run_demo_tui`; the CLI picks one)."""
    from controlroom.engine.gates import AutoFacilitator
    from controlroom.headless import (
        ProgressPrinter,
        follow_end,
        print_end_summary,
        report_journal_failure,
        run_session,
    )
    from controlroom.wiring import new_session

    def out(line: str) -> None:
        print(line, flush=True)

    async with demo_environment() as scenario:
        session = new_session(scenario, journal, AutoFacilitator())
        session.subscribe(ProgressPrinter(out))
        ended = follow_end(session)
        out(f"journal: {journal}")
        outcome = await run_session(session)
        print_end_summary(ended, str(journal), out)
    report_journal_failure(session)
    return designed_exit(outcome, journal, out)


def designed_exit(outcome: Any, journal: str | Path, out: Callable[[str], None]) -> int:
    """The demo's exit status, the same for the TUI and --headless: 0 when it ran as designed.

    The demo is built to trip its stop condition: a clean rollback (or a held hypothesis, on a fast
    machine where the breach does not last) is the demo working. Anything else — aborted, failed,
    a fault left unconfirmed, the journal broken (3) — is not.
    """
    from controlroom.engine.session import JOURNAL_FAILED_EXIT

    if outcome is None:
        out(f"demo did not finish: the room was closed before the session ended (journal {journal})")
        return 1
    if outcome.exit_code == JOURNAL_FAILED_EXIT:
        return int(outcome.exit_code)
    if outcome.outcome in ("held", "rolled-back") and not outcome.unconfirmed:
        out(f"demo finished as designed: {outcome.outcome}, nothing left injected. "
            f"Post-mortem: controlroom report {journal}")
        return 0
    out(f"demo did not finish as designed: {outcome.outcome} {outcome.message}")
    return 1
