"""A stop mid-injection on a `local` target (no root needed): the inject sleeps, then leaves a file.

Stopped half a second in — by SIGTERM, or by SIGKILL and then `recover` — the
file must not be there when the stop returns, nor seconds later, when the
inject would have landed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.cli.conftest import controlroom
from tests.local_mark import mark_scenario


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path, Path, str]:
    step = f"slow-{uuid.uuid4().hex[:8]}"  # its own run marker on this machine, whatever ran before
    scenario, mark = mark_scenario(tmp_path, "local-slow-inject", "a stop mid-injection leaves nothing behind",
                                   step=step, title="a slow inject", duration="30s", inject_after=2)
    journal = tmp_path / "j.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                             str(journal), str(scenario)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while '"fault-injecting"' not in (journal.read_text() if journal.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never saw fault-injecting: {proc.communicate()[0].decode()}")
        time.sleep(0.05)
    time.sleep(0.5)
    return proc, journal, mark, step


def test_sigterm_mid_injection_on_a_local_target_leaves_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal, mark, step = _start(tmp_path, env)
    try:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not mark.exists(), out
    time.sleep(3)  # the inject would have landed 2 s after it started
    assert not mark.exists(), out
    events = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
    stopped = [(e["fault"], e["how"]) for e in events if e["type"] == "fault-inject-stopped"]
    assert stopped == [(f"{step}/0@here", "killed")], out
    assert "killed the injection still running" in out
    assert proc.returncode == 1


def test_recover_after_sigkill_mid_injection_on_a_local_target_stops_it_first(
        tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal, mark, _ = _start(tmp_path, env)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    rec = controlroom("recover", "--yes", str(journal), env=env)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert "stopped the injection still running" in rec.stdout
    time.sleep(3)
    assert not mark.exists(), rec.stdout
