"""`recover` reverts every announced fault the journal does not show verified gone — a failed revert included."""

from __future__ import annotations

from typing import Any

import pytest

from controlroom.engine.recover import left_active, unverified_faults
from controlroom.errors import JournalError
from controlroom.journal.events import Event
from controlroom.scenario.model import FaultSpec, Scenario, Step
from tests.engine.conftest import make_scenario


def _e(type_: str, **data: Any) -> Event:
    return Event(type=type_, t="2026-01-01T00:00:00.000+00:00", mono=0.0, data=data)


def test_only_a_verified_revert_takes_a_fault_off_recovers_list() -> None:
    events = [
        _e("fault-injecting", fault="s/0@a", target="a"), _e("fault-reverted", fault="s/0@a", target="a", verified=True),
        _e("fault-injecting", fault="s/0@b", target="b"),
        _e("fault-revert-failed", fault="s/0@b", target="b", error="could not confirm the fault is gone"),
        _e("fault-injecting", fault="s/0@c", target="c"),  # the room died before any revert
        _e("fault-injecting", fault="s/1@a", target="a"), _e("fault-inject-stopped", fault="s/1@a", target="a", how="killed"),
    ]
    assert sorted(unverified_faults(events)) == ["s/0@b", "s/0@c", "s/1@a"]


# ---- rebuilding a fault from its announcement -----------------------------------------------------------------------


def _two_fault_scenario() -> Scenario:
    step = Step(id="flip", title="two", duration=4.0, faults=(FaultSpec(type="flag", target="t1"),
                                                              FaultSpec(type="flag", target="t2")))
    return make_scenario(step, targets=("t1", "t2"), max_targets=2)


def test_recover_rebuilds_a_fault_from_the_announced_step_index_and_target() -> None:
    scenario = _two_fault_scenario()
    events = [_e("fault-injecting", step="flip", fault="flip/1@t2", target="t2", index=1)]
    [plan] = left_active(scenario, events)
    assert (plan.fault_id, plan.target, plan.index) == ("flip/1@t2", "t2", 1)


def test_an_announcement_whose_fields_contradict_its_id_is_refused_not_guessed() -> None:
    """A journal edited by hand (or damaged) that says index 0 for `flip/1@t2`: recover will not pick one."""
    events = [_e("fault-injecting", step="flip", fault="flip/1@t2", target="t2", index=0)]
    with pytest.raises(JournalError, match="does not match its scenario"):
        left_active(_two_fault_scenario(), events)


def test_a_journal_written_before_the_index_field_is_still_recovered_from_the_id() -> None:
    events = [_e("fault-injecting", step="flip", fault="flip/1@t2", target="t2")]
    [plan] = left_active(_two_fault_scenario(), events)
    assert plan.fault_id == "flip/1@t2"
