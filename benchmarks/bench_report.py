"""Report figures for a journal of 1,000,000 events: `controlroom report` (the streaming fold) in a child process
with its wall time, CPU time and peak RSS (ru_maxrss), beside the journal read whole and reported in memory;
rendering each format; the replay.

A synthetic session: 4 series sampled every 100 ms, a fault step every 5,000 samples
(inject, note, revert, recovery, observed, step end), one stop-condition breach with
rollback. When controlroom.replay exists, replay open and seek figures are printed too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

N_EVENTS = 1_000_000
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def write_journal(path: Path, n_events: int = N_EVENTS, seed: int = 7) -> int:
    """Write a plausible journal of about n_events lines (plus the header); returns the event count."""
    rnd = random.Random(seed)
    sep = (",", ":")
    count = 0
    mono = 0.0
    lines: list[str] = []

    def emit(type_: str, **data: object) -> None:
        nonlocal count
        t = (T0 + timedelta(seconds=mono)).isoformat(timespec="milliseconds")
        lines.append(json.dumps({"t": t, "mono": round(mono, 6), "type": type_, **data}, separators=sep))
        count += 1

    header = {"format": "controlroom-journal", "version": 1, "session": "bench0000001", "scenario": "bench",
              "hypothesis": "it holds", "environment": "staging", "started": T0.isoformat(timespec="milliseconds")}
    emit("session-started", session="bench0000001", scenario="bench", hypothesis="it holds", environment="staging",
         targets=[{"name": f"db-{i}", "kind": "ssh", "labels": {"service": "payments-db"}} for i in range(3)]
         + [{"name": "api-1", "kind": "ssh", "labels": {"service": "api"}}],
         steps=[], series=["success_rate", "p99_ms", "api.success_rate", "orders_rows"],
         limits={"max_targets": 1, "max_duration": 300.0}, stop_when=["success_rate < 0.95", "p99_ms > 5000"],
         steady=["success_rate >= 0.99", "p99_ms < 500"], checklist=[], pid=1, control=None)
    step_every = 5000
    k = 0
    faulted = False
    fault_started = 0
    while count < n_events - 12:
        if k % step_every == 100:
            sid = f"s{k // step_every}"
            target = f"db-{(k // step_every) % 3}"
            emit("step-briefed", step=sid, index=k // step_every, title=sid, brief="", expect="", duration=60.0,
                 phase=None, faults=[{"fault": f"{sid}/0", "type": "bandwidth", "target": target, "summary": "tbf"}],
                 skipped_faults=[])
            emit("fault-injecting", step=sid, fault=f"{sid}/0", fault_type="bandwidth", target=target, summary="tbf",
                 spec={"type": "bandwidth", "target": target, "params": {}}, leash_s=90.0, duration=60.0)
            emit("fault-injected", step=sid, fault=f"{sid}/0", target=target)
            faulted, fault_started = True, k
        if faulted and k - fault_started == 600:
            emit("note", text=f"step {sid}: latency up", author="bench")
            emit("fault-reverted", fault=f"{sid}/0", target=target, verified=True)
            emit("recovery-measured", step=sid, seconds=3.0, held=True, criterion_s=30.0)
            emit("step-completed", step=sid, outcome="passed")
            faulted = False
        success = 0.99 + rnd.random() * 0.01 if not faulted else 0.96 + rnd.random() * 0.03
        emit("metric-sample", values={"success_rate": round(success, 4),
                                      "p99_ms": round(200 + rnd.random() * (400 if faulted else 50), 1),
                                      "api.success_rate": round(success, 4), "orders_rows": 1000 + k // 10},
             errors={})
        mono += 0.1
        k += 1
    emit("condition-breached", condition="success_rate < 0.95", value=0.9, held_s=2.0)
    emit("emergency-stop", source="stop-condition", reason="success_rate < 0.95")
    emit("rollback-started", reason="success_rate < 0.95", faults=[])
    emit("rollback-finished", clean=True, unconfirmed=[])
    emit("session-ended", outcome="rolled-back", exit_code=1, unconfirmed=[], message="rolled back")
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header, separators=sep) + "\n")
        fh.write("\n".join(lines) + "\n")
    return count


_CHILD = """
import sys, time
from controlroom.journal.reader import JournalStream, read_journal
from controlroom.report.build import build_report
from controlroom.report.render import render_markdown
from controlroom.report.cli import WORKERS
t0 = time.perf_counter()
if sys.argv[1] == "memory":
    journal = read_journal(sys.argv[2])
else:  # `controlroom report`'s reader: WORKERS parse blocks in other processes ("serial": none)
    journal = JournalStream(sys.argv[2], workers=WORKERS if sys.argv[1] == "stream" else 0)
