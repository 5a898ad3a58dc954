"""The logs of a fleet step, headless and the room's: the injection and the revert as progress (headless: about
a line a second; the room: one running line), then one line naming every host once the last is in, a failure
on a line of its own and never counted done — not 200 lines per phase."""

from __future__ import annotations

import random

from controlroom.app.fixtures import ev
from controlroom.headless import FLEET_LINES, ProgressPrinter
from controlroom.journal.events import Event
from controlroom.viewstate import RoomState, apply


def step(n: int, *, failed: set[int] = frozenset(), unconfirmed: set[int] = frozenset()) -> list[Event]:  # type: ignore[assignment]
    """A step of `n` blackholes, injected one every 20 ms in a shuffled order, then a rollback of the same."""
    names = [f"h{i}" for i in range(1, n + 1)]
    faults = [{"fault": f"s/0@{h}", "target": h, "type": "blackhole", "summary": f"blackhole {h}"} for h in names]
    events = [ev("step-briefed", 0.0, step="s", index=0, title="zone dark", faults=faults)]
    order = names[:]
    random.Random(7).shuffle(order)
    t = 0.0
    for h in order:
        t += 0.02
        events.append(ev("fault-injecting", t, step="s", fault=f"s/0@{h}", fault_type="blackhole", target=h,
                         summary=f"blackhole {h}"))
        if int(h[1:]) in failed:
            events.append(ev("fault-failed", t, step="s", fault=f"s/0@{h}", target=h, error="nft: permission denied"))
        else:
            events.append(ev("fault-injected", t, step="s", fault=f"s/0@{h}", target=h))
    live = [h for h in names if int(h[1:]) not in failed]
    events.append(ev("rollback-started", t, reason="key", faults=[f"s/0@{h}" for h in live], targets=sorted(live)))
    for h in order:
        if h not in live:
            continue
        t += 0.02
        if int(h[1:]) in unconfirmed:
            events.append(ev("fault-revert-failed", t, fault=f"s/0@{h}", target=h, error="no answer within 5s"))
        else:
            events.append(ev("fault-reverted", t, fault=f"s/0@{h}", target=h, verified=True, warnings=[]))
    return events


def lines_of(events: list[Event]) -> list[str]:
    out: list[str] = []
    printer = ProgressPrinter(out.append, progress_every=1.0)
    for e in events:
        printer(e)
    return [line.split("  ", 1)[1] for line in out]


def test_a_fleet_step_prints_progress_not_a_line_per_host() -> None:
    lines = lines_of(step(200, failed={17}, unconfirmed={42}))
    injected = [line for line in lines if line.startswith("  injected")]
    assert injected[-1] == "  injected 199/200 (1 failed): h[1:16], h[18:200]"  # the last one in names them all
    assert 4 <= len(injected) <= 6  # about one a second over 4 s, not 199
    assert not any(line.startswith("  injecting") for line in lines)  # the step's own line said what goes in
    assert [line for line in lines if "FAILED" in line] == ["  FAILED to inject on h17: nft: permission denied"]
    assert "  rollback: reverting 199 fault(s) on h[1:16], h[18:200]" in lines
    reverted = [line for line in lines if line.startswith("  reverted")]
    assert 4 <= len(reverted) <= 6
    assert [line for line in lines if "NOT CONFIRMED" in line] == ["  NOT CONFIRMED on h42: no answer within 5s"]
    # The unconfirmed one is never counted clean: the last line names the 198 that are.
    assert reverted[-1] == "  reverted and verified clean 198/199 (1 NOT confirmed): h[1:16], h[18:41], h[43:200]"
    assert len(lines) < 25


def test_a_few_targets_keep_a_line_each() -> None:
    lines = lines_of(step(FLEET_LINES))
    assert sum(line.startswith("  injecting blackhole") for line in lines) == FLEET_LINES
    assert sum(line.startswith("  injected on h") for line in lines) == FLEET_LINES
    assert sum(line.startswith("  reverted on h") for line in lines) == FLEET_LINES
    assert f"  rollback: reverting {FLEET_LINES} fault(s) on h1, h10, h11" in " ".join(lines)


def room_log(events: list[Event]) -> list[str]:
    state = RoomState()
    for e in events:
        apply(state, e)
    return [entry.text for entry in state.log]


def test_the_rooms_log_keeps_one_running_line_per_fleet_phase() -> None:
    log = room_log(step(200, failed={17}, unconfirmed={42}))
    # One running line per phase, cut in two by the failure's own line (the shuffled order reaches h17 146th
    # and h42 3rd); the last names every host done, never the failed one.
    assert log == [
        "step 1 briefed: zone dark",
        "injected 145/200",
        "injection FAILED s/0@h17 on h17: nft: permission denied",
        "injected 199/200 (1 failed): h[1:16], h[18:200]",
        "⟲ rollback started (key): 199 target(s)",
        "reverted and verified clean 2/199",
        "revert FAILED s/0@h42 on h42: no answer within 5s",
        "reverted and verified clean 198/199 (1 NOT confirmed): h[1:16], h[18:41], h[43:200]",
    ]


def test_the_rooms_log_keeps_a_line_per_host_for_a_few() -> None:
    log = room_log(step(FLEET_LINES))
    assert sum(line.startswith("injected s/0@h") for line in log) == FLEET_LINES
    assert sum(line.startswith("reverted s/0@h") for line in log) == FLEET_LINES


def test_a_host_reconfirmed_after_a_fleet_rollback_gets_its_own_line_in_both_logs() -> None:
    events = step(200, failed={17}, unconfirmed={42})
    t = events[-1].mono
    events += [ev("fault-revert-failed", t + 5, fault="s/0@h42", target="h42", error="still no answer"),
               ev("fault-reverted", t + 10, fault="s/0@h42", target="h42", verified=True, warnings=[],
                  reconfirmed=True)]
    lines = lines_of(events)
    assert lines[-2:] == ["  NOT CONFIRMED on h42: still no answer", "  reverted on h42, verified clean"]
    log = room_log(events)
    assert log[-2:] == ["revert FAILED s/0@h42 on h42: still no answer", "reverted s/0@h42 on h42"]
    assert sum(line.startswith("reverted and verified clean") for line in log) == 2  # the count was not re-told
