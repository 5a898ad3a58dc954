"""The fold of journal events into what the panes show: the one piece live, watch and replay share."""

from __future__ import annotations

from controlroom.app import fixtures
from controlroom.viewstate import SPARK_POINTS, RoomState, apply, fold, format_clock, tick


def test_gate_is_pending_after_step_armed_and_targets_are_armed() -> None:
    state = fold(fixtures.gate_events())
    assert state.active_gate()
    assert state.step is not None and state.step.id == "slow-db"
    assert state.targets["db-1"].state == "armed"
    assert state.targets["api-2"].state == "clean"
    assert state.countdown is None  # nothing injected yet: the countdown has not started


def test_mid_step_countdown_and_time_left_come_from_event_time() -> None:
    state = fold(fixtures.mid_step_events(until=125.0))
    assert state.clock == "T+02:05"
    assert state.targets["db-1"].state == "faulted"
    assert sorted(state.faulted_targets) == ["api-1", "db-1"]
    # injected at 62.3, duration 180 s, now 125 -> 117.3 s left
    assert state.countdown is not None and abs(state.countdown - 117.3) < 1e-6
    # oldest fault started at 62.1, max_duration 300 s
    assert state.time_left is not None and abs(state.time_left - 237.1) < 1e-6
    assert [m.kind for m in state.markers] == ["note"]


def test_thresholds_colour_series_from_stop_and_steady_conditions() -> None:
    state = fold(fixtures.mid_step_events())
    assert state.series["p99_ms"].status == "warn"  # above the steady 500 ms, below the 5000 ms stop
    assert state.series["checkout.rps"].status == "ok"
    apply(state, fixtures.ev("metric-sample", 200.0, values={"success_rate": 0.5}, errors={}))
    assert state.series["success_rate"].status == "breach"


def test_emergency_stop_shows_progress_then_names_the_unconfirmed_targets() -> None:
    state = fold(fixtures.estop_events(finished=False))
    assert state.rollback is not None
    assert state.rollback.targets == {"db-1": "clean", "api-1": "pending"}
    assert state.rollback.verdict == "reverting… 1/2 targets confirmed"
    assert state.targets["api-1"].state == "reverting"
    done = fold(fixtures.estop_events(finished=True))
    assert done.rollback is not None and done.rollback.verdict == "1 unconfirmed: api-1"
    assert done.targets["api-1"].state == "unconfirmed"
    assert done.targets["db-1"].state == "clean"
    assert done.ended and done.outcome == "aborted"


def test_clean_rollback_says_all_clean() -> None:
    events = [*fixtures.estop_events(finished=False), fixtures.ev("fault-reverted", 128.0, fault="slow-db/1", target="api-1", verified=True), fixtures.ev("rollback-finished", 128.1, clean=True, unconfirmed=[])]
    state = fold(events)
    assert state.rollback is not None and state.rollback.verdict == "all clean"
    assert state.faulted_targets == []
    assert all(w.end is not None for w in state.windows)


def test_an_unverified_revert_leaves_the_target_unconfirmed() -> None:
    events = [*fixtures.mid_step_events(),
              fixtures.ev("fault-reverted", 130.0, fault="slow-db/0", target="db-1", verified=False)]
    assert fold(events).targets["db-1"].state == "unconfirmed"


def test_unreachable_target_from_preflight() -> None:
    events = [fixtures.session_started(),
              fixtures.ev("preflight-check", 1.0, check="reachable", target="db-1", ok=False, detail="timed out")]
    state = fold(events)
    assert state.targets["db-1"].state == "unreachable"
    assert state.preflight[("reachable", "db-1")].ok is False


def test_sparkline_buffers_stay_bounded_over_an_hour() -> None:
    state = RoomState()
    apply(state, fixtures.session_started())
    for i in range(3600 * 4):
        apply(state, fixtures.ev("metric-sample", i / 4, values={"p99_ms": float(i)}, errors={}))
    assert len(state.series["p99_ms"].values) == SPARK_POINTS
    assert state.series["p99_ms"].current == float(3600 * 4 - 1)
    assert len(state.log) <= 500


