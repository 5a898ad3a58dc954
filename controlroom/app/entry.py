"""Entry points the CLI calls (lazily, so `controlroom --help` never imports Textual): live, watch and demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from controlroom.app.keymap import load_keymap
from controlroom.metrics.source import MetricSource
from controlroom.scenario.model import Scenario

if TYPE_CHECKING:  # imported lazily below: `controlroom --help` never loads Textual
    from controlroom.app.app import ControlRoomApp


def print_end_summary(app: ControlRoomApp) -> None:
    """After the room closes: the end screen's summary on the terminal, where it stays after the TUI is gone."""
    from controlroom.summary import summary_lines

    if app.feed_error:
        print(f"controlroom: {app.feed_error}", file=sys.stderr, flush=True)
    if app.state.scenario:
        print(f"session {app.state.session}: {app.state.scenario}", flush=True)
        for line in summary_lines(app.state, app.feed.journal):
            print(line, flush=True)


def run_live(scenario: Scenario, journal_path: str | Path, *, sources: list[MetricSource] | None = None,
             keymap_path: str | Path | None = None) -> int:
    """The control room for a facilitator: runs the session and returns its exit code."""
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import LiveFeed
    from controlroom.engine.gates import InteractiveFacilitator
    from controlroom.headless import report_journal_failure, run_session
    from controlroom.wiring import new_session

    keymap = load_keymap(keymap_path)
    facilitator = InteractiveFacilitator()
    session = new_session(scenario, journal_path, facilitator, sources=sources)
    app = ControlRoomApp(LiveFeed(session, facilitator, runner=run_session), keymap=keymap)
    code = app.run()
    print_end_summary(app)
    report_journal_failure(session)  # after the TUI gave the terminal back
    return code if code is not None else app.exit_code


def run_watch(journal_path: str | Path, *, keymap_path: str | Path | None = None) -> int:
    """`controlroom watch`: follow a running session's journal, read-only. 0 when the viewer quits."""
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import FollowFeed
    from controlroom.journal.reader import read_journal

    read_journal(journal_path)  # a missing or foreign file fails here with a one-line JournalError
    app = ControlRoomApp(FollowFeed(journal_path), keymap=load_keymap(keymap_path))
    app.run()
    return 0


def run_demo_tui(journal_path: str | Path, *, keymap_path: str | Path | None = None) -> int:
    """`controlroom demo`: the sample shop and its load, driven from the control room."""
    import asyncio

    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import LiveFeed
    from controlroom.engine.gates import InteractiveFacilitator
    from controlroom.headless import report_journal_failure, run_session
    from controlroom.lab.demo import demo_environment, designed_exit
    from controlroom.wiring import new_session

    keymap = load_keymap(keymap_path)

    async def main() -> int:
        async with demo_environment() as scenario:
            facilitator = InteractiveFacilitator()
            session = new_session(scenario, journal_path, facilitator)
            feed = LiveFeed(session, facilitator, runner=run_session)
            app = ControlRoomApp(feed, keymap=keymap)
            await app.run_async()
            print_end_summary(app)
            report_journal_failure(session)
            if feed.outcome is None and app.feed_error is not None:
                return 2  # a user-fixable problem (a journal that cannot be written, say), shown in the room
            # The same rule as --headless: the demo's designed rollback is a success, not exit 1.
            return designed_exit(feed.outcome, journal_path, lambda line: print(line, flush=True))

    return asyncio.run(main())


def run_replay(journal_path: str | Path, *, speed: float = 1.0, keymap_path: str | Path | None = None) -> int:
    """`controlroom replay`: a recorded session in the same panes, under the reviewer's clock. 0 when they quit."""
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import ReplayFeed
    from controlroom.errors import JournalError
    from controlroom.replay import SPEEDS, Replay

    if speed not in SPEEDS:
        raise JournalError(f"--speed {speed:g}: a replay plays at {', '.join(f'{s:g}' for s in SPEEDS)} (x real time)")
    replay = Replay.open(journal_path)  # a missing or foreign file fails here with a one-line JournalError
    app = ControlRoomApp(ReplayFeed(replay, speed=speed), keymap=load_keymap(keymap_path))
    app.run()
    return 0
