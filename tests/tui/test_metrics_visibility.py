"""No series the room cares about is hidden, and the metrics header says what holds now, not what held once.

A step with twelve series (the lab-bandwidth shape, `fixtures.wide_events`): the series the step's expect
line is about, the stop-condition and steady-state series, and one near its stop threshold must be on screen
at 80x24, 120x40 and 160x48; zoom shows all twelve; the rest scroll by keyboard under a visible count.
"""

from __future__ import annotations

import re

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls
from controlroom.viewstate import apply, fold
from tests.tui.conftest import screen_text

SIZES = [(80, 24), (120, 40), (160, 48)]
IDS = ["80x24", "120x40", "160x48"]


def facilitator_app(events: list) -> ControlRoomApp:  # type: ignore[type-arg]
    return ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls()), clock_tick=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()


def metrics_text(app: ControlRoomApp) -> str:
    """The lines of the screen that belong to the metrics pane (its border and what is between)."""
    from controlroom.widgets.metrics import MetricsPane

    region = app.query_one(MetricsPane).region
    lines = screen_text(app).splitlines()
    return "\n".join(line[region.x:region.right] for line in lines[region.y:region.bottom])


def on_screen(name: str, text: str) -> bool:
    """The series' own row, not a longer name that contains it (`load` in `backend_load`)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text) is not None


def test_the_fold_pins_the_expected_then_the_condition_series() -> None:
    state = fold(fixtures.wide_events())
    pinned, rest = state.series_order()
    names = [s.name for s in pinned]
    assert names[0] == "download.p99_ms"  # the step's expect line: "download p99 rises to ~1.6 s"
    assert set(names) == {"download.p99_ms", "front.success_rate", "backend_load"}
    assert "front.p99_ms" not in names  # "the front page stays fast" is another clause: not about front.p99_ms
    assert len(rest) == 9
    assert state.series["backend_load"].status == "near"  # 1.9 against `backend_load > 2`
    assert state.series["download.p99_ms"].status == "warn"  # 1601 against the steady `< 1000`


def test_an_unconditioned_series_that_is_breached_joins_the_pinned_ones() -> None:
    state = fold(fixtures.wide_events())
    apply(state, fixtures.ev("condition-breached", 31.0, condition="load > 0.2", value=0.4, held_s=2))
    pinned, _ = state.series_order()
    assert "load" in [s.name for s in pinned]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_the_expected_series_and_the_ones_near_a_threshold_are_on_screen(size: tuple[int, int]) -> None:
    app = facilitator_app(fixtures.wide_events())
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        text = metrics_text(app)
        for name in ("download.p99_ms", "front.success_rate", "backend_load"):
            assert on_screen(name, text), f"{name} hidden at {size}:\n{text}"
        shown = sum(1 for name in fixtures.WIDE_SERIES if on_screen(name, text))
        if shown < 12:
            assert f"{shown} of 12 series" in text and "▼" in text  # the count says what is hidden


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_zoom_shows_every_series(size: tuple[int, int]) -> None:
    app = facilitator_app(fixtures.wide_events())
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("z")
        await settle(pilot)
        text = metrics_text(app)
        missing = [name for name in fixtures.WIDE_SERIES if not on_screen(name, text)]
        assert not missing, f"zoomed at {size}, still hidden: {missing}\n{text}"
        assert "of 12 series" not in text  # nothing left to count


async def test_the_rest_scroll_by_keyboard_and_the_pinned_series_stay() -> None:
    app = facilitator_app(fixtures.wide_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = metrics_text(app)
        assert not on_screen("load", before)  # the last declared series is below
        for _ in range(12):
            await pilot.press("down")
        await settle(pilot)
        after = metrics_text(app)
        assert on_screen("load", after)
        assert "▲" in after and "above" in after
        for name in ("download.p99_ms", "front.success_rate", "backend_load"):
            assert on_screen(name, after)  # pinned and alerting rows do not scroll away
        for _ in range(12):
            await pilot.press("up")
        await settle(pilot)
        assert metrics_text(app) == before


async def test_more_alerting_series_than_rows_shows_the_breaching_ones_first() -> None:
    events = fixtures.wide_events()
    started = events[0]
    started.data["stop_when"] = [f"{name} > 1000000" for name in fixtures.WIDE_SERIES[:-1]] + ["backend_load > 1"]
    app = facilitator_app(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = metrics_text(app)
        assert "backend_load" in text and "✗" in text  # the one breaching series is shown, marked
        assert "of 12 series" in text


async def test_metrics_header_says_what_holds_now_with_its_time() -> None:
    """`steady state holds (before)` beside p99 573 against `needs < 500` was the old, stale header."""
    app = facilitator_app(fixtures.mid_step_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = metrics_text(app)
        assert "holds" not in text
        assert "steady state fails (T+02:05): p99_ms 573, needs < 500" in text
        app.receive(fixtures.ev("metric-sample", 126.0, values={"success_rate": 0.7, "p99_ms": 200.0,
                                                                "checkout.rps": 50.0, "orders_rows": 10400},
                                errors={}))
        await settle(pilot)
        text = metrics_text(app)
        assert "stop condition holds (T+02:06): success_rate 0.700, stop if < 0.95" in text
        app.receive(fixtures.ev("metric-sample", 127.0, values={"success_rate": 0.999, "p99_ms": 200.0,
                                                                "checkout.rps": 50.0, "orders_rows": 10400},
                                errors={}))
        await settle(pilot)
        assert "✓ steady state holds (T+02:07)" in metrics_text(app)


async def test_a_lost_source_leaves_no_row_behind_once_restored() -> None:
    """A source's failure is keyed by the source ("prometheus"): no series row, gone after telemetry-restored."""
    values = {"success_rate": 0.998, "p99_ms": 190.0, "checkout.rps": 50.0, "orders_rows": 10400}
    events = [*fixtures.mid_step_events(),
              fixtures.ev("metric-sample", 126.0, values={k: None for k in values},
                          errors={"prometheus": "cannot reach Prometheus at http://127.0.0.1:9090 (refused)"}),
              fixtures.ev("telemetry-lost", 126.1, source="prometheus", policy="pause",
                          detail="cannot reach Prometheus at http://127.0.0.1:9090 (refused)")]
    app = facilitator_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = metrics_text(app)
        assert "telemetry LOST: prometheus — cannot reach Prometheus" in text
        app.receive(fixtures.ev("telemetry-restored", 130.0, source="prometheus"))
        app.receive(fixtures.ev("metric-sample", 130.0, values=values, errors={}))
        await settle(pilot)
        text = metrics_text(app)
        assert "prometheus" not in text
        assert "prometheus" not in app.state.series
        assert "error" not in text and " ? " not in text
