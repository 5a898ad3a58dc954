"""The room at 200 targets: counts per state, grouping by label, a filter, scrolling — and an unclean target is
never hidden by any of them; the timeline draws one row per fault sent to many targets; the rollback pane names
the unconfirmed targets first."""

from __future__ import annotations

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, RecordingControls
from controlroom.app.filter_screen import FilterBar
from controlroom.fleet_view import fault_groups, fleet_view, label_keys, matches
from controlroom.viewstate import fold
from controlroom.widgets.blast_radius import BlastRadiusPane
from controlroom.widgets.rollback import RollbackPane
from controlroom.widgets.timeline import FaultTimeline
from tests.tui.conftest import screen_text

UNCLEAN = fixtures.FLEET_UNCONFIRMED
SIZES = [(80, 24), (160, 48)]


def fleet_app(stage: str = "rollback") -> ControlRoomApp:
    return ControlRoomApp(EventListFeed(fixtures.fleet_events(stage), mode="live", controls=RecordingControls()),
                          clock_tick=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()


def pane_text(app: ControlRoomApp, pane_type: type) -> str:
    """The lines of the screen inside a pane's region, borders included: what a participant reads there."""
    region = app.query_one(pane_type).region
    lines = screen_text(app).splitlines()
    return "\n".join(line[region.x:region.right] for line in lines[region.y:region.bottom])


def target_rows(text: str) -> list[str]:
    """The target names on the pane's target rows (`⟲ cache-02 reverting`)."""
    names = []
    for line in text.splitlines():
        parts = line.strip("│ ").split()
        if len(parts) >= 2 and parts[0] in "○◔●⟲✗⊘" and "-" in parts[1]:
            names.append(parts[1])
    return names


def row_with(start: str, text: str) -> str:
    return next(line.strip("│ ") for line in text.splitlines() if line.strip("│ ").startswith(start))


# ---- the fold and the fleet view (no UI) --------------------------------------------------------------------------

def test_the_fold_keeps_each_targets_labels_and_groups_one_fault_sent_to_many_targets() -> None:
    state = fold(fixtures.fleet_events("injected"))
    assert len(state.targets) == 200
    assert state.targets["web-47"].labels == {"service": "web", "zone": "eu-2"}
    assert label_keys(state) == ["service", "zone"]
    groups = fault_groups(state)
    assert [(g.key, len(g.targets)) for g in groups] == [("zone-dark/0", 67)]


def test_a_fault_group_is_step_and_index_or_for_an_older_journal_the_fault_id_without_its_target() -> None:
    from controlroom.viewstate import fault_group

    assert fault_group({"step": "cut", "fault": "cut/1@db-1", "target": "db-1", "index": 1}) == "cut/1"
    assert fault_group({"step": "cut", "fault": "cut/1@db-1", "target": "db-1"}) == "cut/1"  # no index
    assert fault_group({"step": "slow-db", "fault": "slow-db/0", "target": "db-1"}) == "slow-db/0"
    # A target whose name has an "@" in it: only the "@target" suffix goes.
    assert fault_group({"step": "s", "fault": "s/0@a@b", "target": "a@b"}) == "s/0"


def test_targets_sort_worst_first_then_by_the_numbers_in_their_names() -> None:
    state = fold(fixtures.fleet_events("injected"))
    rest = [t.name for t in fleet_view(state).rest]
    assert rest[:3] == ["api-02", "api-05", "api-08"] and rest.index("api-11") < rest.index("cache-02")
    assert all(state.targets[n].state == "faulted" for n in rest[:67])


def test_counts_per_state_cover_every_target_and_unclean_ones_are_pinned_whatever_the_filter() -> None:
    state = fold(fixtures.fleet_events("rollback"))
    view = fleet_view(state, query="service=db")
    assert sum(view.counts.values()) == 200
    assert view.counts["unconfirmed"] == 2 and next(iter(view.counts)) == "unconfirmed"  # worst first
    assert sorted(t.name for t in view.pinned) == sorted(UNCLEAN)  # neither is a db host
    assert view.matched == 20 and all(t.labels["service"] == "db" for t in view.rest)
    grouped = fleet_view(state, group_by="zone")
    assert grouped.groups[0].value == "eu-2"  # the group with the unclean targets comes first
    assert sum(len(g.targets) for g in grouped.groups) == 200


def test_a_filter_matches_name_label_value_key_value_and_state() -> None:
    tv = fold(fixtures.fleet_events("rollback")).targets["web-47"]
    for query in ("web-47", "WEB", "eu-2", "zone=eu-2", "unconfirmed", "web zone=eu-2"):
        assert matches(tv, query), query
    for query in ("zone=eu", "db", "web zone=us-1"):
        assert not matches(tv, query), query


# ---- the pane ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
async def test_an_unclean_target_among_200_is_on_screen_without_scrolling(size: tuple[int, int]) -> None:
    app = fleet_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        blast = pane_text(app, BlastRadiusPane)
        for name in UNCLEAN:
            assert f"✗ {name}" in blast and "UNCONFIRMED" in blast, blast
        assert "200: ✗2" in blast or "200: ✗ 2" in blast  # the counts name them too
        # ... and neither grouping, nor a filter that excludes them, nor scrolling to the end hides them.
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"cache")
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(40):
            await pilot.press("J")
        await settle(pilot)
        blast = pane_text(app, BlastRadiusPane)
        assert all(f"✗ {name}" in blast for name in UNCLEAN), blast