def test_breach_marks_the_series_and_the_timeline() -> None:
    events = [*fixtures.mid_step_events(),
              fixtures.ev("condition-breached", 126.0, condition="p99_ms > 5000", value=6000, held_s=5)]
    state = fold(events)
    assert state.series["p99_ms"].breached
    assert [m.glyph for m in state.markers] == ["✎", "⚠"]


def test_clock_format_goes_past_an_hour() -> None:
    assert format_clock(65.9) == "T+01:05"
    assert format_clock(3725) == "T+1:02:05"


def test_fixture_events_survive_a_journal_round_trip() -> None:
    import json

    from controlroom.journal.schema import event_from_doc

    for event in fixtures.estop_events(finished=True):
        assert event_from_doc(json.loads(event.to_json())) == event


def checklist_gate_events() -> list:  # type: ignore[type-arg]
    ev = fixtures.ev
    return [*fixtures.preflight_events(), ev("state-changed", 7.0, state="awaiting-confirmation")]


def test_awaiting_confirmation_before_any_step_is_the_checklist_gate() -> None:
    state = fold(checklist_gate_events())
    assert state.checklist_pending() and not state.active_gate()
    assert not state.checklist_done  # the fixture ticks one item of three
    apply(state, fixtures.ev("step-confirmed", 9.0, step=None, gate="checklist", decision="confirm", by="facilitator"))
    assert not state.checklist_pending() and state.checklist_decision == "confirm"
    assert state.step is None and "checklist: confirm by facilitator" in state.log[-1].line
    # A later step's gate is a step gate, never the checklist again.
    for e in fixtures.gate_events():
        if e.type in ("step-briefed", "state-changed", "step-armed"):
            apply(state, e)
    assert state.active_gate() and not state.checklist_pending()


async def test_watchers_see_the_checklist_waiting_for_the_facilitator() -> None:
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import EventListFeed
    from tests.tui.conftest import screen_text

    app = ControlRoomApp(EventListFeed(checklist_gate_events(), mode="watch"), clock_tick=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await pilot.pause()
        text = screen_text(app)
        assert "waiting for the facilitator to confirm the checklist" in text and "START?" not in text


def test_a_step_without_a_gate_keeps_its_brief_on_the_card_for_a_few_seconds() -> None:
    """`confirm: false` steps are replaced within the same second: their brief is held, and logged in full."""
    from controlroom.viewstate import BRIEF_HOLD

    events = [e for e in fixtures.wide_events() if e.mono < 5.35]  # baseline briefed and done, slow-link briefed
    state = fold(events)
    assert state.step is not None and state.step.id == "slow-link"
    held = state.held_brief
    assert held is not None and held.id == "baseline" and held.brief.startswith("Both the front page")
    assert any("step 1 briefed: Confirm steady state — Both the front page and the 200 kB download are fast." in entry.line
               for entry in state.log)
    state.now = 5.1 + BRIEF_HOLD + 0.1
    assert state.held_brief is None
    gated = fold(fixtures.ended_events())  # cut-db follows slow-db, which had a gate: nothing is held
    assert gated.passed is None


async def test_the_held_brief_is_on_the_step_card_at_80x24() -> None:
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import EventListFeed, RecordingControls
    from tests.tui.conftest import screen_text

    events = [e for e in fixtures.wide_events() if e.mono < 5.45]
    app = ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls()), clock_tick=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await pilot.pause()
        text = screen_text(app)
        assert "✔ Confirm steady state: Both the front pa" in text and "INJECT?" in text and "Faults" in text


def test_the_blast_radius_pane_labels_the_fault_time_limit() -> None:
    from controlroom.viewstate import RoomState
    from controlroom.widgets.blast_radius import BlastRadiusPane

    text = BlastRadiusPane().render_state(RoomState(max_targets=1, max_duration=60.0), 60, 5).plain
    assert "max fault time 1:00" in text


