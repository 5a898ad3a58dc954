"""`controlroom schedule`, `pause-schedule`, `resume-schedule`: continuous chaos (docs/schedule.md).

The loop runs the scenario as `run --headless --yes` does (the same session, journal, registry entry and hooks,
so `status`, `history` and hooks see a scheduled run like any other) and adds two things, both safe only because
they reuse the session's one rollback path (`Session.stop_now` → `emergency_stop`) and never revert anything
themselves:

- a kill switch (`CHAOS_ENABLED=false`, or the pause file) checked before each run, at every `step-briefed`
  (before the step can inject) and every second while a run is in progress;
- a run that does not end held (failed, rolled back, aborted, pre-flight failed) pauses the schedule until a
  person acknowledges it with `resume-schedule`, unless `--continue-on-failure`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from controlroom.clock import Clock, RealClock
from controlroom.schedule import Window, first_run, next_run

if TYPE_CHECKING:
    from controlroom.engine.session import Outcome, Session
    from controlroom.journal.events import Event

KillCheck = Callable[[], "str | None"]
Printer = Callable[[str], None]
KILL_POLL = 1.0  # seconds between kill-switch checks while a scheduled run is in progress
MAX_NAP = 60.0  # a long wait is slept in naps, re-reading the wall clock (a suspended laptop, a clock step)


class KillGuard:
    """Watches the kill switch while one scheduled session runs and stops it through the session's one
    rollback path (`stop_now`: emergency stop, every active fault reverted and verified)."""

    def __init__(self, session: Session, check: KillCheck, poll: float = KILL_POLL) -> None:
        self.session = session
        self.check = check
        self.poll = poll
        self.reason: str | None = None

    def _stop(self, reason: str) -> None:
        from controlroom.journal.events import StopKind

        self.reason = reason
        # CONTROL: like `controlroom stop`, a person's command from outside the room; the outcome is `aborted`.
        self.session.stop_now(StopKind.CONTROL, reason, by="schedule kill switch")

    def listen(self, event: Event) -> None:
        """At `step-briefed`, before the step can inject: the stop is marked before the listener returns."""
        if event.type == "step-briefed" and not self.session.stopping:
            reason = self.check()
            if reason:
                self._stop(reason)

    async def watch(self) -> None:
        """Between steps and during one: a pause while a fault is in stops the run within `poll` seconds."""
        while not self.session.stopping:
            await self.session.clock.sleep(self.poll)
            if self.session.stopping:
                return
            reason = self.check()
            if reason:
                self._stop(reason)
                return


async def run_guarded(session: Session, check: KillCheck, poll: float = KILL_POLL) -> Outcome:
    """Run one scheduled session with the kill switch watching it (signals too, as any headless run)."""
    from controlroom.headless import run_session

    guard = KillGuard(session, check, poll)
    session.subscribe(guard.listen)
    watcher = asyncio.ensure_future(guard.watch())
    try:
        return await run_session(session)
    finally:
        watcher.cancel()


@dataclass
class Scheduler:
    """The loop: wait for the next run time, check the kill switch, run, block after a run that did not hold."""

    run_once: Callable[[], Awaitable[Outcome]]
    kill: KillCheck
    block: Callable[[str], None]
    every: float
    jitter: float = 0.0
    window: Window | None = None
    max_runs: int | None = None
    continue_on_failure: bool = False
    clock: Clock = field(default_factory=RealClock)
    rng: random.Random = field(default_factory=random.Random)
    out: Printer = print
    runs: int = 0
    failed: int = 0
    skipped: int = 0

    def _next(self, after: datetime) -> datetime:
        return next_run(after, self.every, self.jitter, self.window, self.rng)

    async def _sleep_until(self, when: datetime) -> None:
        while (left := (when - self.clock.wall()).total_seconds()) > 0:
            await self.clock.sleep(min(left, MAX_NAP))

    async def loop(self) -> int:
        """Runs until `max_runs` runs have started (for ever without it); 1 if any run did not hold, else 0."""
        when = first_run(self.clock.wall(), self.window)
        while self.max_runs is None or self.runs < self.max_runs:
            self.out(f"schedule: next run at {when.isoformat(timespec='seconds')}")
            await self._sleep_until(when)
            reason = self.kill()
            if reason:
                self.skipped += 1
                self.out(f"schedule: run due at {when.isoformat(timespec='seconds')} not started: {reason}")
                when = self._next(when)
                continue
            self.runs += 1
            outcome = await self.run_once()
            self.out(f"schedule: run {self.runs} ended {outcome.outcome} (exit {outcome.exit_code})")
            if outcome.exit_code != 0:
                self.failed += 1
                if not self.continue_on_failure:
                    self.block(f"run {self.runs} ended {outcome.outcome} (exit {outcome.exit_code}) at "
                               f"{self.clock.wall().isoformat(timespec='seconds')}; look at its journal, then "
                               "acknowledge with `controlroom resume-schedule`")
                    self.out("schedule: paused until acknowledged (controlroom resume-schedule)")
            when = max(self._next(when), self.clock.wall())
        return 1 if self.failed else 0


# ---- commands -------------------------------------------------------------------------------------------------


def cmd_schedule(args: argparse.Namespace) -> int:
    from controlroom.engine.gates import AutoFacilitator
    from controlroom.errors import ScenarioError
    from controlroom.headless import ProgressPrinter
    from controlroom.paths import private_sessions_dir
    from controlroom.scenario import load_scenario
    from controlroom.schedule import (
        ScheduleError,
        kill_switch,
        parse_interval,
        parse_window,
        pause_file,
        unattended_problems,
        write_pause,
    )
    from controlroom.wiring import journal_path, new_session

    every = parse_interval(args.every, "--every")
    jitter = parse_interval(args.jitter, "--jitter", allow_zero=True) if args.jitter else 0.0
    window = parse_window(args.window) if args.window else None
    if args.max_runs is not None and args.max_runs < 1:
        raise ScheduleError(f"--max-runs {args.max_runs}: must be 1 or more")
    sc = load_scenario(args.scenario)
    problems = unattended_problems(sc, tuple(args.env or ()))
    if problems:
        raise ScenarioError(problems)
    private_sessions_dir()  # refuse (one line, exit 2) a runtime directory another user planted
    paused = pause_file()

    def out(line: str) -> None:
        print(line, flush=True)

    def check() -> str | None:
        return kill_switch(paused)

    async def run_once() -> Outcome:
        journal = journal_path(None, sc.name)
        session = new_session(sc, journal, AutoFacilitator())
        session.subscribe(ProgressPrinter(out))
        out(f"journal: {journal}")
        return await run_guarded(session, check)

    scheduler = Scheduler(run_once=run_once, kill=check, block=lambda reason: write_pause(paused, reason),
                          every=every, jitter=jitter, window=window, max_runs=args.max_runs,
                          continue_on_failure=args.continue_on_failure, out=out)
    return asyncio.run(scheduler.loop())


def cmd_pause(args: argparse.Namespace) -> int:
    from controlroom.engine.gates import facilitator_name
    from controlroom.schedule import pause_file, write_pause

    path = pause_file()
    write_pause(path, args.reason or f"paused by {facilitator_name()}")
    print(f"schedule paused ({path}): no scheduled run starts, and a running one is stopped and rolled back "
          "within a second", flush=True)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from controlroom.schedule import clear_pause, pause_file, pause_reason

    path = pause_file()
    reason = pause_reason(path)
    if reason is not None and reason.startswith(f"pause file {path}"):
        # Not ours, or others can write it: we do not remove what we cannot vouch for; a person must look.
        print(f"controlroom: {reason}", file=sys.stderr, flush=True)
        return 2
    if clear_pause(path):
        print(f"schedule resumed (was: {reason}); acknowledged", flush=True)
    else:
        print("schedule was not paused", flush=True)
    return 0


def add_parsers(add: Callable[[str, Callable[[argparse.Namespace], int], str], Any]) -> None:
    sp = add("schedule", cmd_schedule, "continuous chaos: run an unattended-safe scenario headless, on a schedule")
    sp.add_argument("scenario")
    sp.add_argument("--every", required=True, help="time between runs, e.g. 2h, 90m")
    sp.add_argument("--jitter", help="add a random 0..JITTER to each interval, e.g. 15m")
    sp.add_argument("--window", help="when runs may start, e.g. 'Mon-Fri 10:00-16:00 Europe/Paris'")
    sp.add_argument("--max-runs", type=int, help="stop after N runs (default: run until stopped)")
    sp.add_argument("--env", action="append", metavar="ENV",
                    help="an environment the schedule may run in (repeatable; default: the scenario's allowed ones)")
    sp.add_argument("--continue-on-failure", action="store_true",
                    help="a run that does not hold does not pause the schedule")
    sp = add("pause-schedule", cmd_pause, "kill switch: stop scheduled runs (and e-stop a running one)")
    sp.add_argument("--reason", help="why, shown by the schedule")
    add("resume-schedule", cmd_resume, "resume scheduled runs; acknowledges a failed run")