async def test_the_rollback_pane_names_the_unconfirmed_targets_of_a_fleet_first() -> None:
    app = fleet_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rollback = pane_text(app, RollbackPane)
        for name in UNCLEAN:
            assert f"✗ {name}" in rollback, rollback
        assert "22 targets reverting" in rollback and "43 targets clean" in rollback


async def test_grouping_cycles_through_the_label_keys_with_counts_per_state() -> None:
    app = fleet_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane = app.query_one(BlastRadiusPane)
        await pilot.press("l")
        await settle(pilot)
        assert pane.group_by == "service" and "by service" in str(pane.border_title)
        blast = pane_text(app, BlastRadiusPane)
        # 80 api hosts: one unconfirmed (api-71), 79 clean; the group with an unclean target is listed first.
        assert row_with("▸ service=api", blast).split()[-3:] == ["80", "✗1", "○79"], blast
        assert blast.index("service=api") < blast.index("service=cache")
        await pilot.press("l")
        await settle(pilot)
        blast = pane_text(app, BlastRadiusPane)
        assert row_with("▸ zone=eu-2", blast).split()[-4:] == ["67", "✗2", "⟲22", "○43"], blast
        assert "zone=eu-1" in blast and "zone=us-1" in blast
        await pilot.press("l")
        await settle(pilot)
        assert pane.group_by is None and "▸" not in pane_text(app, BlastRadiusPane)


async def test_rows_to_spare_under_the_groups_show_the_worst_groups_targets() -> None:
    app = fleet_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.query_one(BlastRadiusPane).set_query("db")
        await pilot.press("l", "l")  # by zone
        await settle(pilot)
        lines = [line.strip("│ ") for line in pane_text(app, BlastRadiusPane).splitlines()]
        at = next(i for i, line in enumerate(lines) if line.startswith("▸ zone=eu-2"))
        members = []
        for line in lines[at + 1:]:
            if not line.startswith(("⟲", "○", "●")):
                break
            members.append(line.split()[1])
        assert members and all(m.startswith("db-") for m in members), lines  # eu-2's db hosts, under their group
        assert len(members) == 7


async def test_the_filter_follows_what_is_typed_enter_keeps_it_and_esc_clears_it() -> None:
    app = fleet_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane = app.query_one(BlastRadiusPane)
        await pilot.press("slash")
        await settle(pilot)
        assert app.query_one(FilterBar).is_open and app.screen is app.default_screen  # the room stays in view
        await pilot.press(*"db")
        await settle(pilot)
        assert pane.filter_text == "db"  # live, before Enter
        assert "20 of 200 match" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert not app.query_one(FilterBar).is_open
        rows = target_rows(pane_text(app, BlastRadiusPane))
        assert set(rows) - set(UNCLEAN) and all(r.startswith("db-") for r in rows if r not in UNCLEAN), rows
        assert "/db (20 of 200)" in str(pane.border_title)
        await pilot.press("slash")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert pane.filter_text == "" and "/" not in str(pane.border_title)
        assert any(r.startswith("api-") for r in target_rows(pane_text(app, BlastRadiusPane)))


