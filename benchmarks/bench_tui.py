"""TUI benchmark: 500 series at 4 samples/s fed into the headless app, over 50 targets and over a 200-target fleet.

Prints CPU of the app process (% of one core) while live, key-to-screen latency
(ms) under that load, and memory after an hour of simulated session fed fast.
The fleet: 200 targets with labels, one fault on all of them (a rollback's worth of rows), the same 500 series,
and the blast radius's own keys timed too (group, page down, a filter letter).
Run: `python -m benchmarks.bench_tui [50|200]` (targets: CPU <= 20 %, latency <= 50 ms).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

RATE_HZ = 4.0
LIVE_SECONDS = 10.0
HOUR = 3600.0
KEY_PRESSES = 20


@dataclass(frozen=True)
class Fleet:
    targets: int
    series: int  # in total, spread over the targets
    faulted: int  # targets under one fault of one step
    labels: bool  # service/zone labels (the fleet's grouping keys)


FLEETS = {50: Fleet(50, 500, 5, False), 200: Fleet(200, 500, 200, True)}

def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_start(fleet: Fleet) -> tuple[Any, list[str], list[str]]:
    from controlroom.app import fixtures

    width = max(2, len(str(fleet.targets - 1)))
    targets = [f"host-{i:0{width}d}" for i in range(fleet.targets)]
    per = -(-fleet.series // fleet.targets)
    series = [f"{t}.m{j}" for j in range(per) for t in targets][:fleet.series]
    start = fixtures.session_started(targets=targets, series=series)
    if fleet.labels:
        zones, services = ["eu-1", "eu-2", "us-1"], ["api", "web", "cache", "db"]
        start.data["targets"] = [{"name": t, "kind": "ssh", "labels": {"service": services[i % 4], "zone": zones[i % 3]}}
                                 for i, t in enumerate(targets)]
    return start, targets, series


def value_sets(series: list[str], n: int = 32) -> list[dict[str, float]]:
    """Precomputed sample payloads, cycled: building 500 floats per event is not what is measured."""
    return [{name: 100 + 50 * math.sin(k / 3 + i) for i, name in enumerate(series)} for k in range(n)]


def fault_events(targets: list[str]) -> list[Any]:
    """One fault of one step on every target given (the engine's ids: `step/index@target`)."""
    from controlroom.app import fixtures

    events = [fixtures.ev("step-briefed", 0.5, step="bench", index=0, title=f"{len(targets)} hosts slow", brief="",
                          expect="", duration=3600.0,
                          faults=[{"fault": f"bench/0@{t}", "type": "latency", "target": t,
                                   "summary": "delay 100ms"} for t in targets])]
    for target in targets:
        fault = f"bench/0@{target}"
        events.append(fixtures.ev("fault-injecting", 1.0, step="bench", fault=fault, fault_type="latency",
                                  target=target, index=0, summary="delay 100ms", spec={}, leash_s=600.0))
        events.append(fixtures.ev("fault-injected", 1.1, step="bench", fault=fault, target=target))
    return events


async def bench(fleet: Fleet) -> dict[str, float]:
    from textual import events

    from controlroom.app import fixtures
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import EventListFeed, RecordingControls
    from controlroom.app.filter_screen import FilterBar
    from controlroom.app.modals import HelpScreen
    from controlroom.journal.events import Event
    from controlroom.widgets.blast_radius import BlastRadiusPane

    start, targets, series = synthetic_start(fleet)
    payloads = value_sets(series)
    app = ControlRoomApp(EventListFeed([start, *fault_events(targets[:fleet.faulted])], mode="live",
                                       controls=RecordingControls()), clock_tick=False)
    results: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        mono = 2.0
        stop_feeding = asyncio.Event()

        async def feed_live() -> None:
            nonlocal mono
            k = 0
            period = 1.0 / RATE_HZ
            next_at = time.monotonic()
            while not stop_feeding.is_set():
                app.receive(Event("metric-sample", fixtures.ev("note", mono).t, mono,
                                  {"values": payloads[k % len(payloads)], "errors": {}}))
                k += 1
                mono += period
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        feeder = asyncio.create_task(feed_live())
        await asyncio.sleep(1.0)  # warm up
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(LIVE_SECONDS)
        cpu1, wall1 = time.process_time(), time.monotonic()
        results["cpu_percent_of_one_core"] = 100 * (cpu1 - cpu0) / (wall1 - wall0)

        # Key-to-screen: a key event enters as the terminal driver would deliver it; the clock stops when
        # the App hands the display the first frame that shows what the key did (`shown()`), so a frame the
        # live samples asked for in the meantime does not count.
        blast = app.query_one(BlastRadiusPane)
        driver = app._driver
        assert driver is not None
        original_display = app._display

        async def timed(key: str, char: str | None, shown: Callable[[Any], bool], undo: Callable[[], Any]) -> list[float]:
            painted: list[float] = []
            frame = asyncio.Event()

            def spy(screen: Any, renderable: Any) -> None:
                if renderable is not None and not painted and shown(screen):
                    painted.append(time.perf_counter())
                    frame.set()
                original_display(screen, renderable)

            app._display = spy  # type: ignore[method-assign]
            out = []
            try:
                for _ in range(KEY_PRESSES):
                    painted.clear()
                    frame.clear()
                    t0 = time.perf_counter()
                    driver.send_message(events.Key(key, char))
                    await asyncio.wait_for(frame.wait(), 10.0)
                    out.append((painted[0] - t0) * 1000)
                    await undo()
                    await asyncio.sleep(0.1)
            finally:
                app._display = original_display  # type: ignore[method-assign]
            return out

        async def close_help() -> None:
            driver.send_message(events.Key("escape", None))
            while isinstance(app.screen, HelpScreen):  # noqa: ASYNC110 - the app offers no event for this
                await asyncio.sleep(0.001)

        # The panes a fleet grows, rendered alone (CPU time, so less at the mercy of the load than the latencies).
        from controlroom.widgets.timeline import FaultTimeline

        timeline = app.query_one(FaultTimeline)
        for name, pane in (("blast", blast), ("timeline", timeline)):
            c0 = time.process_time()
            for _ in range(50):
                pane.render()
            results[f"{name}_render_ms"] = (time.process_time() - c0) * 1000 / 50
        latencies = await timed("question_mark", "?", lambda screen: isinstance(screen, HelpScreen), close_help)
        results["key_to_screen_ms_median"] = statistics.median(latencies)
        results["key_to_screen_ms_max"] = max(latencies)
        if fleet.labels:
            # The blast radius's keys at fleet size: group by the next label key, a page down, a filter letter.
            grouping: list[object] = [blast.group_by]

            def regrouped(screen: Any) -> bool:
                return screen is app.default_screen and blast.group_by != grouping[0]

            async def note_group() -> None:
                grouping[0] = blast.group_by

            group_ms = await timed("l", "l", regrouped, note_group)
            offset: list[int] = [blast.target_offset]

            def scrolled(screen: Any) -> bool:
                return screen is app.default_screen and blast.target_offset != offset[0]

            async def back_to_top() -> None:
                blast.target_offset = 0
                blast.group_by = None
                offset[0] = 0
                await pilot.pause()

            await back_to_top()
            page_ms = await timed("J", "J", scrolled, back_to_top)
            driver.send_message(events.Key("slash", "/"))
            while not app.query_one(FilterBar).is_open:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            await pilot.pause()
            typed: list[str] = [blast.filter_text]

            def filtered(screen: Any) -> bool:
                return blast.filter_text != typed[0]

            async def clear_filter() -> None:
                await pilot.press("backspace")
                await pilot.pause()
                typed[0] = blast.filter_text

            filter_ms = await timed("h", "h", filtered, clear_filter)
            driver.send_message(events.Key("escape", None))
            await pilot.pause()
            for name, values in (("group", group_ms), ("page", page_ms), ("filter", filter_ms)):
                results[f"{name}_ms_median"] = statistics.median(values)
                results[f"{name}_ms_max"] = max(values)
        stop_feeding.set()
        await feeder

        rss_before = rss_mb()
        t0 = time.monotonic()
        period = 1.0 / RATE_HZ
        total = int(HOUR * RATE_HZ)
        for k in range(total):
            app.receive(Event("metric-sample", "2026-03-12T14:00:00.000+00:00", mono,
                              {"values": payloads[k % len(payloads)], "errors": {}}))
            mono += period
            if k % 400 == 0:
                await pilot.pause()  # let the room redraw now and then, as it would live
        await pilot.pause()
        results["hour_fed_in_s"] = time.monotonic() - t0
        results["rss_mb_before_hour"] = rss_before
        results["rss_mb_after_hour"] = rss_mb()
        longest = max(len(sv.values) for sv in app.state.series.values())
        results["sparkline_points_per_series"] = float(longest)
        results["series"] = float(len(app.state.series))
    return results


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sizes = [int(a) for a in args if a.isdigit() and int(a) in FLEETS]
    if not sizes:
        # One process per fleet: its memory figures are its own, not the sum of the runs before it.
        import subprocess

        for size in FLEETS:
            subprocess.run([sys.executable, "-m", "benchmarks.bench_tui", str(size)], check=True)
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")
    for size in sizes:
        fleet = FLEETS[size]
        r = asyncio.run(bench(fleet))
        print(f"TUI, {fleet.targets} targets ({fleet.faulted} faulted by one fault"
              f"{', labelled service/zone' if fleet.labels else ''}), {int(r['series'])} series at {RATE_HZ:g} "
              "samples/s, 160x48 headless")
        print(f"  CPU while live ({LIVE_SECONDS:g} s):      {r['cpu_percent_of_one_core']:.1f} % of one core "
              "(target <= 20 %)")
        print(f"  key-to-screen (help open):   median {r['key_to_screen_ms_median']:.1f} ms, "
              f"max {r['key_to_screen_ms_max']:.1f} ms (target <= 50 ms)")
        print(f"  one render, CPU:             blast radius {r['blast_render_ms']:.2f} ms, "
              f"timeline {r['timeline_render_ms']:.2f} ms")
        for name, what in (("group", "group key (l)"), ("page", "page down (J)"), ("filter", "filter letter")):
            if f"{name}_ms_median" in r:
                print(f"  key-to-screen ({what}):{' ' * (15 - len(what))}median {r[f'{name}_ms_median']:.1f} ms, "
                      f"max {r[f'{name}_ms_max']:.1f} ms")
        print(f"  one hour of samples fed in {r['hour_fed_in_s']:.1f} s: RSS {r['rss_mb_before_hour']:.0f} MB -> "
              f"{r['rss_mb_after_hour']:.0f} MB; sparkline buffer {int(r['sparkline_points_per_series'])} "
              "points/series")
        print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
