"""Every text a pane cuts can be read in full: wrapped when zoomed or with rows to spare, or in the details (d)."""

from __future__ import annotations

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls
from controlroom.app.modals import DetailScreen
from tests.tui.conftest import screen_text

LONG_BRIEF = ("Payments DB answers 300 ms slower; API-1 is squeezed to 1 mbit. Watch the checkout pane and the p99 "
              "line; the on-call for payments narrates what the DB sees, and the support lead says when customers "
              "would notice it.")
LOST = "cannot reach Prometheus at http://127.0.0.1:9090 (connection refused); check observe.prometheus.url"


def facilitator_app(events: list) -> ControlRoomApp:  # type: ignore[type-arg]
    return ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls()), clock_tick=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").replace("┃", " ").split())


def long_brief_gate() -> list:  # type: ignore[type-arg]
    events = [e for e in fixtures.gate_events() if not (e.type == "step-briefed" and e.get("step") == "slow-db")]
    events.append(fixtures.ev("step-briefed", 59.0, step="slow-db", index=1, title=fixtures.STEPS[1]["title"],
                              brief=LONG_BRIEF, expect="p99 rises but stays under 800 ms; no errors", duration=180.0,
                              faults=fixtures.SLOW_DB_FAULTS))
    return sorted(events, key=lambda e: e.mono)


async def test_a_long_brief_does_not_push_the_faults_off_the_step_card_at_80x24() -> None:
    app = facilitator_app(long_brief_gate())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "INJECT?" in text
        assert "Faults latency on db-1, bandwidth on api-1" in text
        assert "Payments DB answers 300 ms slower" in text and "…" in text  # cut, and it says so
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert "would notice it." in flat(screen_text(app))  # the whole brief, in the details


async def test_zoomed_metrics_and_log_wrap_a_lost_sources_reason_in_full() -> None:
    events = [*fixtures.mid_step_events(),
              fixtures.ev("telemetry-lost", 126.0, source="prometheus", policy="pause", detail=LOST)]
    app = facilitator_app(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert LOST not in flat(screen_text(app))  # unzoomed, the row is cut
        await pilot.press("z")
        await settle(pilot)
        assert LOST in flat(screen_text(app))
        await pilot.press("z", "z", "z")  # the log
        await settle(pilot)
        assert f"telemetry LOST from prometheus (pause): {LOST}" in flat(screen_text(app))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_preflight_checks_that_differ_at_the_end_of_their_name_read_differently(size: tuple[int, int]) -> None:
    events = [*fixtures.preflight_events(until=3.0),
              fixtures.ev("preflight-check", 4.5, check="nothing to clobber (http-latency)", target="shop", ok=True,
                          detail="no fault installed"),
              fixtures.ev("preflight-check", 4.6, check="nothing to clobber (http-errors)", target="shop", ok=True,
                          detail="no fault installed")]
    app = facilitator_app(sorted(events, key=lambda e: e.mono))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "nothing to clobber (http-latency)" in text and "nothing to clobber (http-errors)" in text


async def test_blast_radius_wraps_a_long_fault_text_when_rows_allow() -> None:
    app = facilitator_app(fixtures.wide_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        from controlroom.widgets.blast_radius import BlastRadiusPane

        region = app.query_one(BlastRadiusPane).region
        rows = screen_text(app).splitlines()[region.y:region.bottom]
        pane = flat(" ".join(row[region.x:region.right] for row in rows))
        assert "bandwidth: rate 1mbit burst 32k latency 400ms on eth0 (ssh exempt)" in pane