def test_the_stop_banner_says_emergency_stop_only_for_a_person_and_automatic_rollback_for_the_rules() -> None:
    from controlroom.app import fixtures
    from controlroom.viewstate import RoomState, apply

    def banner(**stop: object) -> str:
        state = RoomState()
        apply(state, fixtures.ev("emergency-stop", 1.0, **stop))
        return state.stop_banner

    assert banner(source="key", reason="key", by="Ada") == "EMERGENCY STOP"
    assert banner(source="control", reason="controlroom stop") == "EMERGENCY STOP"
    assert banner(source="signal", reason="SIGTERM received") == "EMERGENCY STOP"
    assert banner(source="stop-condition", reason="stop condition shop.success_rate < 0.8") == \
        "AUTOMATIC ROLLBACK (stop condition shop.success_rate < 0.8)"
    assert banner(source="telemetry", reason="lost telemetry from prober") == "AUTOMATIC ROLLBACK (lost telemetry)"
    state = RoomState()
    apply(state, fixtures.ev("emergency-stop", 1.0, source="key", reason="key", by="Ada"))
    assert state.log[-1].line.endswith("EMERGENCY STOP by Ada: key") and state.log[-1].level == "error"


def test_the_fault_time_limit_keeps_its_value_in_a_narrow_pane() -> None:
    from controlroom.viewstate import RoomState
    from controlroom.widgets.blast_radius import BlastRadiusPane

    text = BlastRadiusPane().render_state(RoomState(max_targets=2, max_duration=300.0), 28, 5).plain
    assert "≤5:00/fault" in text.splitlines()[0]


def test_the_end_summary_says_unobserved_recovery_after_the_stop_and_the_judged_statements() -> None:
    from controlroom.summary import end_summary
    from controlroom.viewstate import RoomState, apply

    state = RoomState()
    for type_, mono, data in [
        ("session-started", 0.0, {"session": "s1", "scenario": "x", "statements": ["nobody was paged", "runbook ok"]}),
        ("emergency-stop", 1.0, {"source": "key", "reason": "key", "by": "Ada"}),
        ("recovery-measured", 2.0, {"step": "slow", "seconds": 1.5, "held": True, "after_stop": True}),
        ("criterion-judged", 3.0, {"criterion": "nobody was paged", "met": False, "by": "Ada"}),
        ("session-ended", 3.1, {"outcome": "unobserved", "exit_code": 0}),
    ]:
        apply(state, fixtures.ev(type_, mono, **data))
    rows = dict(end_summary(state))
    assert rows["Verdict"].startswith("no verdict: the scenario says it is unobserved")
    assert rows["Recovery"] == "slow after the stop: 1.5 s"
    assert rows["Judged"] == "nobody was paged: NOT met (Ada); runbook ok: not judged"


def test_a_log_line_matters_by_its_event_not_by_its_words() -> None:
    """A note that says "nothing FAILED" is a note; a failed injection is an error whatever its text says."""
    state = RoomState()
    apply(state, fixtures.ev("note", 1.0, text="checked the dashboards: nothing FAILED, no BREACH", author="Ada"))
    apply(state, fixtures.ev("fault-failed", 2.0, fault="latency", target="db-1", error="tc: ok"))
    apply(state, fixtures.ev("warning", 3.0, message="metrics slow"))
    apply(state, fixtures.ev("rollback-started", 4.0, reason="stop", faults=[]))
    note, failed, warning, rollback = state.log
    assert (note.level, failed.level, warning.level, rollback.level) == ("note", "error", "warning", "rollback")
    assert note.line == "T+00:01  ✎ Ada: checked the dashboards: nothing FAILED, no BREACH"


def test_the_clock_between_events_only_runs_forward_and_stops_at_the_end() -> None:
    state = fold(fixtures.mid_step_events(until=125.0))
    assert tick(state, 130.0) and state.clock == "T+02:10"
    assert not tick(state, 128.0) and state.clock == "T+02:10"
    state = fold(fixtures.ended_events())
    now = state.now
    assert not tick(state, now + 60) and state.now == now
