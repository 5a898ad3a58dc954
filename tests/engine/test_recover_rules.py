"""`recover` reverts every announced fault the journal does not show verified gone — a failed revert included."""

from __future__ import annotations

from typing import Any

from controlroom.engine.recover import unverified_faults
from controlroom.journal.events import Event


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