async def test_a_page_down_scrolls_the_targets_under_the_pinned_ones_and_up_comes_back() -> None:
    app = fleet_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        first = [r for r in target_rows(pane_text(app, BlastRadiusPane)) if r not in UNCLEAN]
        assert first
        await pilot.press("J")
        await settle(pilot)
        second = [r for r in target_rows(pane_text(app, BlastRadiusPane)) if r not in UNCLEAN]
        # A page on: the last row stays, as the first of the next page, so the reader keeps their place.
        assert second[0] == first[-1] and not set(second[1:]) & set(first), (first, second)
        assert "▲" in pane_text(app, BlastRadiusPane)  # says there are rows above
        await pilot.press("K")
        await settle(pilot)
        assert [r for r in target_rows(pane_text(app, BlastRadiusPane)) if r not in UNCLEAN] == first


async def test_the_timeline_draws_one_row_per_fault_on_many_targets_and_expands_on_request() -> None:
    app = fleet_app("injected")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        timeline = pane_text(app, FaultTimeline)
        assert "zone-dark/0 ×67" in timeline
        assert "no fault ×133" in timeline
        assert "web-47" not in timeline  # no lane per target ...
        await pilot.press("x")
        await settle(pilot)
        timeline = pane_text(app, FaultTimeline)
        assert "zone-dark/0 ×67" in timeline and "  api-02" in timeline  # ... until expanded
        assert "more lanes" in timeline  # 67 lanes do not fit: counted in the border


async def test_the_step_card_says_a_fault_on_a_fleet_in_one_line() -> None:
    from controlroom.widgets.step_card import StepCard

    app = fleet_app("injected")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        card = pane_text(app, StepCard)
        assert "partition on 67 targets (api-02, api-05, api-08, …) — drop eu-1, us-1" in card, card
        assert card.count("partition on") == 1


async def test_quitting_with_a_fleet_faulted_asks_with_a_count_not_a_screenful_of_names() -> None:
    from textual.widgets import Static

    from controlroom.app.modals import QuitScreen

    app = fleet_app("injected")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, QuitScreen)
        said = str(app.screen.query_one(Static).render())
        assert "on 67 targets: api-02, api-05" in said and "… 61 more." in said, said
        assert "web-47" not in said
        assert "[y] revert and quit" in screen_text(app)  # the answer keys stay on screen at 80x24


async def test_a_watcher_groups_filters_and_scrolls_too() -> None:
    """The keys are the viewer's, not the facilitator's: a read-only room has them (each room its own)."""
    app = ControlRoomApp(EventListFeed(fixtures.fleet_events("rollback"), mode="watch"), clock_tick=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.query_one(BlastRadiusPane)
        await pilot.press("l")
        await pilot.press("J")
        await settle(pilot)
        assert pane.group_by == "service"
        blast = pane_text(app, BlastRadiusPane)
        assert "▸ service=" in blast and all(f"✗ {name}" in blast for name in UNCLEAN), blast


# ---- snapshots: 200 targets at 80x24 and 160x48 (`--snapshot-update` after an intended change) -------------------

async def _grouped(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)


FLEET_CASES = {"fleet-rollback": settle, "fleet-grouped": _grouped}


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
@pytest.mark.parametrize("case", list(FLEET_CASES))
def test_fleet_snapshot(snap_compare, case: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fleet_app(), terminal_size=size, run_before=FLEET_CASES[case])


async def test_the_filter_bar_keeps_the_room_in_view_and_its_keys_are_text_but_f12_stops() -> None:
    app = fleet_app("injected")
    controls = app.controls
    assert isinstance(controls, RecordingControls)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane = app.query_one(BlastRadiusPane)
        await pilot.press("l")  # before the bar was ever opened, the room's keys reach the room
        await settle(pilot)
        assert pane.group_by is not None
        await pilot.press("l", "l")  # back to no grouping (service, zone, none)
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert "Blast radius" in screen_text(app)  # the room stays in view under the bar
        await pilot.press("exclamation_mark", "l", "c")  # typed into the bar: no stop, no grouping, no decision
        await settle(pilot)
        assert pane.filter_text == "!lc" and controls.calls == [] and pane.group_by is None
        await pilot.press("f12")
        await settle(pilot)
        assert controls.calls == [("emergency_stop", None)]
        await pilot.press("escape")
        await settle(pilot)
        assert not app.query_one(FilterBar).is_open and pane.filter_text == ""
        await pilot.press("l")  # closed, the bar no longer takes the room's keys
        await settle(pilot)
        assert pane.group_by is not None
