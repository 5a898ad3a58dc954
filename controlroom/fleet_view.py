"""The room's view of a fleet: targets grouped by a label, counted per state, filtered; fault windows grouped.

Pure functions of a `RoomState` (no UI imports), so the live room, `watch` and replay, which fold the same
journal, show the same groups and counts. What the viewer chooses (a group key, a filter, a scroll position)
is passed in: it is no part of the journal.

The rule these functions keep: an unclean target (`UNCLEAN`: its revert was not confirmed, or it cannot be
reached) is never hidden by a filter, a grouping or a scroll position. It is returned in `pinned`, which a pane
draws before anything it may cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from controlroom.formats import natural_key as natural_key  # its first home: widgets import it from here
from controlroom.viewstate import FaultWindow, RoomState, TargetState, TargetView

# Every state a target can be in, worst first: the order of rows, of counts and of the pinned targets.
STATE_ORDER: tuple[TargetState, ...] = ("unconfirmed", "unreachable", "faulted", "reverting", "armed", "clean")
# A fault may still be on these targets, or nobody can tell: no view may hide them.
UNCLEAN: frozenset[str] = frozenset({"unconfirmed", "unreachable"})
NO_LABEL = "(none)"  # the group of targets that do not carry the chosen label key


def _rank(tv: TargetView) -> tuple[int, tuple[object, ...]]:
    try:
        worst = STATE_ORDER.index(tv.state)
    except ValueError:
        worst = len(STATE_ORDER)
    return worst, natural_key(tv.name)


def state_counts(targets: Iterable[TargetView]) -> dict[str, int]:
    """How many targets are in each state, in `STATE_ORDER`; states with none are left out."""
    counts = {s: 0 for s in STATE_ORDER}
    for tv in targets:
        counts[tv.state] = counts.get(tv.state, 0) + 1
    return {s: n for s, n in counts.items() if n}


def label_keys(state: RoomState) -> list[str]:
    """The label keys the targets carry (from `session-started`), in the order they first appear."""
    keys: dict[str, None] = {}
    for tv in state.targets.values():
        for key in tv.labels:
            keys.setdefault(key, None)
    return list(keys)


def matches(tv: TargetView, query: str) -> bool:
    """Whether a target matches a filter: every word of it (case-insensitive) is in the name, a label value,
    `key=value` or the state's word; a word with `=` matches a label exactly (`zone=eu-1`)."""
    for word in query.lower().split():
        if "=" in word:
            key, _, value = word.partition("=")
            if not any(k.lower() == key and v.lower() == value for k, v in tv.labels.items()):
                return False
            continue
        hay = [tv.name.lower(), tv.state, *(v.lower() for v in tv.labels.values()),
               *(f"{k}={v}".lower() for k, v in tv.labels.items())]
        if not any(word in h for h in hay):
            return False
    return True


@dataclass
class TargetGroup:
    """The targets sharing one value of the chosen label key, worst first."""

    value: str
    targets: list[TargetView] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return state_counts(self.targets)

    @property
    def worst(self) -> int:
        return min((_rank(t)[0] for t in self.targets), default=len(STATE_ORDER))


@dataclass
class FleetView:
    """What the blast-radius pane draws: the pinned (unclean) targets, then the others or their groups."""

    total: int  # targets in the session
    matched: int  # targets matching the filter
    counts: dict[str, int]  # per state, over every target (a filter never hides a count)
    pinned: list[TargetView]  # unclean targets: drawn first, whatever the filter, grouping or scroll
    rest: list[TargetView]  # the other targets matching the filter, worst first
    groups: list[TargetGroup]  # by the chosen label key (empty when not grouped); the pinned ones are in theirs too


def fleet_view(state: RoomState, *, group_by: str | None = None, query: str = "") -> FleetView:
    """The targets as the blast-radius pane shows them: unclean ones pinned, the rest filtered and ordered."""
    everyone = sorted(state.targets.values(), key=_rank)
    pinned = [t for t in everyone if t.state in UNCLEAN]
    chosen = [t for t in everyone if not query.strip() or matches(t, query)]
    rest = [t for t in chosen if t.state not in UNCLEAN]
    groups: list[TargetGroup] = []
    if group_by:
        by_value: dict[str, TargetGroup] = {}
        for tv in chosen:
            value = tv.labels.get(group_by, NO_LABEL)
            by_value.setdefault(value, TargetGroup(value)).targets.append(tv)
        # Worst group first, then by value: the group with an unclean target is at the top of the list.
        groups = sorted(by_value.values(), key=lambda g: (g.worst, g.value == NO_LABEL, natural_key(g.value)))
    return FleetView(total=len(everyone), matched=len(chosen), counts=state_counts(everyone), pinned=pinned, rest=rest,
                     groups=groups)


@dataclass
class FaultGroup:
    """One fault of one step on every target it was sent to: a single timeline row."""

    key: str  # `step/index`: what the targets' fault windows have in common
    type: str
    windows: list[FaultWindow] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return sorted({w.target for w in self.windows}, key=natural_key)

    @property
    def failed(self) -> int:
        return sum(1 for w in self.windows if w.failed)

    @property
    def open(self) -> int:
        return sum(1 for w in self.windows if w.end is None)


def fault_groups(state: RoomState) -> list[FaultGroup]:
    """The fault windows grouped by the fault of the step they come from, in the order they began."""
    groups: dict[str, FaultGroup] = {}
    for w in state.windows:
        key = w.group or w.fault
        groups.setdefault(key, FaultGroup(key, w.type)).windows.append(w)
    return list(groups.values())
