"""The schedule loop on a manual clock with fake runs: kill switch before a run (no session started), a run that
did not hold blocks the next until acknowledged, `--continue-on-failure`, `pause-schedule`/`resume-schedule`."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlroom.cli import main
from controlroom.clock import ManualClock
from controlroom.engine.session import Outcome
from controlroom.engine.states import Verdict
from controlroom.schedule import clear_pause, kill_switch, parse_window, pause_file, pause_reason, write_pause
from controlroom.schedule_cli import Scheduler

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


class Runs:
    def __init__(self, clock: ManualClock, *codes: int) -> None:
        self.clock, self.codes, self.at = clock, list(codes), []  # type: ignore[var-annotated]

    async def __call__(self) -> Outcome:
        self.at.append(self.clock.wall())
        code = self.codes.pop(0) if self.codes else 0
        await self.clock.sleep(60)  # a run takes a minute
        return Outcome(Verdict.HELD if code == 0 else Verdict.FAILED, code)


def _scheduler(tmp_path: Path, clock: ManualClock, runs: Runs, **kw: object) -> Scheduler:
    pause = tmp_path / "paused"
    env: dict[str, str] = kw.pop("env", {})  # type: ignore[assignment]
    return Scheduler(run_once=runs, kill=lambda: kill_switch(pause, env),
                     block=lambda why: write_pause(pause, why), clock=clock, rng=random.Random(3),
                     out=lambda line: None, **kw)  # type: ignore[arg-type]


async def _run(clock: ManualClock, s: Scheduler, seconds: float) -> asyncio.Task[int]:
    task = asyncio.ensure_future(s.loop())
    await clock.advance(seconds, step=30)
    return task


async def test_runs_follow_every_and_stop_at_max_runs(tmp_path: Path) -> None:
    clock = ManualClock(START)
    runs = Runs(clock)
    task = await _run(clock, _scheduler(tmp_path, clock, runs, every=7200.0, max_runs=3), 6 * 3600)
    assert task.done() and task.result() == 0
    assert [(t - START).total_seconds() for t in runs.at] == [0, 7200, 14400]


async def test_the_kill_switch_before_a_run_starts_no_session(tmp_path: Path) -> None:
    clock = ManualClock(START)
    runs = Runs(clock)
    s = _scheduler(tmp_path, clock, runs, every=3600.0, max_runs=2, env={"CHAOS_ENABLED": "false"})
    task = await _run(clock, s, 3 * 3600)
    assert runs.at == [] and s.skipped >= 3 and not task.done()
    task.cancel()


async def test_a_failed_run_blocks_the_next_until_acknowledged(tmp_path: Path) -> None:
    clock = ManualClock(START)
    runs = Runs(clock, 1, 0)
    s = _scheduler(tmp_path, clock, runs, every=3600.0, max_runs=2)
    task = await _run(clock, s, 5 * 3600)
    assert len(runs.at) == 1 and not task.done()
    assert "run 1 ended failed" in (pause_reason(tmp_path / "paused") or "")
    assert clear_pause(tmp_path / "paused")  # `resume-schedule`: acknowledged
    await clock.advance(3700, step=30)  # the next due time comes, and that run's minute
    assert [t.hour for t in runs.at] == [9, 15]
    assert len(runs.at) == 2 and task.done() and task.result() == 1


async def test_continue_on_failure_does_not_block(tmp_path: Path) -> None:
    clock = ManualClock(START)
    runs = Runs(clock, 1, 1, 0)
    s = _scheduler(tmp_path, clock, runs, every=3600.0, max_runs=3, continue_on_failure=True)
    task = await _run(clock, s, 4 * 3600)
    assert len(runs.at) == 3 and task.result() == 1
    assert not (tmp_path / "paused").exists()


async def test_runs_keep_to_the_window(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 6, 14, 0, tzinfo=UTC))  # Friday 14:00 UTC, 15:00 in Paris
    runs = Runs(clock)
    w = parse_window("Mon-Fri 10:00-16:00 Europe/Paris")
    task = await _run(clock, _scheduler(tmp_path, clock, runs, every=7200.0, jitter=900.0, window=w, max_runs=2),
                      4 * 86400)
    assert task.done()
    first, second = runs.at
    assert first == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    assert second == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday 10:00 Paris, not Friday evening


def test_pause_and_resume_commands(capsys: pytest.CaptureFixture[str]) -> None:
    path = pause_file()
    assert main(["pause-schedule", "--reason", "incident 42"]) == 0
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert kill_switch(path, {}) == "schedule paused: incident 42"
    assert main(["resume-schedule"]) == 0
    assert "resumed (was: incident 42)" in capsys.readouterr().out
    assert kill_switch(path, {}) is None


def test_a_pause_file_others_can_write_is_not_trusted_but_still_pauses(tmp_path: Path) -> None:
    path = tmp_path / "paused"
    write_pause(path, "text an attacker wrote")
    os.chmod(path, 0o666)
    reason = kill_switch(path, {})
    assert reason is not None and "not trusted" in reason and "attacker" not in reason
    link = tmp_path / "link"
    link.symlink_to(path)
    assert "not a plain file" in (pause_reason(link) or "")
