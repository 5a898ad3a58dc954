"""The room in a real terminal (tmux): the demo through a whole step and an e-stop, and `watch` in a second process."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from controlroom.app import fixtures
from controlroom.journal.reader import read_journal
from controlroom.journal.writer import JournalWriter
from tests.tui.tmux_kit import Tmux, needs_tmux

CONTROLROOM = [sys.executable, "-m", "controlroom"]


def _step_title(journal: Path) -> str:
    for ev in read_journal(journal).events:
        if ev.type == "step-armed":
            briefed = [e for e in read_journal(journal).events if e.type == "step-briefed" and e.get("step") == ev.get("step")]
            return str(briefed[-1].get("title"))
    raise AssertionError("no armed step in the journal")


@needs_tmux
def test_demo_runs_a_step_and_stops_in_tmux_while_a_watcher_follows(tmp_path: Path) -> None:
    journal = tmp_path / "demo.jsonl"
    room = Tmux([*CONTROLROOM, "demo", "--journal", str(journal)], env={"CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]})
    watcher = None
    try:
        # The demo's human checklist gates the session: starting early is refused, ticking both starts it.
        room.wait_for("START?", timeout=60)
        room.keys("c")
        room.wait_for("not started: tick every checklist item first")
        room.keys("Space", "Down", "Space")
        room.wait_for(lambda s: s.count("[x]") == 2)
        room.keys("c")
        room.wait_for("INJECT?", timeout=60)  # the demo starts a service and waits for steady state
        title = _step_title(journal)
        # A participant's view: a second process following the same journal shows the same step, read-only.
        watcher = Tmux([*CONTROLROOM, "watch", str(journal)], width=80, height=24)
        seen = watcher.wait_for(lambda s: "READ-ONLY" in s and title[:20] in s and "waiting for the facilitator" in s)
        assert "INJECT?" not in seen
        watcher.keys("c")
        watcher.keys("!")  # nothing: the watcher has no controls
        time.sleep(0.5)
        assert "INJECT?" in room.screen()  # the step is still waiting for the facilitator
        room.keys("c")
        room.wait_for(lambda s: "FAULTED" in s and "left" in s)
        watcher.wait_for("FAULTED")
        room.keys("!")
        done = room.wait_for(lambda text: "SESSION ENDED" in text and "VERDICT:" in text)
        assert "VERDICT: all clean" in done  # the end screen keeps the rollback's verdict
        assert "all clean" in done.splitlines()[1]  # the red control says what is left, not "stopping"
        assert "controlroom replay" in done and "controlroom report" in done
        watcher.wait_for("all clean")
        room.keys("F12")  # after the end: says at once that nothing is active, no banner that never ends
        room.wait_for("nothing active — all clean")
        assert "STOPPING" not in room.screen()
        room.keys("q")
        exited = room.wait_for("EXITED=")
        # The end summary stays on the terminal after the room closes.
        flat = " ".join(exited.split())
        assert "verified clean" in flat and f"journal: {journal}" in flat
        assert f"controlroom replay {journal}" in flat
    finally:
        room.close()
        if watcher is not None:
            watcher.close()
    events = [e.type for e in read_journal(journal).events]
    assert "emergency-stop" in events and events[-1] == "session-ended"


def clock_of(screen: str) -> int:
    """The session clock on the first line of a room (T+mm:ss), in seconds."""
    m = re.search(r"T\+(\d+):(\d\d)", screen.splitlines()[0] if screen else "")
    assert m, f"no clock on the first line:\n{screen}"
    return int(m.group(1)) * 60 + int(m.group(2))


@needs_tmux
def test_two_watchers_clocks_advance_with_the_facilitators(tmp_path: Path) -> None:
    """At the checklist gate no event is written (metrics start after it), yet every clock keeps running."""
    journal = tmp_path / "demo.jsonl"
    room = Tmux([*CONTROLROOM, "demo", "--journal", str(journal)], env={"CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]})
    watchers: list[Tmux] = []
    try:
        room.wait_for("START?", timeout=60)
        watchers = [Tmux([*CONTROLROOM, "watch", str(journal)], width=80, height=24),
                    Tmux([*CONTROLROOM, "watch", str(journal)], width=120, height=40)]
        for w in watchers:
            w.wait_for("waiting for the facilitator to confirm the checklist")
        before = [clock_of(w.screen()) for w in watchers]
        lines_before = journal.read_text().count("\n")
        time.sleep(3.5)
        assert journal.read_text().count("\n") == lines_before  # nothing journaled meanwhile: only a clock moves it
        after = [clock_of(w.screen()) for w in watchers]
        facilitator = clock_of(room.screen())
        for b, a in zip(before, after, strict=True):
            assert a >= b + 2, f"a watcher's clock stood still: {before} -> {after}"
            assert abs(a - facilitator) <= 2, f"watcher at T+{a}s, facilitator at T+{facilitator}s"
        room.keys("a")  # abort at the checklist: the session ends, nothing injected
        for w in watchers:
            ended = w.wait_for("SESSION ENDED")  # the red control of a session that ended in pre-flight
            assert "NOT STARTED (aborted)" in ended and "all clean" in ended
        room.keys("q")
        room.wait_for("EXITED=")
    finally:
        room.close()
        for w in watchers:
            w.close()


@needs_tmux
def test_watch_follows_a_journal_as_it_is_appended(tmp_path: Path) -> None:
    journal = tmp_path / "session.jsonl"
    events = fixtures.mid_step_events()
    writer = JournalWriter(journal, {"session": "a1b2c3d4e5f6", "scenario": fixtures.SCENARIO}, fsync=False)
    gate_at = next(i for i, e in enumerate(events) if e.type == "step-armed")
    for ev in events[: gate_at + 1]:
        writer.append(ev)
    watcher = Tmux([*CONTROLROOM, "watch", str(journal)])
    try:
        watcher.wait_for("waiting for the facilitator")
        assert "300 ms on the payments DB" in watcher.screen()
        for ev in events[gate_at + 1:]:
            writer.append(ev)
        text = watcher.wait_for("p99 climbing as expected")
        assert "FAULTED" in text
        watcher.keys("F12")
        time.sleep(0.3)
        assert "STOPPING" not in watcher.screen()
        writer.append(fixtures.ev("session-ended", 130.0, outcome="held", exit_code=0, unconfirmed=[]))
        watcher.wait_for("[HELD]")
        watcher.keys("q")
        watcher.wait_for("EXITED=0")
    finally:
        writer.close()
        watcher.close()


@needs_tmux
@pytest.mark.parametrize(("env", "expect", "refuse"), [
    ({"TERM": "tmux-256color", "COLORTERM": ""}, "38;5;", "38;2;"),
    ({"TERM": "tmux-256color", "COLORTERM": "truecolor"}, "38;2;", None),
    ({"TERM": "tmux-256color", "NO_COLOR": "1"}, None, "38;2;"),
], ids=["256-colours", "truecolor", "no-color"])
def test_participants_view_in_256_colours_truecolor_and_no_color(
        tmp_path: Path, env: dict[str, str], expect: str | None, refuse: str | None) -> None:
    journal = tmp_path / "done.jsonl"
    writer = JournalWriter(journal, {"session": "a1b2c3d4e5f6"}, fsync=False)
    for ev in fixtures.estop_events(finished=True):
        writer.append(ev)
    writer.close()
    view = Tmux([*CONTROLROOM, "watch", str(journal)], env=env)
    try:
        plain = view.wait_for("1 unconfirmed: api-1")
        # Readable without colour: states carry a glyph and a word, not only a hue.
        assert "✗ api-1" in plain and "UNCONFIRMED" in plain and "[ABORTED]" in plain
        coloured = view.screen(escapes=True)
        if expect:
            assert expect in coloured
        if refuse:
            assert refuse not in coloured
        if "NO_COLOR" in env:
            # Only greys remain, and the panes' words keep the panel's own light text colour.
            hues = {int(n) for n in re.findall(r"38;5;(\d+)", coloured)}
            assert all(n >= 232 or n in (0, 7, 8, 15, 16, 231) for n in hues), hues
            assert "[38;5;237m[ABORTED]" not in coloured
    finally:
        view.close()


@needs_tmux
def test_the_tui_demo_run_as_designed_exits_zero_like_headless(tmp_path: Path) -> None:
    """`make demo`: its last step trips the stop condition by design; the room exits 0, as --headless does."""
    journal = tmp_path / "demo.jsonl"
    room = Tmux([*CONTROLROOM, "demo", "--journal", str(journal)], env={"CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]})
    try:
        room.wait_for("START?", timeout=60)
        room.keys("Space", "Down", "Space")
        room.wait_for(lambda s: s.count("[x]") == 2)
        room.keys("c")
        for armed in (1, 2):  # the two fault steps: slow checkout, then errors (rolled back by the stop condition)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(
                    e.type == "step-armed" for e in read_journal(journal).events) < armed:
                time.sleep(0.2)
            room.wait_for("INJECT?", timeout=60)
            room.keys("c")
        room.wait_for(lambda s: "ROLLED-BACK" in s.upper() and "AUTOMATIC ROLLBACK" in s, timeout=90)
        deadline = time.monotonic() + 60
        while not read_journal(journal).complete and time.monotonic() < deadline:
            time.sleep(0.2)
        room.keys("q")
        done = room.wait_for("EXITED=", timeout=30)
    finally:
        room.close()
    assert "EXITED=0" in done, done
    assert read_journal(journal).events[-1].data["outcome"] == "rolled-back"