text = render_markdown(build_report(journal))
print(f"{time.perf_counter() - t0:.3f} {len(text)}")
"""


def _write_in_child(path: Path) -> int:
    import subprocess
    import sys

    code = "import sys; from pathlib import Path; from benchmarks.bench_report import write_journal; " \
           "print(write_journal(Path(sys.argv[1])))"
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def child_report(path: Path, how: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of a fresh interpreter that reports `path` (`stream`, `serial` or `memory`),
    import time left out of the wall figure; RSS and CPU from wait4 on that child (CPU: with the worker
    processes it started and waited for; RSS: the largest of them, not their sum)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _CHILD, how, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"report child ({how}) exited {proc.returncode}")
    wall = float(out.split()[0])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _time(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    from controlroom.journal.reader import read_journal
    from controlroom.report.build import build_report
    from controlroom.report.render import render_html, render_json, render_markdown

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.jsonl"
        # Written by a child: ru_maxrss counts what a process held before its exec, so the parent must not
        # have held the 183 MB journal's lines when it starts the report children.
        n, t_write = _time(_write_in_child, path)
        size = path.stat().st_size / 1e6
        print(f"   journal: {n:,} events, {size:.0f} MB (written in {t_write:.1f}s)")
        from controlroom.report.cli import WORKERS

        for how, what in (("stream", f"controlroom report (streaming fold, {WORKERS} parsing workers)"),
                          ("serial", "streaming fold in one process"), ("memory", "read whole + in-memory")):
            load = os.getloadavg()[0]
            wall, cpu, rss = child_report(path, how)
            print(f"   {what}: {wall:.2f}s wall, {cpu:.2f}s CPU, peak RSS {rss:.0f} MB "
                  f"(load average {load:.1f} on {os.cpu_count()} CPUs)")
        journal, t_read = _time(read_journal, path)
        print(f"   read_journal: {t_read:.2f}s ({n / t_read:,.0f} events/s)")
        report, t_build = _time(build_report, journal)
        print(f"   build_report: {t_build:.2f}s")
        for name, fn in (("json", render_json), ("md", render_markdown), ("html", render_html)):
            text, t = _time(fn, report)
            print(f"   render {name}: {t * 1000:.0f} ms, {len(text) / 1e3:.0f} kB")
        print(f"   report end to end (read + build + html): {t_read + t_build:.2f}s + render")
        try:
            from controlroom import replay
        except ImportError:
            print("   replay: controlroom.replay not available; open/seek figures skipped")
            return
        t0 = time.perf_counter()
        rp = replay.Replay.open(path)
        rp.state()  # the first frame: the state after the first event
        t_open = time.perf_counter() - t0
        print(f"   replay open to first frame: {t_open:.2f}s (target <= 2 s)")
        _, t_index = _time(rp.build_index)
        print(f"   replay checkpoint index: {t_index:.2f}s ({len(rp.checkpoints)} checkpoints, every {rp.every} events)")
        rnd = random.Random(1)
        seeks = []
        end = rp.duration
        for _ in range(50):
            target = rnd.random() * end
            t0 = time.perf_counter()
            rp.seek(target)
            rp.state()
            seeks.append(time.perf_counter() - t0)
        print(f"   replay seek (50 random): median {statistics.median(seeks) * 1000:.1f} ms, "
              f"max {max(seeks) * 1000:.1f} ms (target <= 100 ms)")
        del rp, journal, report
        asyncio.run(tui_replay(path))


async def tui_replay(path: Path, size: tuple[int, int] = (160, 48)) -> None:
    """`controlroom replay` in the room (headless, 160x48): open to first frame, then seeks from keys."""
    import os

    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import ReplayFeed
    from controlroom.replay import Replay
    from controlroom.widgets.header import RoomHeader

    t0 = time.perf_counter()
    feed = ReplayFeed(Replay.open(path), playing=False)
    app = ControlRoomApp(feed, clock_tick=False)
    async with app.run_test(size=size) as pilot:
        header = app.query_one(RoomHeader)
        while not (app.state.scenario and "event 1/" in header.banner):
            await pilot.pause(0.005)
        await pilot.pause()  # the paint of that frame
        t_first = time.perf_counter() - t0
        print(f"   replay in the room, open to first frame: {t_first:.2f}s (target <= 2 s)")
        t1 = time.perf_counter()
        while not feed.indexed:
            await pilot.pause(0.05)
        print(f"   replay in the room, checkpoint index in a worker thread: {time.perf_counter() - t1:.1f}s "
              "(the room answers keys meanwhile)")
        # Key to screen: the key enters as the terminal driver delivers it; the clock stops when the App hands
        # the display the first frame drawn from the state at the new position (the bench_tui method).
        from textual import events

        from controlroom.app.modals import GotoScreen

        rnd = random.Random(2)
        seeks: list[float] = []
        folds: list[float] = []
        by_key: dict[str, list[float]] = {}
        painted: list[float] = []
        frame = asyncio.Event()
        original_display = app._display
        moved = {"from": -2}

        def spy(screen: Any, renderable: Any) -> None:
            if (renderable is not None and not painted and not isinstance(screen, GotoScreen)
                    and feed.replay.position != moved["from"] and header._state is app.state
                    and not app._update_pending):
                painted.append(time.perf_counter())
                frame.set()
            original_display(screen, renderable)

        app._display = spy  # type: ignore[method-assign]
        keys = [("end", None), ("home", None), ("right_square_bracket", "]"), ("left_square_bracket", "["), "goto"]
        for i in range(30):
            key = keys[i % len(keys)]
            if key == "goto":  # typing is not timed: Enter is the seek
                await pilot.press("g", *f"{rnd.random() * feed.replay.duration:.1f}")
                key = ("enter", "\r")
            painted.clear()
            frame.clear()
            moved["from"] = feed.replay.position
            t = time.perf_counter()
            app._driver.send_message(events.Key(*key))  # type: ignore[union-attr]
            await asyncio.wait_for(frame.wait(), 10)
            seeks.append(painted[0] - t)
            folds.append(feed.last_move_s)
            by_key.setdefault(key[0], []).append(painted[0] - t)
            await pilot.pause(0.05)
        app._display = original_display  # type: ignore[method-assign]
        print(f"   replay in the room, seek key to painted frame (30: end, home, ], [, Enter on a typed time): "
              f"median {statistics.median(seeks) * 1000:.0f} ms, max {max(seeks) * 1000:.0f} ms (target <= 100 ms); "
              f"of which the seek itself: median {statistics.median(folds) * 1000:.1f} ms, "
              f"max {max(folds) * 1000:.1f} ms")
        print("     by key (median/max ms): " + ", ".join(
            f"{k} {statistics.median(v) * 1000:.0f}/{max(v) * 1000:.0f}" for k, v in by_key.items()))


if __name__ == "__main__":
    main()
