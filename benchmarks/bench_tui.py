"""TUI benchmark: 50 targets x 10 series at 4 samples/s fed into the headless app.

Prints CPU of the app process (% of one core) while live, key-to-screen latency
(ms) under that load, and memory after an hour of simulated session fed fast.
Run: `python -m benchmarks.bench_tui` (targets: CPU <= 20 %, latency <= 50 ms).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import statistics
import time
from typing import Any

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

TARGETS = 50
SERIES_PER_TARGET = 10
RATE_HZ = 4.0
LIVE_SECONDS = 10.0
HOUR = 3600.0


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_start() -> Any:
    from controlroom.app import fixtures

    targets = [f"host-{i:02d}" for i in range(TARGETS)]
    series = [f"{t}.m{j}" for t in targets for j in range(SERIES_PER_TARGET)]
    return fixtures.session_started(targets=targets, series=series), targets, series


def value_sets(series: list[str], n: int = 32) -> list[dict[str, float]]:
    """Precomputed sample payloads, cycled: building 500 floats per event is not what is measured."""
    return [{name: 100 + 50 * math.sin(k / 3 + i) for i, name in enumerate(series)} for k in range(n)]


def fault_events(targets: list[str]) -> list[Any]:
    from controlroom.app import fixtures

    events = [fixtures.ev("step-briefed", 0.5, step="bench", index=0, title="Five hosts slow", brief="", expect="",
                          duration=3600.0, faults=[{"fault": f"bench/{i}", "type": "latency", "target": t,
                                                    "summary": "delay 100ms"} for i, t in enumerate(targets[:5])])]
    for i, target in enumerate(targets[:5]):
        fault = f"bench/{i}"
        events.append(fixtures.ev("fault-injecting", 1.0, step="bench", fault=fault, fault_type="latency",
                                  target=target, summary="delay 100ms", spec={}, leash_s=600.0))
        events.append(fixtures.ev("fault-injected", 1.1, step="bench", fault=fault, target=target))
    return events


async def bench() -> dict[str, float]:
    from textual import events

    from controlroom.app import fixtures
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import EventListFeed, RecordingControls
    from controlroom.app.modals import HelpScreen
    from controlroom.journal.events import Event

    start, targets, series = synthetic_start()
    payloads = value_sets(series)
    app = ControlRoomApp(EventListFeed([start, *fault_events(targets)], mode="live", controls=RecordingControls()),
                         clock_tick=False)
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
        # the App hands the first frame of the help screen to the display.
        painted: list[float] = []
        frame = asyncio.Event()
        original_display = app._display

        def spy(screen: Any, renderable: Any) -> None:
            if renderable is not None and isinstance(screen, HelpScreen) and not painted:
                painted.append(time.perf_counter())
                frame.set()
            original_display(screen, renderable)

        app._display = spy  # type: ignore[method-assign]
        latencies = []
        for _ in range(20):
            painted.clear()
            frame.clear()
            t0 = time.perf_counter()
            app._driver.send_message(events.Key("question_mark", "?"))  # type: ignore[union-attr]
            await frame.wait()
            latencies.append((painted[0] - t0) * 1000)
            app._driver.send_message(events.Key("escape", None))  # type: ignore[union-attr]
            while isinstance(app.screen, HelpScreen):  # noqa: ASYNC110 - the app offers no event for this
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.1)
        app._display = original_display  # type: ignore[method-assign]
        results["key_to_screen_ms_median"] = statistics.median(latencies)
        results["key_to_screen_ms_max"] = max(latencies)
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


def main() -> None:
    r = asyncio.run(bench())
    print(f"TUI, {TARGETS} targets x {SERIES_PER_TARGET} series = {int(r['series'])} series at {RATE_HZ:g} samples/s, "
          "160x48 headless")
    print(f"  CPU while live ({LIVE_SECONDS:g} s):      {r['cpu_percent_of_one_core']:.1f} % of one core (target <= 20 %)")
    print(f"  key-to-screen (help open):   median {r['key_to_screen_ms_median']:.1f} ms, "
          f"max {r['key_to_screen_ms_max']:.1f} ms (target <= 50 ms)")
    print(f"  one hour of samples fed in {r['hour_fed_in_s']:.1f} s: RSS {r['rss_mb_before_hour']:.0f} MB -> "
          f"{r['rss_mb_after_hour']:.0f} MB; sparkline buffer {int(r['sparkline_points_per_series'])} points/series")


if __name__ == "__main__":
    main()
